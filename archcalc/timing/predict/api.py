"""The public face of latency prediction: ``archcalc.predict``, ``archcalc.targets``,
``archcalc.load_target`` and ``archcalc.calibrate``, and the helpers every command's
``--target`` predicts through (``predict_sizes``, ``predicted_timer``, ``annotate_rows``).

A target (``DeviceProfile``) is one device at one dtype; every parameter that holds one is
named ``target``. dtypes are torch's names everywhere: ``float32``, ``float16`` and
``bfloat16`` (half precisions under autocast, as ``archcalc.bench`` runs them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from archcalc.timing.predict.model import DeviceProfile, Prediction, predict_features

__all__ = [
    "annotate_rows",
    "calibrate",
    "predict",
    "predict_sizes",
    "predicted_timer",
    "targets",
]


def targets() -> dict[str, DeviceProfile]:
    """Every target ``predict`` and ``--target`` accept, by name: the shipped ones (fitted on
    timm's published benchmark tables) and those ``archcalc calibrate`` saved (a saved one
    shadows a shipped one of the same name).

    Example:
        >>> sorted(archcalc.targets())[:2]
        ['i7-12700h', 'rtx3090']
    """
    from archcalc.timing.predict.targets import known_targets

    return {name: target for name, (_, target) in known_targets().items()}


def calibrate(
    table: str | Path,
    *,
    name: str,
    kind: str | None = None,
    dtype: str | None = None,
    compiled: bool | None = None,
    layout: str | None = None,
    torch_version: str | None = None,
    reparameterize: bool = False,
    prior: DeviceProfile | None = None,
) -> DeviceProfile:
    """Fit a device profile (a target) to a measured table.

    Args:
        table: a timm ``benchmark.py`` CSV (``model``, ``infer_img_size``,
            ``infer_batch_size``, ``infer_samples_per_sec``) or ``archcalc bench --format
            json`` output.
        name: the target's name.
        kind: ``gpu`` or ``cpu`` (default: guessed from the file name, ``guess_settings``).
        dtype: ``float32``, ``float16`` or ``bfloat16`` (default: guessed from the file name;
            timm's ``amp`` is float16).
        compiled, layout, torch_version: how the table was measured: ``torch.compile`` or
            eager, ``nchw`` or ``channels_last``, the torch version (default: guessed from
            timm's file name, ``-dynamo``, ``nhwc``, ``pt291``; else eager, nchw, unknown).
        reparameterize: the table was measured on deploy forms (RepVGG, MobileOne, FastViT...).
        prior: what the fit starts from (default: the shipped target that matches kind,
            dtype, compilation and layout best).

    Returns:
        The fitted ``DeviceProfile`` (its ``error`` is in-sample, labelled so); use it as
        ``target`` anywhere, or save it with ``archcalc calibrate`` on the command line.

    Raises:
        InvalidArgumentError: an unreadable table, missing columns, or fewer than ``MIN_ROWS``
            usable rows.

    Example:
        >>> t = archcalc.calibrate("l4.csv", name="my-l4")  # doctest: +SKIP
        >>> archcalc.predict("resnet50", 224, target=t, batch_size=64).latency_ms  # doctest: +SKIP
    """
    from archcalc.timing.predict.calibrate import calibrate as fit_rows
    from archcalc.timing.predict.calibrate import default_source, guess_settings
    from archcalc.timing.predict.tables import read_table

    path = Path(table)
    rows, _ = read_table(path, need_throughput=True)
    settings = guess_settings(
        path, kind, dtype, compiled=compiled, layout=layout, torch_version=torch_version
    )
    options = {"reparameterize": reparameterize, "prior": prior, "source": default_source(path)}
    return fit_rows(name, rows, **settings, **options)[0]


def predict(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int] = 224,
    *,
    target: DeviceProfile | str | Path,
    batch_size: int = 1,
    reparameterize: bool = False,
    in_chans: int = 3,
    output_stride: int | None = None,
    top: int = 5,
) -> Prediction:
    """Predict the latency and throughput of ``model`` at ``resolution`` on ``target``: what
    every command's ``--target`` prints, and a prediction, never a measurement.

    Args:
        model: a timm name or an ``nn.Module``.
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        target: a ``DeviceProfile``, a target's name (``archcalc.targets()``) or a target file.
        batch_size: images per forward the prediction is for (> 0).
        reparameterize: predict the deploy form (timm's ``reparameterize_model``: RepVGG,
            MobileOne, FastViT...; False: the model as built, as everywhere in archcalc).
        in_chans, output_stride: as for ``archcalc.profile``.
        top: how many of the most expensive ops ``top_ops`` lists.

    Returns:
        A ``Prediction``: latency of one batch (ms), samples/s, bound shares, top ops and the
        target's error band.

    Raises:
        InvalidArgumentError: ``batch_size`` is not positive, or an unknown target.
        ArchcalcError: the model is unknown or does not run at ``resolution``.

    Example:
        >>> p = archcalc.predict("resnet50", 224, target="rtx4090", batch_size=64)
        >>> p.samples_per_sec > 0
        True
    """
    from archcalc.checks import check_positive
    from archcalc.core.geometry import parse_resolution
    from archcalc.timing.predict.features import op_features
    from archcalc.timing.predict.targets import load_target

    check_positive("batch_size", batch_size)
    profile = target if isinstance(target, DeviceProfile) else load_target(str(target))
    features = op_features(
        model,
        resolution,
        dtype=profile.dtype,
        reparameterize=reparameterize,
        in_chans=in_chans,
        output_stride=output_stride,
    )
    assert features is not None  # trace=True always gives features
    size = parse_resolution(resolution)
    return predict_features(profile, features, batch_size, top=top, size=size)


def predicted_timer(target: DeviceProfile, batch_size: int = 1) -> Any:
    """A ``recommend.auto`` timer that predicts instead of measuring: an option's predicted
    latency (seconds per batch of ``batch_size``) on ``target``, for the very form of the
    model its profile describes (size, channels, output stride, reparameterized or not)."""
    from archcalc.checks import check_positive

    check_positive("batch_size", batch_size)

    def timer(option: Any, _where: str, _budget_s: float | None = None) -> float:
        p = option.profile
        prediction = predict(
            p.model,
            p.resolution,
            target=target,
            batch_size=batch_size,
            reparameterize=p.reparameterized,
            in_chans=p.channels,
            output_stride=p.output_stride,
        )
        return prediction.latency_ms / 1e3

    return timer


def predict_sizes(
    model: Any, sizes: Any, target: DeviceProfile, batch_size: int = 1, **options: Any
) -> list[Prediction]:
    """``predict`` at every size of ``sizes`` on ``target`` (``options``: as ``predict``
    takes them), listing the 10 most expensive ops."""
    return [
        predict(model, res, target=target, batch_size=batch_size, top=10, **options)
        for res in sizes
    ]


def annotate_rows(rows: list[dict[str, Any]], target: DeviceProfile, batch_size: int = 1) -> int:
    """Add PREDICTED ``pred_latency_ms`` (per batch), ``pred_samples_per_sec``, ``pred_target``
    and ``pred_batch_size`` to every ok row of a report (``archcalc.report.rows``) in
    place (``predict``, the model as the row was profiled); how many could not be."""
    from archcalc.checks import check_positive
    from archcalc.errors import ArchcalcError

    check_positive("batch_size", batch_size)
    missed = 0
    for row in rows:
        row.update(
            pred_latency_ms=None,
            pred_samples_per_sec=None,
            pred_target=target.name,
            pred_batch_size=batch_size,
        )
        if row.get("status") != "ok":
            continue
        size = (int(row["height"]), int(row["width"]))
        try:
            p = predict(
                str(row["model"]),
                size,
                target=target,
                batch_size=batch_size,
                reparameterize=bool(row.get("reparameterized", False)),
            )
        except ArchcalcError:
            missed += 1
            continue
        row.update(pred_latency_ms=p.latency_ms, pred_samples_per_sec=p.samples_per_sec)
    return missed
