"""Per-op cost features read off the counting trace: each aten op's class, MACs and bytes.

``recording()`` opens a recorder that the ``Counter`` of the next trace run inside it
(``archcalc.core.count``) feeds with every op it sees, so the features come from the very
trace ``profile()`` runs, never from a second forward. Each op gets:

* a class (``OP_CLASSES``): dense conv, depthwise/grouped conv, matmul/linear, attention
  (fused SDPA), normalization, elementwise/activation, pooling/reduction, data movement;
* its MACs (the same ``torch.utils.flop_counter`` formulas the Counter adds up);
* the bytes it reads and writes at the trace's dtype, split into activation bytes (inputs and
  outputs that scale with the batch) and weight bytes (parameters and buffers, which do not).

Views (``view``, ``permute``, ``expand``...) move no data and are not ops here; a broadcast
input counts the bytes of its storage, not of its expanded shape.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

__all__ = ["OP_CLASSES", "OpCost", "OpLog", "classify", "current_log", "recording"]

#: The op classes, in the order their index is stored in the compact feature arrays.
OP_CLASSES = (
    "conv",
    "depthwise_conv",
    "matmul",
    "attention",
    "norm",
    "elementwise",
    "reduction",
    "movement",
)
#: Classes whose time is bounded by MACs as well as by bytes.
COMPUTE_CLASSES = OP_CLASSES[:4]

_MATMUL = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "matmul", "linear", "_addmm_activation"}
_NORM_WORDS = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm")
_REDUCTION_WORDS = ("pool", "softmax", "logsumexp", "cumsum", "topk", "sort")
_REDUCTION = {"mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean"}
_REDUCTION |= {"argmax", "argmin", "linalg_vector_norm", "norm", "prod", "any", "all"}
_MOVEMENT = {"clone", "copy", "copy_", "_to_copy", "cat", "stack", "constant_pad_nd", "roll"}
_MOVEMENT |= {"index", "index_select", "gather", "scatter", "repeat", "flip", "im2col"}
_MOVEMENT |= {"col2im", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "index_put"}
_MOVEMENT |= {"upsample_nearest2d", "_upsample_nearest_exact2d", "masked_scatter", "where"}
_MOVEMENT |= {"reflection_pad2d", "replication_pad2d", "narrow_copy", "contiguous", "fill_"}
_MOVEMENT |= {"zero_", "zeros_like", "ones_like", "full_like", "tril", "triu"}
#: Ops that allocate or describe tensors without moving data: not kernels here.
_SKIP = {"empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided", "detach"}
_SKIP |= {"lift_fresh", "_unsafe_view", "alias", "set_", "resize_", "_local_scalar_dense"}
_SKIP |= {"sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size"}
_SKIP |= {"zeros", "ones", "full", "arange", "scalar_tensor", "_has_compatible_shallow_copy_type"}


def classify(func: Any, args: tuple[Any, ...]) -> str | None:
    """The class of the aten op ``func`` called with ``args``; None for a non-kernel (a view,
    an allocation, a size query).

    Example:
        >>> classify(torch.ops.aten.mm.default, ())
        'matmul'
    """
    if func.is_view:
        return None
    name = func._overloadpacket.__name__
    if name in _SKIP:
        return None
    if name.startswith("convolution") or name.startswith("_convolution"):
        groups = args[8] if len(args) > 8 else 1
        return "conv" if groups == 1 else "depthwise_conv"
    if "scaled_dot_product" in name:
        return "attention"
    if name in _MATMUL or name == "einsum":
        return "matmul"
    if any(word in name for word in _NORM_WORDS):
        return "norm"
    if name in _REDUCTION or any(word in name for word in _REDUCTION_WORDS):
        return "reduction"
    if name in _MOVEMENT:
        return "movement"
    return "elementwise"


@dataclass(frozen=True)
class OpCost:
    """One aten op of a traced forward: its class, MACs and bytes at the trace's dtype.

    ``activation_bytes`` (inputs read and outputs written that are not parameters/buffers)
    scale with the batch; ``weight_bytes`` (parameters and buffers read) do not.
    """

    op: str
    cls: str
    macs: int
    activation_bytes: int
    weight_bytes: int

    @property
    def bytes(self) -> int:
        """Everything the op reads and writes."""
        return self.activation_bytes + self.weight_bytes


def _nbytes(t: torch.Tensor) -> int:
    """The bytes a kernel touches for ``t``: its elements, or its storage if that is smaller
    (a broadcast/expanded input is read once)."""
    logical = t.numel() * t.element_size()
    try:
        return min(logical, t.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):  # tensor subclasses without a storage
        return logical


class OpLog:
    """The ops one trace ran, in order (filled by ``Counter`` through ``add``)."""

    def __init__(self) -> None:
        self.ops: list[OpCost] = []
        self._weights: set[int] = set()
        self._fused: list[OpCost] | None = None

    def start(self, weight_storages: set[int]) -> None:
        """A new trace begins (an earlier one inside the same ``recording`` is discarded):
        ``weight_storages`` are the parameter/buffer storages' ``_cdata``."""
        self.ops = []
        self._weights = weight_storages
        self._fused = None

    def add(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any, macs: int):
        """Record one dispatched op with the MACs the Counter gave it."""
        cls = classify(func, args)
        if cls is None:
            return
        op = OpCost(
            func._overloadpacket.__name__, cls, int(macs), *self._bytes((args, kwargs), out)
        )
        (self.ops if self._fused is None else self._fused).append(op)

    def _bytes(self, inputs: Any, out: Any) -> tuple[int, int]:
        """(activation bytes, weight bytes) read from ``inputs`` and written to ``out``."""
        act = weight = 0
        seen: set[int] = set()
        for t in tree_leaves(inputs):
            if not isinstance(t, torch.Tensor):
                continue
            key = t.untyped_storage()._cdata
            if key in seen:
                continue
            seen.add(key)
            if key in self._weights:
                weight += _nbytes(t)
            else:
                act += _nbytes(t)
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                act += t.numel() * t.element_size()
        return act, weight

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
            self.ops.append(
                OpCost("scaled_dot_product_attention", "attention", macs, *self._bytes(inputs, out))
            )
        return out


class _FusedAttention(TorchFunctionMode):
    """Function mode sending ``F.scaled_dot_product_attention`` through ``OpLog.fused``."""

    def __init__(self, log: OpLog) -> None:
        super().__init__()
        self.log = log

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            return self.log.fused((args, kwargs), lambda: func(*args, **kwargs))
        return func(*args, **kwargs)


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
        with _FusedAttention(log):
            yield log
    finally:
        _ACTIVE.reset(token)
