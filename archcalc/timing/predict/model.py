"""The latency model: a device's constants turn a model's per-op features into time.

For one forward of a batch of B images, each op of class c takes::

    count x ( hypot(B x MACs / rate[c], (B x activation_bytes + weight_bytes) x s / bandwidth[c])
              + overhead[c] )

and the forward takes the sum plus one fixed per-call cost. ``hypot(a, b) = sqrt(a² + b²)``
is a smooth roofline: far from the ridge it is the larger of compute and memory time (the
classic ``max``), at the ridge √2 times it, as real kernels that neither saturate the ALUs
nor the memory bus are. The bytes are those of the target's feature set (float32, or
simulated float16 autocast); ``s`` (``bytes_scale``, 1 for every target archcalc fits) scales
them. Only the four MAC classes (conv, depthwise conv, matmul, attention) have a compute rate;
the other classes are bound by bytes alone, and an ``unknown`` op (no class fits it) is priced
as ``elementwise``. Work and activation bytes grow with the batch; weights, kernel overheads
and the fixed cost do not, so they amortise. Throughput = B / time. Every number is a named
constant of the device (MACs/s, bytes/s, seconds), so a prediction can say which ops bound it
and why. A target with a memory curve (``MemoryCurve``: a CPU calibrated with ``calibrate
--device cpu``) multiplies each memory time by the curve's slowdown at the op's working set
``(B x activation_bytes + weight_bytes) x s``: data that fits in the caches streams several
times faster than data that comes from DRAM, and the working set grows with the batch.

``op_seconds`` is the formula, written once: prediction calls it on numpy arrays, the fit
(``fit.predicted_log_sps``, and so every error band and the benchmark) on torch tensors.
``api.predict`` is the one entry point from a model: every command's ``--target`` goes
through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from archcalc.core.ops import COMPUTE_CLASSES, FEATURE_CLASSES, OP_CLASSES, UNKNOWN
from archcalc.serialize import Serialized, json_field

if TYPE_CHECKING:
    from archcalc.timing.predict.features import Features

__all__ = [
    "PRICED_AS",
    "Deployment",
    "DeviceProfile",
    "MemoryCurve",
    "OpSeconds",
    "PredictedOp",
    "Prediction",
    "op_seconds",
    "predict_features",
]

N_CLASSES = len(OP_CLASSES)
N_COMPUTE = len(COMPUTE_CLASSES)
#: The constants each feature class is priced with (index into ``OP_CLASSES``): its own, and
#: ``unknown`` (an op no class fits) those of ``elementwise``, counted apart on a prediction.
PRICED_AS = (*range(N_CLASSES), OP_CLASSES.index("elementwise"))


@dataclass(frozen=True)
class MemoryCurve:
    """A CPU's memory bandwidth by working set: at each of ``sizes`` (bytes, ascending) the
    ``bandwidth`` (bytes/s) a streaming kernel gets there, high while the data fits in the
    caches, low once it comes from DRAM (``archcalc.timing.bandwidth`` measures it).

    Example:
        >>> curve = MemoryCurve(sizes=(2**20, 2**22), bandwidth=(1e11, 2e10))
        >>> [float(s) for s in curve.slowdown(np.array([2**19, 2**21, 2**23]))]
        [1.0, 3.0, 5.0]
    """

    sizes: tuple[float, ...]
    bandwidth: tuple[float, ...]

    def slowdown(self, working_set: Any, xp: Any = np) -> Any:
        """The factor on memory time at each ``working_set`` (bytes): seconds per byte there
        over seconds per byte at the smallest size; linear in log size between two sizes,
        flat beyond the first and the last. numpy arrays or torch tensors alike (``xp``)."""
        per_byte = self.bandwidth[0] / np.asarray(self.bandwidth, dtype=np.float64)
        knots = xp.asarray(np.log(self.sizes))
        steps = xp.asarray(np.diff(per_byte))
        x = xp.log(xp.clip(working_set, self.sizes[0], self.sizes[-1]))[..., None]
        along = xp.clip((x - knots[:-1]) / (knots[1:] - knots[:-1]), 0.0, 1.0)
        return 1.0 + (along * steps).sum(-1)


@dataclass(frozen=True)
class Deployment:
    """How and where a target's measurements ran: ``compiled`` (under ``torch.compile``),
    ``layout`` (``nchw`` or ``channels_last``), ``torch_version`` (``""``: unknown) and the
    machine's ``memory_curve`` (``MemoryCurve``, measured by ``calibrate --device cpu``; None:
    one bandwidth per class whatever the working set, as every GPU target).

    Example:
        >>> Deployment(compiled=True, torch_version="2.9.1")
        Deployment(compiled=True, layout='nchw', torch_version='2.9.1', memory_curve=None)
    """

    compiled: bool = False
    layout: str = "nchw"
    torch_version: str = ""
    memory_curve: MemoryCurve | None = None


@dataclass(frozen=True)
class DeviceProfile:
    """One device at one dtype: the constants of the latency model and where they came from.

    ``rate``: MACs/s per compute class; ``bandwidth``: bytes/s per class; ``overhead``:
    seconds per kernel per class; ``fixed``: seconds per forward call; ``bytes_scale``:
    a factor on the feature bytes (1: the ``float16`` features already hold autocast's dtypes);
    ``source``: the measurements it was fitted on;
    ``error``: its measured prediction error (median/P90 %, Spearman, method) and the
    ``batch_sizes`` and ``input_sizes`` (``[low, high]``) it was measured at.
    ``dtype`` is ``float32``, or ``float16``/``bfloat16`` under autocast (as ``bench`` runs).
    ``deployment``: how it was measured (``Deployment``: compiled, layout, torch version,
    memory curve).
    """

    name: str
    kind: str
    dtype: str
    bytes_scale: float
    rate: dict[str, float]
    bandwidth: dict[str, float]
    overhead: dict[str, float]
    fixed: float
    deployment: Deployment = field(default_factory=Deployment)
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)

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
    curve: MemoryCurve | None = None,
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
        curve: ``Deployment.memory_curve``; its slowdown at each kernel run's bytes
            multiplies the memory time (None: no factor).

    Only compute classes carry MACs (``archcalc.core.ops.classify`` gives counted MACs a
    compute class); the other classes get a rate of 1 MAC/s, so a stray MAC could never go
    unpriced.
    """
    ones = xp.ones(N_CLASSES - N_COMPUTE, dtype=constants.dtype)
    rate = xp.concatenate([constants[:N_COMPUTE], ones])
    priced = xp.asarray(PRICED_AS)[cls]
    bandwidth = constants[N_COMPUTE : N_COMPUTE + N_CLASSES][priced]
    overhead = constants[N_COMPUTE + N_CLASSES : N_COMPUTE + 2 * N_CLASSES][priced]
    compute = count * batch * macs / rate[priced]
    memory = count * (batch * activation + weight) * bytes_scale / bandwidth
    if curve is not None:
        memory = memory * curve.slowdown((batch * activation + weight) * bytes_scale, xp)
    kernels = count * overhead
    return OpSeconds(compute, memory, kernels, xp.hypot(compute, memory) + kernels)


def predict_features(
    target: DeviceProfile,
    features: Features,
    batch_size: int,
    *,
    top: int = 5,
    size: tuple[int, int] | None = None,
) -> Prediction:
    """Predict one forward of ``batch_size`` images on ``target`` from a model's features.

    Args:
        target: the device's constants.
        features: the model's per-op features (``archcalc.timing.predict.features.op_features``).
        batch_size: images per forward (> 0).
        top: how many of the most expensive ops to list.
        size: the input ``(height, width)``, to say whether the error band holds there.

    Returns:
        A ``Prediction`` (latency of the batch in ms, samples/s, bound shares, top ops).
    """
    rows = features.rows
    cls = rows[:, 0].astype(int)
    count = rows[:, 4]
    columns = (cls, *rows[:, 1:4].T, count)
    curve = target.deployment.memory_curve
    t = op_seconds(target.constants(), *columns, batch_size, target.bytes_scale, curve=curve)
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
        error_band=target.band_at(batch_size, size),
        unknown_ops=int(count[cls == FEATURE_CLASSES.index(UNKNOWN)].sum()),
    )
