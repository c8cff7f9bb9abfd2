"""The public face of latency prediction: ``archcalc.predict``, ``archcalc.targets``,
``archcalc.load_target`` and ``archcalc.calibrate``.

A target (``DeviceProfile``) is one device at one dtype; every parameter that holds one is
named ``target``. dtypes are torch's names everywhere: ``float32``, ``float16`` and
``bfloat16`` (half precisions under autocast, as ``archcalc.bench`` runs them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archcalc.timing.predict.model import DeviceProfile

__all__ = ["calibrate", "targets"]


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
        reparameterize: the table was measured on deploy forms (RepVGG, MobileOne, FastViT...).
        prior: what the fit starts from (default: the shipped target of the same kind and
            dtype).

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
    kind, dtype = guess_settings(path, kind, dtype)
    options = {"reparameterize": reparameterize, "prior": prior, "source": default_source(path)}
    return fit_rows(name, rows, kind=kind, dtype=dtype, **options)[0]
