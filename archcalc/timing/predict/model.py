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
from typing import Any

import numpy as np

from archcalc.core.ops import COMPUTE_CLASSES, OP_CLASSES
from archcalc.serialize import Serialized, json_field

__all__ = [
    "DeviceProfile",
    "PredictedOp",
    "Prediction",
    "op_times",
    "predict",
    "predict_model",
    "predict_sizes",
    "predicted_timer",
]

N_CLASSES = len(OP_CLASSES)
N_COMPUTE = len(COMPUTE_CLASSES)


@dataclass(frozen=True)
class DeviceProfile:
    """One device at one dtype: the constants of the latency model and where they came from.

    ``rate``: MACs/s per compute class; ``bandwidth``: bytes/s per class; ``overhead``:
    seconds per kernel per class; ``fixed``: seconds per forward call; ``bytes_scale``:
    a factor on the feature bytes (1: the ``amp`` features already hold autocast's dtypes);
    ``source``: the measurements it was fitted on;
    ``error``: its measured prediction error (median/P90 %, Spearman, method) and the
    ``batch_sizes`` and ``input_sizes`` (``[low, high]``) it was measured at.
    The deployment it was measured under: ``compiled`` (``torch.compile``), ``layout``
    (``nchw`` or ``channels_last``) and ``torch_version`` (``""``: unknown).
    """

    name: str
    kind: str
    dtype: str
    bytes_scale: float
    rate: dict[str, float]
    bandwidth: dict[str, float]
    overhead: dict[str, float]
    fixed: float
    compiled: bool = False
    layout: str = "nchw"
    torch_version: str = ""
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)

    @property
    def features_dtype(self) -> str:
        """The feature set this target's dtype runs: ``amp`` (autocast) or ``fp32``."""
        return "amp" if self.dtype == "amp" else "fp32"

    def vector(self) -> np.ndarray:
        """The constants as one vector of natural logs (what a fit moves)."""
        values = [self.rate[c] for c in COMPUTE_CLASSES]
        values += [self.bandwidth[c] for c in OP_CLASSES]
        values += [self.overhead[c] for c in OP_CLASSES] + [self.fixed]
        return np.log(np.array(values, dtype=np.float64))

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

    def band_at(self, batch_size: int, size: tuple[int, int] | None = None) -> str:
        """``band`` where the error was measured; outside the batch sizes or input sizes it
        was measured at, that it is not validated there (a band is never quoted beyond its
        measurements). Without a recorded range (older files), ``band``."""
        batches, sizes = self.error.get("batch_sizes"), self.error.get("input_sizes")
        if batches and not batches[0] <= batch_size <= batches[1]:
            low, high = batches
            at = f"batch {low}" if low == high else f"batch {low}-{high}"
            return f"not validated for this target at batch {batch_size} (measured at {at})"
        if sizes and size is not None and not all(sizes[0] <= s <= sizes[1] for s in size):
            return (
                f"not validated for this target at {size[0]}x{size[1]} (measured at "
                f"{sizes[0]}-{sizes[1]} px)"
            )
        return self.band


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
    memory-bound and per-kernel overhead, and the most expensive ops."""

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

    @property
    def predicted(self) -> bool:
        """Always true: the JSON says outright that this object is a prediction."""
        return True


def _constants(device: DeviceProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rate = np.array([device.rate.get(c, np.inf) for c in OP_CLASSES])
    rate[N_COMPUTE:] = np.inf
    bandwidth = np.array([device.bandwidth[c] for c in OP_CLASSES])
    overhead = np.array([device.overhead[c] for c in OP_CLASSES])
    return rate, bandwidth, overhead


def op_times(
    device: DeviceProfile, features: np.ndarray, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per feature row: (compute seconds, memory seconds, overhead seconds), counts included.

    The row's time is ``hypot(compute, memory) + overhead``; it is compute-bound when
    compute >= memory.
    """
    rate, bandwidth, overhead = _constants(device)
    cls = features[:, 0].astype(int)
    count = features[:, 4]
    compute = count * batch_size * features[:, 1] / rate[cls]
    moved = (batch_size * features[:, 2] + features[:, 3]) * device.bytes_scale
    return compute, count * moved / bandwidth[cls], count * overhead[cls]


def predict(
    device: DeviceProfile,
    features: np.ndarray,
    batch_size: int,
    *,
    names: list[str] | None = None,
    top: int = 5,
    size: tuple[int, int] | None = None,
) -> Prediction:
    """Predict one forward of ``batch_size`` images on ``device``.

    Args:
        device: the target's constants.
        features: the model's ``(n, 5)`` per-op features (``archcalc.timing.predict.features``).
        batch_size: images per forward (> 0).
        names: a label per feature row for ``top_ops`` (default: the op class).
        top: how many of the most expensive ops to list.
        size: the input ``(height, width)``, to say whether the error band holds there.

    Returns:
        A ``Prediction`` (latency of the batch in ms, samples/s, bound shares, top ops).

    Example:
        >>> predict(target, features_of("resnet50", 224), 64).samples_per_sec  # doctest: +SKIP
    """
    compute, memory, overhead = op_times(device, features, batch_size)
    bound = np.hypot(compute, memory)
    per_op = bound + overhead
    total = float(per_op.sum()) + device.fixed
    compute_share = float(bound[compute >= memory].sum()) / total
    memory_share = float(bound[compute < memory].sum()) / total
    labels = names or [OP_CLASSES[int(c)] for c in features[:, 0]]
    order = np.argsort(-per_op)[:top]
    top_ops = tuple(
        PredictedOp(
            op=labels[i],
            cls=OP_CLASSES[int(features[i, 0])],
            count=int(features[i, 4]),
            macs=int(features[i, 1] * batch_size * features[i, 4]),
            bytes=int(
                (features[i, 2] * batch_size + features[i, 3]) * device.bytes_scale * features[i, 4]
            ),
            time_us=float(per_op[i]) * 1e6,
            share=float(per_op[i]) / total,
            bound="compute" if compute[i] >= memory[i] else "memory",
        )
        for i in order
    )
    return Prediction(
        target=device.name,
        dtype=device.dtype,
        batch_size=batch_size,
        latency_ms=total * 1e3,
        samples_per_sec=batch_size / total,
        compute_share=compute_share,
        memory_share=memory_share,
        overhead_share=1.0 - compute_share - memory_share,
        top_ops=top_ops,
        error_band=device.band_at(batch_size, size),
    )


def predict_model(
    model: Any,
    resolution: Any,
    device: DeviceProfile,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    reparameterize: bool = False,
    top: int = 5,
) -> tuple[Any, Prediction]:
    """Profile ``model`` at ``resolution`` and predict it on ``device`` from the same trace.

    Args:
        model: a timm name or ``nn.Module``.
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        device: the target (``archcalc.timing.predict.targets.load_target``).
        batch_size: images per forward the prediction is for (> 0); the trace runs at 1.
        in_chans, output_stride, reparameterize: as for ``archcalc.profile``.
        top: how many of the most expensive ops the prediction lists (every op: ``len``).

    Returns:
        ``(Profile at batch 1, Prediction)``.

    Raises:
        InvalidArgumentError: ``batch_size`` is not positive.

    Example:
        >>> _, p = predict_model("resnet50", 224, load_target("rtx4090"), batch_size=64)
        >>> p.samples_per_sec > 0
        True
    """
    from archcalc.checks import check_positive
    from archcalc.timing.predict.features import trace_features

    check_positive("batch_size", batch_size)
    profile, ops = trace_features(
        model,
        resolution,
        in_chans=in_chans,
        output_stride=output_stride,
        reparameterize=reparameterize,
        dtype=device.features_dtype,
    )
    index = {c: i for i, c in enumerate(OP_CLASSES)}
    rows = [(index[o.cls], o.macs, o.activation_bytes, o.weight_bytes, 1) for o in ops]
    features = np.array(rows, dtype=np.float64).reshape(-1, 5)
    names = [f"#{i} {o.op}" for i, o in enumerate(ops)]
    return profile, predict(
        device, features, batch_size, names=names, top=top, size=profile.resolution
    )


def predicted_timer(device: DeviceProfile, batch_size: int = 1) -> Any:
    """A ``recommend.auto`` timer that predicts instead of measuring: an option's predicted
    latency (seconds per batch of ``batch_size``) on ``device``, from its own meta trace."""
    from archcalc.checks import check_positive

    check_positive("batch_size", batch_size)

    def timer(option: Any, _where: str, _budget_s: float | None = None) -> float:
        p = option.profile
        _, prediction = predict_model(
            p.model,
            p.resolution,
            device,
            batch_size=batch_size,
            output_stride=p.output_stride,
            reparameterize=p.reparameterized,
        )
        return prediction.latency_ms / 1e3

    return timer


def predict_sizes(
    model: Any, sizes: Any, device: DeviceProfile, batch_size: int = 1, **options: Any
) -> list[Prediction]:
    """``predict_model`` at every size of ``sizes`` on ``device``."""
    return [
        predict_model(model, res, device, batch_size=batch_size, top=10, **options)[1]
        for res in sizes
    ]


def annotate_rows(rows: list[dict[str, Any]], device: DeviceProfile, batch_size: int = 1) -> int:
    """Add PREDICTED ``pred_latency_ms`` (per batch), ``pred_samples_per_sec``, ``pred_target``
    and ``pred_batch_size`` to every ok row of a report (``archcalc.report.rows``) in
    place; how many could not be."""
    from archcalc.checks import check_positive
    from archcalc.errors import ArchcalcError
    from archcalc.timing.predict.features import features_of

    check_positive("batch_size", batch_size)
    missed = 0
    for row in rows:
        row.update(
            pred_latency_ms=None,
            pred_samples_per_sec=None,
            pred_target=device.name,
            pred_batch_size=batch_size,
        )
        if row.get("status") != "ok":
            continue
        size = (int(row["height"]), int(row["width"]))
        try:
            features = features_of(str(row["model"]), size, dtype=device.features_dtype)
        except ArchcalcError:
            features = None
        if features is None or len(features) == 0:
            missed += 1
            continue
        p = predict(device, features, batch_size, size=size)
        row.update(pred_latency_ms=p.latency_ms, pred_samples_per_sec=p.samples_per_sec)
    return missed
