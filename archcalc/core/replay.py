"""Meta-device replay: answer an op from the output layout torch gave an identical call.

On the meta device an op's outputs are a function of its inputs' shapes, strides and dtypes
(and its plain arguments), so a repeated call (a ResNet's identical blocks, the backward of
the same shapes) can be answered from the first one's output layout instead of running
torch's meta kernel again; many of those kernels are Python decompositions (batch norm and
ReLU's backward dominate a CNN's meta forward and backward). A pointwise op whose tensor
arguments share one dense layout keeps that layout (TensorIterator does), learned per op from
its first such call. Only fresh, dense, unshared outputs are replayed; views, in-place ops and
calls with non-meta tensors always run, except an in-place activation of one meta tensor, which
returns that tensor (its meta kernel is often a Python decomposition: ``hardswish_`` was half
of a MobileNetV3's meta forward).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes
from torch.utils._pytree import tree_flatten, tree_leaves, tree_unflatten

__all__ = ["MetaReplay", "empty"]


class MetaReplay:
    """The layouts seen in one trace (one per Counter: no state outlives a trace)."""

    def __init__(self) -> None:
        self._layouts: dict[Any, Any] = {}
        self._follows: dict[Any, bool] = {}

    def run(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """A fresh output laid out as the same call's first one, or ``func``'s own."""
        if _in_place_activation(func, args, kwargs):
            return args[0]
        key = None
        if not func.is_view and not func._schema.is_mutable:
            key = _call_key(func, args, kwargs)
        if key is None:
            return func(*args, **kwargs)
        layout = self._layouts.get(key)
        if layout is not None:
            leaves, spec = layout
            return tree_unflatten([empty(leaf) for leaf in leaves], spec)
        out = self._pointwise(func, args, kwargs)
        layout = _fresh_layout(out, args)
        if layout is not None:
            self._layouts[key] = layout
        return out

    def _pointwise(self, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """A pointwise op whose tensor arguments share one dense layout returns that layout
        (TensorIterator keeps it); learned per op, input dtype and scalar types from its first
        such call, which runs torch's kernel (the kernel also decides the output dtype)."""
        like, verdict_key = _shared_layout(func, args, kwargs)
        if like is None:
            return func(*args, **kwargs)
        if self._follows.get(verdict_key):
            return empty((tuple(like.shape), like.stride(), like.dtype))
        out = func(*args, **kwargs)
        if verdict_key not in self._follows:
            self._follows[verdict_key] = isinstance(out, torch.Tensor) and (
                (out.shape, out.stride(), out.dtype) == (like.shape, like.stride(), like.dtype)
            )
        return out


Layout = tuple[tuple[int, ...], tuple[int, ...], torch.dtype]

#: In-place activations: each returns its input tensor, same shape, strides and dtype.
_IN_PLACE_ACTIVATIONS = frozenset(
    {"relu_", "relu6_", "leaky_relu_", "elu_", "celu_", "selu_", "gelu_", "silu_", "mish_",
     "hardswish_", "hardsigmoid_", "hardtanh_", "sigmoid_", "tanh_"}
)  # fmt: skip


def _in_place_activation(func: Any, args: Any, kwargs: dict[str, Any]) -> bool:
    """An in-place activation of one floating meta tensor (its other arguments plain values)."""
    if func._opname not in _IN_PLACE_ACTIVATIONS or not args:
        return False
    target = args[0]
    return (
        isinstance(target, torch.Tensor)
        and target.device.type == "meta"
        and target.is_floating_point()
        and not any(isinstance(t, torch.Tensor) for t in tree_leaves((args[1:], kwargs)))
    )


def _call_key(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """A hashable key of a call on meta tensors (None when it has other tensors or values)."""
    try:
        return (func, _key(args), _key(tuple(kwargs.items())))
    except _Unkeyable:
        return None


class _Unkeyable(Exception):
    """A call argument that is not a meta tensor or a plain value: the call is not replayed."""


_PLAIN = (
    bool,
    int,
    float,
    str,
    type(None),
    torch.dtype,
    torch.device,
    torch.memory_format,
    torch.layout,
)


def _key(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.device.type != "meta":
            raise _Unkeyable
        return (tuple(value.shape), value.stride(), value.storage_offset(), value.dtype)
    if isinstance(value, (tuple, list)):
        return (type(value), *(_key(v) for v in value))
    if isinstance(value, _PLAIN):
        return (type(value), value)
    raise _Unkeyable


def _shared_layout(func: Any, args: Any, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(tensor, verdict key)`` when ``func`` is pointwise and all its tensor arguments have
    one dense (contiguous or channels-last) layout, else ``(None, None)``."""
    if torch.Tag.pointwise not in func.tags:
        return None, None
    leaves = tree_leaves((args, kwargs))
    tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
    if not tensors:
        return None, None
    first = tensors[0]
    if not (first.is_contiguous() or first.is_contiguous(memory_format=torch.channels_last)):
        return None, None
    layout = (first.shape, first.stride(), first.dtype)
    if any((t.shape, t.stride(), t.dtype) != layout for t in tensors[1:]):
        return None, None
    scalars = tuple(type(v) for v in leaves if not isinstance(v, torch.Tensor))
    return first, (func, first.dtype, len(tensors), scalars)


def _fresh_layout(out: Any, args: Any) -> tuple[list[Layout | None], Any] | None:
    """The output layout to replay, when every output is a fresh, dense, unshared tensor."""
    leaves, spec = tree_flatten(out)
    inputs = {t.untyped_storage()._cdata for t in tree_leaves(args) if isinstance(t, torch.Tensor)}
    seen: set[int] = set()
    layouts: list[Layout | None] = []
    for leaf in leaves:
        if leaf is None:
            layouts.append(None)
            continue
        if not isinstance(leaf, torch.Tensor) or leaf.storage_offset() != 0:
            return None
        storage = leaf.untyped_storage()
        if storage._cdata in inputs or storage._cdata in seen:
            return None
        seen.add(storage._cdata)
        layout = (tuple(leaf.shape), leaf.stride(), leaf.dtype)
        if storage.nbytes() != empty(layout).untyped_storage().nbytes():
            return None
        layouts.append(layout)
    return layouts, spec


def empty(layout: Layout | None) -> torch.Tensor | None:
    """A fresh meta tensor with ``layout``, made below any dispatch mode (it is no op's output)."""
    if layout is None:
        return None
    shape, stride, dtype = layout
    with _disable_current_modes():
        return torch.empty_strided(shape, stride, dtype=dtype, device="meta")
