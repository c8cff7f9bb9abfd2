"""The latency model: a device's constants turn a model's per-op features into time.

For one forward of a batch of B images, each op of class c takes::

    count x ( hypot(B x MACs / rate[c], (B x activation_bytes + weight_bytes) x s / bandwidth[c])
              + overhead[c] )

and the forward takes the sum plus one fixed per-call cost. ``hypot(a, b) = sqrt(a² + b²)``
is a smooth roofline: far from the ridge it is the larger of compute and memory time (the
classic ``max``), at the ridge √2 times it, as real kernels that neither saturate the ALUs
nor the memory bus are. The bytes are those of the target's feature set (fp32, or simulated
fp16 autocast for ``amp``); ``s`` scales them (1, or 0.5 for a pure fp16/bf16 target read
from fp32 features). Only the four MAC
classes (conv, depthwise conv, matmul, attention) have a compute rate; the other classes are
bound by bytes alone. Work and activation bytes grow with the batch; weights, kernel overheads
and the fixed cost do not, so they amortise. Throughput = B / time. Every number is a named
constant of the device (MACs/s, bytes/s, seconds), so a prediction can say which ops bound it
and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from archcalc.core.ops import COMPUTE_CLASSES, FEATURE_CLASSES, OP_CLASSES, UNKNOWN
from archcalc.serialize import Serialized, json_field

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

    from archcalc.timing.predict.features import Features

__all__ = [
    "PRICED_AS",
    "DeviceProfile",
    "OpSeconds",
    "PredictedOp",
    "Prediction",
    "annotate_rows",
    "op_seconds",
    "predict",
    "predict_features",
    "predict_sizes",
    "predicted_timer",
]

N_CLASSES = len(OP_CLASSES)
N_COMPUTE = len(COMPUTE_CLASSES)
#: The constants each feature class is priced with (index into ``OP_CLASSES``): its own, and
#: ``unknown`` (an op no class fits) those of ``elementwise``, counted apart on a prediction.
PRICED_AS = (*range(N_CLASSES), OP_CLASSES.index("elementwise"))


@dataclass(frozen=True)
class DeviceProfile:
    """One device at one dtype: the constants of the latency model and where they came from.

    ``rate``: MACs/s per compute class; ``bandwidth``: bytes/s per class; ``overhead``:
    seconds per kernel per class; ``fixed``: seconds per forward call; ``bytes_scale``:
    a factor on the feature bytes (1: the ``amp`` features already hold autocast's dtypes);
    ``source``: the measurements it was fitted on;
    ``error``: its measured prediction error (median/P90 %, Spearman, method).
    ``dtype`` is ``float32``, or ``float16``/``bfloat16`` under autocast (as ``bench`` runs).
    """

    name: str
    kind: str
    dtype: str
    bytes_scale: float
    rate: dict[str, float]
    bandwidth: dict[str, float]
    overhead: dict[str, float]
    fixed: float
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)

    @property
    def features_dtype(self) -> str:
        """The feature set this target's dtype runs: ``float16`` (autocast) or ``float32``."""
        from archcalc.timing.predict.features import feature_dtype

        return feature_dtype(self.dtype)

    def constants(self) -> np.ndarray:
        """The constants as one vector: compute rates, bandwidths, overheads, fixed cost."""
        values = [self.rate[c] for c in COMPUTE_CLASSES]
        values += [self.bandwidth[c] for c in OP_CLASSES]
        values += [self.overhead[c] for c in OP_CLASSES] + [self.fixed]
        return np.array(values, dtype=np.float64)

    def vector(self) -> np.ndarray:
        """The constants as one vector of natural logs (what a fit moves)."""
        return np.log(self.constants())

    def with_vector(self, theta: np.ndarray, **changes: Any) -> DeviceProfile:
        """A copy whose constants are ``exp(theta)`` (the layout of ``vector``)."""
        v = np.exp(np.asarray(theta, dtype=np.float64))
        rate = dict(zip(COMPUTE_CLASSES, map(float, v[:N_COMPUTE]), strict=True))
        bw = dict(zip(OP_CLASSES, map(float, v[N_COMPUTE : N_COMPUTE + N_CLASSES]), strict=True))
        start = N_COMPUTE + N_CLASSES
        over = dict(zip(OP_CLASSES, map(float, v[start : start + N_CLASSES]), strict=True))
        fields = {"rate": rate, "bandwidth": bw, "overhead": over, "fixed": float(v[-1])}
        return DeviceProfile(**{**self.__dict__, **fields, **changes})

    @property
    def band(self) -> str:
        """The error band to quote beside a prediction: ``±M % median, ±P % P90``."""
        if not self.error:
            return "error not measured"
        method = self.error.get("method", "unknown method")
        median, p90 = self.error["median_pct"], self.error["p90_pct"]
        return f"±{median:.0f} % median, ±{p90:.0f} % P90 ({method})"


@dataclass(frozen=True)
class PredictedOp(Serialized):
    """One of a prediction's most expensive ops: its label and class, how many times it runs,
    its MACs and bytes for the whole batch, its predicted time, share and bound."""

    op: str
    cls: str = json_field(name="class")
    count: int
    macs: int
    bytes: int
    time_us: float
    share: float
    bound: str


@dataclass(frozen=True)
class Prediction(Serialized):
    """A predicted figure, never a measurement: latency of one batch and throughput on
    ``target`` at ``dtype`` and ``batch_size``, with the shares of time that are compute-bound,
    memory-bound and per-kernel overhead, and the most expensive ops. ``unknown_ops``: kernel
    runs of no known class (priced as elementwise; ``archcalc.core.ops``)."""

    target: str = json_field(before=("predicted",))
    dtype: str
    batch_size: int
    latency_ms: float
    samples_per_sec: float
    compute_share: float = json_field(name="compute_bound_share")
    memory_share: float = json_field(name="memory_bound_share")
    overhead_share: float
    top_ops: tuple[PredictedOp, ...]
    error_band: str
    unknown_ops: int = 0

    @property
    def predicted(self) -> bool:
        """Always true: the JSON says outright that this object is a prediction."""
        return True


class OpSeconds(NamedTuple):
    """Per feature row, counts included: compute, memory and overhead seconds, and the row's
    time ``hypot(compute, memory) + overhead``. numpy arrays or torch tensors alike."""

    compute: Any
    memory: Any
    overhead: Any
    total: Any


def op_seconds(
    constants: Any,
    cls: Any,
    macs: Any,
    activation: Any,
    weight: Any,
    count: Any,
    batch: Any,
    bytes_scale: float,
    xp: Any = np,
) -> OpSeconds:
    """The latency model's one formula (module docstring), for prediction (numpy) and fitting
    (torch, differentiable in ``constants``) alike.

    Args:
        constants: the device's constants, ``DeviceProfile.constants`` (a fit passes the
            exponential of what it moves).
        cls, macs, activation, weight, count: the feature columns (``features.COLUMNS``);
            ``cls`` an integer array.
        batch: images per forward, one number or one per row.
        bytes_scale: ``DeviceProfile.bytes_scale``.
        xp: the array module of the arguments, ``numpy`` or ``torch``.

    Only compute classes carry MACs (``archcalc.core.ops.classify`` gives counted MACs a
    compute class); the other classes get a rate of 1 MAC/s, so a stray MAC could never go
    unpriced.
    """
    v = constants
    ones = xp.ones(N_CLASSES - N_COMPUTE, dtype=v.dtype)
    rate = xp.concatenate([v[:N_COMPUTE], ones])
    priced = xp.asarray(PRICED_AS)[cls]
    bandwidth = v[N_COMPUTE : N_COMPUTE + N_CLASSES][priced]
    overhead = v[N_COMPUTE + N_CLASSES : N_COMPUTE + 2 * N_CLASSES][priced]
    compute = count * batch * macs / rate[priced]
    memory = count * (batch * activation + weight) * bytes_scale / bandwidth
    kernels = count * overhead
    return OpSeconds(compute, memory, kernels, xp.hypot(compute, memory) + kernels)


def predict_features(
    target: DeviceProfile,
    features: Features,
    batch_size: int,
    *,
    top: int = 5,
) -> Prediction:
    """Predict one forward of ``batch_size`` images on ``target`` from a model's features.

    Args:
        target: the device's constants.
        features: the model's per-op features (``archcalc.timing.predict.features.op_features``).
        batch_size: images per forward (> 0).
        top: how many of the most expensive ops to list.

    Returns:
        A ``Prediction`` (latency of the batch in ms, samples/s, bound shares, top ops).
    """
    rows = features.rows
    cls = rows[:, 0].astype(int)
    count = rows[:, 4]
    columns = (cls, *rows[:, 1:4].T, count)
    t = op_seconds(target.constants(), *columns, batch_size, target.bytes_scale)
    bound = t.total - t.overhead
    total = float(t.total.sum()) + target.fixed
    compute_share = float(bound[t.compute >= t.memory].sum()) / total
    memory_share = float(bound[t.compute < t.memory].sum()) / total
    labels = features.labels or [FEATURE_CLASSES[c] for c in cls]
    top_ops = tuple(
        PredictedOp(
            op=labels[i],
            cls=FEATURE_CLASSES[cls[i]],
            count=int(count[i]),
            macs=int(rows[i, 1] * batch_size * count[i]),
            bytes=int((rows[i, 2] * batch_size + rows[i, 3]) * target.bytes_scale * count[i]),
            time_us=float(t.total[i]) * 1e6,
            share=float(t.total[i]) / total,
            bound="compute" if t.compute[i] >= t.memory[i] else "memory",
        )
        for i in np.argsort(-t.total, kind="stable")[:top]
    )
    return Prediction(
        target=target.name,
        dtype=target.dtype,
        batch_size=batch_size,
        latency_ms=total * 1e3,
        samples_per_sec=batch_size / total,
        compute_share=compute_share,
        memory_share=memory_share,
        overhead_share=1.0 - compute_share - memory_share,
        top_ops=top_ops,
        error_band=target.band,
        unknown_ops=int(count[cls == FEATURE_CLASSES.index(UNKNOWN)].sum()),
    )


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
    from archcalc.timing.predict.features import op_features
    from archcalc.timing.predict.targets import load_target

    check_positive("batch_size", batch_size)
    device = target if isinstance(target, DeviceProfile) else load_target(str(target))
    features = op_features(
        model,
        resolution,
        dtype=device.dtype,
        reparameterize=reparameterize,
        in_chans=in_chans,
        output_stride=output_stride,
    )
    assert features is not None  # trace=True always gives features
    return predict_features(device, features, batch_size, top=top)


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
