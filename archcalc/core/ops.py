"""Per-op cost features read off the counting trace: each aten op's class, MACs and bytes.

``recording()`` opens a recorder that the ``Counter`` of the next trace run inside it
(``archcalc.core.count``) feeds with every op it sees, so the features come from the very
trace ``profile()`` runs, never from a second forward. Each op gets:

* a class (``OP_CLASSES``): dense conv, depthwise/grouped conv, matmul/linear, attention
  (fused SDPA), batch norm, other normalization (layer, group...), elementwise/activation
  (torch's ``pointwise`` tag or a named activation), reduction, pooling, data movement,
  concatenation/padding (``concat``), dtype casts (``cast``, what autocast inserts) and
  ``clone``; the non-compute classes are priced by their bytes, and split where kernels of
  the same bytes run at different speeds; an op none of them fits is ``unknown``
  (``FEATURE_CLASSES``), never guessed; an op the Counter gives MACs (a ``register_formula``
  op, ``_scaled_mm``, ``mv``) is always a compute class, so its MACs are priced;
* its MACs (the same ``torch.utils.flop_counter`` formulas the Counter adds up);
* the bytes it reads and writes at the trace's dtype, split into activation bytes (inputs and
  outputs that scale with the batch) and weight bytes (parameters and buffers, which do not).

Views (``view``, ``permute``, ``expand``...) move no data and are not ops here; a broadcast
input counts the bytes of its storage, not of its expanded shape. An op whose inputs are all
weights (or computed from weights alone) is ``constant``: it runs once per forward, whatever
the batch.

The log keeps two lists: ``ops`` at the trace's dtype (float32 on the meta device) and
``float16_ops``, the same forward as CUDA float16 autocast runs it (``_Autocast``): which
tensors are float16, and the cast kernels autocast inserts.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef

__all__ = [
    "COMPUTE_CLASSES",
    "FEATURE_CLASSES",
    "OP_CLASSES",
    "UNKNOWN",
    "OpCost",
    "OpLog",
    "classify",
    "current_log",
    "recording",
]

#: The op classes a device has constants for, in the order their index is stored in the
#: compact feature arrays.
OP_CLASSES = (
    "conv",
    "depthwise_conv",
    "matmul",
    "attention",
    "batch_norm",
    "norm",
    "elementwise",
    "reduction",
    "pool",
    "movement",
    "concat",
    "cast",
    "clone",
)
#: Classes whose time is bounded by MACs as well as by bytes.
COMPUTE_CLASSES = OP_CLASSES[:4]
#: The class of an op that no class of ``OP_CLASSES`` fits (priced as ``elementwise``).
UNKNOWN = "unknown"
#: Every class a recorded op can have; index ``len(OP_CLASSES)`` is ``UNKNOWN``.
FEATURE_CLASSES = (*OP_CLASSES, UNKNOWN)

_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "matmul", "linear", "_addmm_activation"}
_MATMUL |= {"mv", "addmv", "dot", "vdot", "addr", "outer", "_scaled_mm", "_int_mm"}
#: Pointwise ops torch does not tag ``pointwise`` (activations, comparisons, dropout).
_ELEMENTWISE = {"hardswish", "hardswish_", "mish_", "gelu_", "prelu", "_prelu_kernel", "glu"}
_ELEMENTWISE |= {"masked_fill_", "log_sigmoid_forward", "native_dropout", "dropout"}
_ELEMENTWISE |= {"eq", "ne", "gt", "ge", "lt", "le", "remainder", "fmod", "copysign"}
_NORM_WORDS = ("layer_norm", "group_norm", "instance_norm", "rms_norm")
_REDUCTION_WORDS = ("softmax", "logsumexp", "cumsum", "topk", "sort")
_REDUCTION = {"mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean"}
_REDUCTION |= {"argmax", "argmin", "linalg_vector_norm", "norm", "prod", "any", "all"}
#: Copies of whole tensors into a new layout: concatenation, padding, tiling.
_CONCAT = {"cat", "stack", "constant_pad_nd", "reflection_pad2d", "repeat"}
_MOVEMENT = {"copy", "copy_", "roll", "index", "index_select", "gather", "scatter", "flip"}
_MOVEMENT |= {"im2col", "col2im", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle"}
_MOVEMENT |= {"index_put", "masked_scatter", "where"}
_MOVEMENT |= {"upsample_nearest2d", "_upsample_nearest_exact2d"}
_MOVEMENT |= {"replication_pad2d", "narrow_copy", "contiguous", "fill_"}
_MOVEMENT |= {"zero_", "zeros_like", "ones_like", "full_like", "tril", "triu"}
_MOVEMENT |= {"upsample_bilinear2d", "upsample_bicubic2d", "_upsample_bilinear2d_aa"}
_MOVEMENT |= {
    "_upsample_bicubic2d_aa",
    "grid_sampler_2d",
    "upsample_nearest1d",
    "upsample_linear1d",
}
#: Ops that allocate or describe tensors without moving data: not kernels here.
_SKIP = {"empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided", "detach"}
_SKIP |= {"lift_fresh", "_unsafe_view", "alias", "set_", "resize_", "_local_scalar_dense"}
_SKIP |= {"sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size"}
_SKIP |= {"zeros", "ones", "full", "arange", "scalar_tensor", "_has_compatible_shallow_copy_type"}
_SKIP |= {"unsafe_split", "unsafe_chunk", "unsafe_split_with_sizes"}  # views, not marked so


def classify(func: Any, args: tuple[Any, ...], macs: int = 0) -> str | None:
    """The class of the aten op ``func`` called with ``args`` (``FEATURE_CLASSES``); None for
    a non-kernel (a view, an allocation, a size query). An op with counted ``macs`` is a
    compute class whatever its name (a custom op with a registered formula: ``matmul``).

    Example:
        >>> classify(torch.ops.aten.mm.default, ())
        'matmul'
    """
    cls = _by_name(func)
    if cls == "conv":  # the one class that depends on the call: grouped or not
        groups = args[8] if len(args) > 8 else 1
        return "conv" if groups == 1 else "depthwise_conv"
    if macs > 0 and cls not in COMPUTE_CLASSES:
        return "matmul"
    return cls


@functools.cache
def _by_name(func: Any) -> str | None:
    """The class an op's name, tags and view-ness give it, once per op (the trace's hot
    path)."""
    if func.is_view or torch.Tag.inplace_view in func.tags:
        return None
    name = func._overloadpacket.__name__
    if name in _SKIP:
        return None
    if name.startswith("convolution") or name.startswith("_convolution"):
        return "conv"
    if "scaled_dot_product" in name:
        return "attention"
    if name in _MATMUL or name == "einsum":
        return "matmul"
    if "batch_norm" in name:
        return "batch_norm"
    if any(word in name for word in _NORM_WORDS):
        return "norm"
    if "pool" in name:
        return "pool"
    if name in _REDUCTION or any(word in name for word in _REDUCTION_WORDS):
        return "reduction"
    if name == "_to_copy":
        return "cast"
    if name == "clone":
        return "clone"
    if name in _CONCAT:
        return "concat"
    if name in _MOVEMENT:
        return "movement"
    if name in _ELEMENTWISE or torch.Tag.pointwise in func.tags:
        return "elementwise"
    return UNKNOWN


@dataclass(frozen=True)
class OpCost:
    """One aten op of a traced forward: its class, MACs and bytes at the trace's dtype.

    ``activation_bytes`` (inputs read and outputs written that are not parameters/buffers)
    scale with the batch; ``weight_bytes`` (parameters and buffers read) do not. A
    ``constant`` op reads only weights or tensors computed from weights alone (StdConv's
    weight standardisation, Swin V2's position-bias MLP): it runs once per forward whatever
    the batch, so all its bytes are weight bytes.
    """

    op: str
    cls: str
    macs: int
    activation_bytes: int
    weight_bytes: int
    constant: bool = False

    @property
    def bytes(self) -> int:
        """Everything the op reads and writes."""
        return self.activation_bytes + self.weight_bytes


def _tensors(items: Any) -> Iterator[torch.Tensor]:
    """The tensors among ``items`` and inside their lists, tuples and dicts (an op's
    arguments nest one or two levels: ``cat``'s list, ``(args, kwargs)``)."""
    for item in items:
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, (list, tuple)):
            yield from _tensors(item)
        elif isinstance(item, dict):
            yield from _tensors(item.values())


class _Read(NamedTuple):
    """One distinct storage an op reads."""

    storage: Any
    nbytes: int  # at the trace's dtype (a broadcast input: its storage, read once)
    units: int  # elements of a float tensor, bytes of any other (its size does not change)
    weight: bool  # a parameter/buffer or computed from them alone
    floating: bool
    half: bool  # float16 under autocast
    shaped: bool  # not 0-d (a 0-d operand does not promote the result's dtype)


class _Storages:
    """Storages by ``_cdata`` through weak references: one that is freed (its address may be
    reused by a new tensor) no longer counts, and none is kept alive (the trace's peak memory
    follows real frees)."""

    def __init__(self) -> None:
        self._refs: dict[int, StorageWeakRef] = {}

    def __contains__(self, storage: Any) -> bool:
        ref = self._refs.get(storage._cdata)
        return ref is not None and not ref.expired()

    def add(self, storage: Any) -> None:
        self._refs[storage._cdata] = StorageWeakRef(storage)

    def discard(self, storage: Any) -> None:
        self._refs.pop(storage._cdata, None)


class OpLog:
    """The ops one trace ran, in order (filled by ``Counter`` through ``add``): ``ops`` at the
    trace's dtype, and ``float16_ops`` as CUDA float16 autocast would run them (``_Autocast``)."""

    def __init__(self) -> None:
        self.ops: list[OpCost] = []
        self.float16_ops: list[OpCost] = []
        self._weights: set[int] = set()
        self._derived = _Storages()
        self._autocast = _Autocast(self)
        self._fused: list[OpCost] | None = None

    def start(self, weight_storages: set[int]) -> None:
        """A new trace begins (an earlier one inside the same ``recording`` is discarded):
        ``weight_storages`` are the parameter/buffer storages' ``_cdata``."""
        self.ops, self.float16_ops = [], []
        self._weights = weight_storages
        self._derived = _Storages()
        self._autocast = _Autocast(self)
        self._fused = None

    def is_weight(self, storage: Any) -> bool:
        """A parameter/buffer, or a tensor computed from them alone (still alive)."""
        return storage._cdata in self._weights or storage in self._derived

    def kernels(self, dtype: str) -> list[OpCost]:
        """The ops as ``dtype`` runs them: ``float16`` (CUDA float16 autocast) or the trace's
        own (``float32``)."""
        return self.float16_ops if dtype == "float16" else self.ops

    def add(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, macs: int):
        """Record one dispatched op with the MACs the Counter gave it."""
        cls = classify(func, args, macs)
        if cls is None:
            if not func.is_view:  # an allocation: a new float32 tensor for autocast
                self._autocast.forget(out)
            return
        self._record(func._overloadpacket.__name__, cls, int(macs), (args, kwargs), out)

    def _record(self, name: str, cls: str, macs: int, inputs: Any, out: Any) -> None:
        """One op at the trace's dtype and under autocast, from one walk of its tensors."""
        reads = self._reads(inputs)
        outputs = list(_tensors((out,)))
        op = OpCost(name, cls, macs, *self._bytes(reads, outputs))
        if self._fused is not None:
            self._fused.append(op)
            return
        self.ops.append(op)
        self.float16_ops += self._autocast.run(op, reads, outputs)

    def _reads(self, inputs: Any) -> list[_Read]:
        """Each distinct storage an op reads, once (``_Read``)."""
        reads: list[_Read] = []
        seen: set[int] = set()
        for t in _tensors(inputs):
            storage = t.untyped_storage()
            key = storage._cdata
            if key in seen:
                continue
            seen.add(key)
            size = t.element_size()
            nbytes = min(t.numel() * size, storage.nbytes())  # a broadcast input: read once
            floating = t.is_floating_point()
            units = nbytes // size if floating else nbytes
            half = floating and storage in self._autocast.half
            weight = self.is_weight(storage)
            reads.append(_Read(storage, nbytes, units, weight, floating, half, t.dim() > 0))
        return reads

    def _bytes(self, reads: list[_Read], outputs: list[torch.Tensor]) -> tuple[int, int, bool]:
        """(activation bytes, weight bytes, constant) read and written at the trace's dtype;
        the outputs of a constant op (no activation input) count as weights from then on."""
        act = sum(r.nbytes for r in reads if not r.weight)
        weight = sum(r.nbytes for r in reads if r.weight)
        written = sum(t.numel() * t.element_size() for t in outputs)
        if act == 0 and weight > 0 and self._fused is None:
            for t in outputs:
                self._derived.add(t.untyped_storage())
            return 0, weight + written, True
        return act + written, weight, False

    def fused(self, inputs: Any, run: Any) -> Any:
        """Run ``run()`` (scaled-dot-product attention) as one fused kernel: whatever ops it
        decomposes into (the math path on meta) become one ``attention`` op with their MACs,
        reading q, k, v (and a mask) and writing the output once, as the fused GPU/CPU
        kernels do; the attention matrix never reaches memory."""
        if self._fused is not None:  # already inside one
            return run()
        self._fused = []
        try:
            out = run()
        finally:
            inner, self._fused = self._fused, None
        if inner:
            macs = sum(op.macs for op in inner)
            self._record("scaled_dot_product_attention", "attention", macs, inputs, out)
        return out


#: Ops CUDA autocast runs in float16 (its lower-precision list), by class and by aten name.
_AUTOCAST_FLOAT16_CLASSES = {"conv", "depthwise_conv", "matmul", "attention"}
_AUTOCAST_FLOAT16 = {"prelu", "_prelu_kernel"}
#: Ops autocast runs in float32 whatever their input (its float32 list), by aten name and name part.
_AUTOCAST_FLOAT32 = {"exp", "pow", "sum", "prod", "cumsum", "cumprod", "linalg_vector_norm", "norm"}
_AUTOCAST_FLOAT32 |= {"rsqrt", "reciprocal", "log", "log2", "log10", "log1p", "expm1", "erfinv"}
_AUTOCAST_FLOAT32 |= {"acos", "asin", "cosh", "sinh", "tan", "softplus", "_cdist_forward", "dist"}
_AUTOCAST_FLOAT32 |= {
    "renorm",
    "logsumexp",
    "mse_loss",
    "nll_loss",
    "binary_cross_entropy_with_logits",
}
_AUTOCAST_FLOAT32_WORDS = ("layer_norm", "group_norm", "rms_norm", "softmax")


class _Autocast:
    """The same ops as CUDA float16 autocast runs them (timm's ``benchmark.py --amp``): which
    tensors are float16, what each op reads and writes at those dtypes, and the casts autocast
    inserts. Input, weights and buffers are float32. Ops of its float16 list (conv, matmul,
    attention) read float16, casting any float32 input first (a weight once per forward:
    autocast caches it); ops of its float32 list (layer/group norm, softmax, exp...) cast
    float16 inputs up and write float32; batch norm keeps its input's dtype; every other op
    follows type promotion (a float32 operand with a shape makes the result float32, a 0-d one
    does not)."""

    def __init__(self, log: OpLog) -> None:
        self.log = log
        self.half = _Storages()
        self.cast_weights: set[int] = set()

    def forget(self, out: Any) -> None:
        """``out`` is a fresh float32 tensor (an allocation autocast does not see)."""
        for t in _tensors((out,)):
            self.half.discard(t.untyped_storage())

    def run(self, op: OpCost, reads: list[_Read], outputs: list[torch.Tensor]) -> list[OpCost]:
        """The kernels ``op`` is under autocast: any casts, then the op at autocast dtypes."""
        name, cls = op.op, op.cls
        floats = [r for r in reads if r.floating]
        first_half = floats[0].half if floats else None
        promote_float = any(not r.half and r.shaped for r in floats)
        if cls in _AUTOCAST_FLOAT16_CLASSES or name in _AUTOCAST_FLOAT16:
            want: bool | None = True
        elif name in _AUTOCAST_FLOAT32 or any(w in name for w in _AUTOCAST_FLOAT32_WORDS):
            want = False
        else:
            want = None
        kernels: list[OpCost] = []
        act = weight = 0
        for r in reads:
            size = (
                r.units * (2 if (r.half if want is None else want) else 4)
                if r.floating
                else r.units
            )
            if r.floating and want is not None and r.half != want:
                kernels += self._cast(r.storage, r.units, r.weight)
            if r.weight:
                weight += size
            else:
                act += size
        if want is not None:
            out_half = want
        elif "batch_norm" in name or name.endswith("_"):
            out_half = bool(first_half)
        else:
            out_half = first_half is not None and not promote_float
        for t in outputs:
            storage = t.untyped_storage()
            floating = t.is_floating_point()
            n = t.numel() * ((2 if out_half else 4) if floating else t.element_size())
            if op.constant:
                weight += n
            else:
                act += n
            if floating and out_half:
                self.half.add(storage)
            else:
                self.half.discard(storage)
        return [*kernels, OpCost(name, cls, op.macs, act, weight, op.constant)]

    def _cast(self, storage: Any, elements: int, is_weight: bool) -> list[OpCost]:
        """The cast kernel autocast runs before an op: float32 -> float16 (or back), read + write; a
        parameter's cast runs once per forward (autocast's cache), a derived weight's each time."""
        moved = elements * 6  # 4 bytes one way, 2 the other
        if not is_weight:
            return [OpCost("_to_copy", "cast", 0, moved, 0, False)]
        if storage._cdata in self.log._weights:
            if storage._cdata in self.cast_weights:
                return []
            self.cast_weights.add(storage._cdata)
        return [OpCost("_to_copy", "cast", 0, 0, moved, True)]


_ACTIVE: contextvars.ContextVar[OpLog | None] = contextvars.ContextVar("op_log", default=None)


def current_log() -> OpLog | None:
    """The ``OpLog`` of the innermost open ``recording()``, else None (nothing is recorded)."""
    return _ACTIVE.get()


@contextmanager
def recording() -> Iterator[OpLog]:
    """Record the per-op costs of the (last) trace run inside the block.

    Example:
        >>> with recording() as log:
        ...     archcalc.profile("resnet18", 224)
        >>> log.ops[0].cls
        'conv'
    """
    log = OpLog()
    token = _ACTIVE.set(log)
    try:
        with _SDPA:
            yield log
    finally:
        _ACTIVE.reset(token)


class _FusedAttention:
    """While any ``recording()`` is open, ``F.scaled_dot_product_attention`` is a wrapper that
    sends calls made inside a recording through ``OpLog.fused`` (and others straight to
    torch); the original is back once the last recording closes. A wrapper costs one check
    per attention call, where a ``TorchFunctionMode`` cost every torch call (5 % of a trace)."""

    def __init__(self) -> None:
        self.original = F.scaled_dot_product_attention
        self.open = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.open += 1
            F.scaled_dot_product_attention = self.call

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.open -= 1
            if self.open == 0:
                F.scaled_dot_product_attention = self.original

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """``F.scaled_dot_product_attention``, recorded as one op inside a recording."""
        log = _ACTIVE.get()
        if log is None:
            return self.original(*args, **kwargs)
        return log.fused((args, kwargs), lambda: self.original(*args, **kwargs))


_SDPA = _FusedAttention()
