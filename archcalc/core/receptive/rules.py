"""One rule per operator family that moves or mixes positions: the state of an operator's
outputs from its inputs' states (views, copies and element-wise rules: ``field_views``).

Every rule takes ``(args, kwargs, out, inputs)`` -- the dispatched operator's arguments, its
output and the ``(tensor, State)`` pairs of its tracked inputs -- and returns the output's
``State`` (or a list, one per output). ``RULES`` maps ``aten`` overload packets to rules;
the tracker (``archcalc.core.receptive.tracker``) falls back to a union for point-wise
operators and to ``unknown`` for anything else that touches a tracked tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import torch

from archcalc.core.receptive import axis as receptive
from archcalc.core.receptive.axis import Axis
from archcalc.core.receptive.dims import Dims, contract, inner, plain, spatial, whole
from archcalc.core.receptive.state import State, merge, one, other, strongest, unknown
from archcalc.core.receptive.views import (
    arg,
    broadcast_dims,
    cat,
    copy,
    first_output,
    pad,
    permute_rule,
    pointwise,
    roll,
    same,
    select,
    slice_rule,
    split,
    unbind,
    view,
)

__all__ = ["RULES", "SHAPE_ONLY"]

Rule = Callable[[tuple[Any, ...], dict[str, Any], Any, list[tuple[torch.Tensor, State]]], Any]
_aten = torch.ops.aten


def _on_map(x: torch.Tensor, st: State) -> bool:
    """Whether ``x`` (N, C, H, W) holds the map's rows in dim 2 and its columns in dim 3."""
    if x.dim() != 4 or spatial(st.dims[0]) or spatial(st.dims[1]):
        return False
    return st.dims[2] == one("h", x.shape[2]) and st.dims[3] == one("w", x.shape[3])


def _planar(x: torch.Tensor, st: State, out: torch.Tensor, step: Callable[[Axis, int], Axis],
            what: str) -> State:  # fmt: skip
    """Apply ``step(axis, i)`` (i = 0: rows, 1: columns) to an NCHW map."""
    if not st.spatial:
        return st.on(other(out.shape))
    if st.h is None or st.w is None:
        return st.on(broadcast_dims(out, [(x, st)]))
    if not _on_map(x, st):
        return unknown(other(out.shape), f"{what} over dims that are not the map's rows/columns")
    dims = (st.dims[0], one("o", out.shape[1]), one("h", out.shape[2]), one("w", out.shape[3]))
    return replace(st, dims=dims, h=step(st.h, 0), w=step(st.w, 1))


def _at(value: Any, i: int, default: int) -> int:
    """Entry ``i`` of a per-axis argument given as an int, a one-entry or a full list."""
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return default
    if isinstance(value, int):
        return value
    return int(value[i] if len(value) > i else value[0])


def _conv(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """Convolution: kernel, stride, padding and dilation per axis (1x1/1: point-wise)."""
    x, weight, stride, padding, dilation, transposed = args[0], args[1], *args[3:7]
    st = next((s for t, s in inputs if t is x), None)
    if st is None:  # a tracked weight (dynamic kernels): the weights see the input
        return merge([s for _, s in inputs], other(out.shape))
    if inner(st.dims[1:2]):  # space-to-depth: the channels hold blocks' inner cells
        dims = (st.dims[0], (), *st.dims[2:])
        st = _blockwise(st, st.dims[1:2], dims)
        inputs = [(x, st)]
    kernel = tuple(weight.shape[2:])
    pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in stride) and not any(padding)
    if pointwise and not transposed:
        return merge([s for _, s in inputs], broadcast_dims(out, inputs[:1]))
    if len(kernel) != 2 or transposed:
        if not st.spatial:
            return st.on(other(out.shape))
        return unknown(other(out.shape), f"{len(kernel)}-d or transposed convolution")

    def step(axis: Axis, i: int) -> Axis:
        span = (kernel[i] - 1) * _at(dilation, i, 1)
        return receptive.index_map(axis, _at(stride, i, 1), -_at(padding, i, 0), span)

    return _planar(x, st, out, step, "a convolution")


def _pool(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """Max pooling (and, through ``_avg_pool``, average pooling): like a convolution."""
    x, st = inputs[0]
    kernel = args[1]
    stride = arg(args, kwargs, 2, "stride", None)
    padding = arg(args, kwargs, 3, "padding", 0)
    dilation = arg(args, kwargs, 4, "dilation", 1)
    dilation = dilation if isinstance(dilation, (int, list, tuple)) else 1

    def step(axis: Axis, i: int) -> Axis:
        k = _at(kernel, i, 1)
        span = (k - 1) * _at(dilation, i, 1)
        return receptive.index_map(axis, _at(stride, i, k), -_at(padding, i, 0), span)

    return _planar(x, st, first_output(out), step, "a pooling")


def _avg_pool(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """avg_pool2d(x, kernel, stride, padding, ceil_mode, ...): no dilation argument."""
    return _pool((*args[:4], 1), kwargs, out, inputs)


def _adaptive(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """Adaptive pooling: to 1x1 a global reduction; to a divisor, kernel = stride."""
    x, st = inputs[0]
    first = first_output(out)
    ins, outs = tuple(x.shape[-2:]), tuple(first.shape[-2:])
    if ins == outs:
        return st.on(broadcast_dims(first, inputs))
    if outs == (1, 1):
        return _reduced(st, x, first, [x.dim() - 2, x.dim() - 1])
    if any(i % o for i, o in zip(ins, outs, strict=True)):
        return unknown(other(first.shape), "adaptive pooling to a size that does not divide")

    def step(axis: Axis, i: int) -> Axis:
        k = ins[i] // outs[i]
        return receptive.index_map(axis, k, 0, k - 1)

    return _planar(x, st, first, step, "an adaptive pooling")


def _upsample(mode: str, args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """Integer nearest or bilinear upsampling (aligned corners: unknown)."""
    x, st = inputs[0]
    aligned = mode == "bilinear" and args[2] is True
    pairs = list(zip(x.shape[2:], out.shape[2:], strict=True))
    factors = [o // i if o % i == 0 else 0 for i, o in pairs]
    if aligned or 0 in factors:
        return unknown(other(out.shape), f"{mode} upsampling with aligned corners or a fraction")
    return _planar(
        x, st, out, lambda a, i: receptive.upsample(a, factors[i], mode), "an upsampling"
    )


def _reduced(st: State, x: torch.Tensor, out: torch.Tensor, dims: list[int]) -> State:
    """A reduction over ``dims``: over every map position it sees the whole input."""
    n = x.dim()
    axes = {d % n for d in dims} if dims else set(range(n))
    kept = [atoms if d not in axes else () for d, atoms in enumerate(st.dims)]
    left = tuple(kept) if out.dim() == n else tuple(a for d, a in enumerate(kept) if d not in axes)
    if not any(spatial(st.dims[d]) for d in axes):
        return st.on(left)
    if any(spatial(a) for a in left):
        return unknown(left, "a reduction over one axis of the map")
    context, reason = strongest("global", None, st.context, st.reason)
    return State(left, None, None, context, reason)


def _reduce(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
    """mean/sum/amax/var/...: over the map a global reduction, else a smaller tensor."""
    x, st = inputs[0]
    dims = arg(args, kwargs, 1, "dim", None)
    if isinstance(dims, float):  # linalg_vector_norm(x, ord, dim, ...): the order comes first
        dims = arg(args, kwargs, 2, "dim", None)
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    state = _reduced(st, x, first_output(out), dims)
    return [state] * len(out) if isinstance(out, (tuple, list)) else state


def _statistics(over: Callable[[Any, torch.Tensor], list[int]]) -> Rule:
    """Norms and softmax: every cell reads statistics over ``over(args, x)`` dims (a gate
    when they include map positions)."""

    def rule(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
        x, st = inputs[0]
        first = first_output(out)
        dims = broadcast_dims(first, inputs[:1])
        reduced = [st.dims[d % x.dim()] for d in over(args, x)]
        state = _blockwise(st.on(dims), reduced, dims)
        if any(plain(a) for a in reduced):
            context, reason = strongest(st.context, st.reason, "gate", None)
            state = replace(state, context=context, reason=reason)
        return [state] + [None] * (len(out) - 1) if isinstance(out, (tuple, list)) else state

    return rule


def _blockwise(st: State, over: Any, dims: Dims) -> State:
    """Mixing over blocks' inner cells: a window (attention, statistics: the result keeps the
    inner cells) or a kernel = stride = block step (patch merging, space-to-depth)."""
    blocks = inner(over)
    if not blocks or st.h is None or st.w is None:
        return st
    kept = inner(dims)
    axes = {}
    for axis, b in blocks.items():
        old = getattr(st, axis)
        keep = kept.get(axis) == b
        axes[axis] = receptive.window(old, b) if keep else receptive.index_map(old, b, 0, b - 1)
    return replace(st, dims=dims, **axes)


def _mixing(contracted: list[Any], out_dims: list[Any], states: list[State]) -> State:
    """A contraction: over blocks it is local, over every map position it is global."""
    dims = contract(out_dims)
    st = _blockwise(merge(states, dims), contracted, dims)
    if not any(plain(a) for a in contracted):
        return st
    if not any(whole(a) for a in contracted):
        return unknown(dims, "attention or mixing over part of the map in an unknown order")
    return State(dims, None, None, "global")


def _dims(t: Any, inputs: list[Any]) -> Dims:
    """A tensor argument's dims (an untracked one holds no positions)."""
    return next((st.dims for x, st in inputs if x is t), other(t.shape))


def _matmul(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """mm/addmm/bmm/baddbmm: a contraction (see ``_mixing``)."""
    a, b = (args[1], args[2]) if len(args) > 2 else (args[0], args[1])  # addmm, baddbmm
    da, db = _dims(a, inputs), _dims(b, inputs)
    states = [st for _, st in inputs]
    if a.dim() == 2:
        return _mixing([da[1], db[0]], [da[0], db[1]], states)
    batch = da[0] if spatial(da[0]) or not spatial(db[0]) else db[0]
    return _mixing([da[2], db[1]], [batch, da[1], db[2]], states)


def _attention(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
    """Scaled-dot-product attention: each query mixes every key position."""
    q, k = args[0], args[1]
    dq, dk = _dims(q, inputs), _dims(k, inputs)
    state = _mixing([dk[-2]], [*dq[:-1], ()], [st for _, st in inputs])
    return [state] + [None] * (len(out) - 1) if isinstance(out, (tuple, list)) else state


def _upsample_rules(name: str, mode: str) -> dict[Any, Rule]:
    """The rule for one upsampling operator, where this torch has it."""
    return {getattr(_aten, name): partial(_upsample, mode)} if hasattr(_aten, name) else {}


def _normalized(args: Any, x: torch.Tensor) -> list[int]:
    """layer norm: the normalised trailing dims."""
    return list(range(x.dim() - len(args[1]), x.dim()))


def _batch_stats(training_at: int) -> Callable[[Any, torch.Tensor], list[int]]:
    """batch norm: statistics over the map only in training mode."""
    return lambda args, x: list(range(2, x.dim())) if args[training_at] else []


_SOFTMAX = [
    getattr(_aten, n) for n in ("_softmax", "_log_softmax", "_safe_softmax") if hasattr(_aten, n)
]
_SDPA = [getattr(_aten, n) for n in dir(_aten) if n.startswith("_scaled_dot_product")]

_COPIES = [
    getattr(_aten, n)
    for n in ("alias", "detach", "_to_copy", "lift_fresh_copy", "hardswish", "hardswish_",
              "native_dropout", "contiguous", "clone")
]  # fmt: skip

#: Operator -> rule (point-wise operators without an entry are handled as unions).
RULES: dict[Any, Rule] = {
    _aten.convolution: _conv,
    _aten.max_pool2d_with_indices: _pool,
    _aten.max_pool2d: _pool,
    _aten.avg_pool2d: _avg_pool,
    _aten._adaptive_avg_pool2d: _adaptive,
    _aten.adaptive_max_pool2d: _adaptive,
    **_upsample_rules("upsample_nearest2d", "nearest"),
    **_upsample_rules("_upsample_nearest_exact2d", "nearest"),
    **_upsample_rules("upsample_bilinear2d", "bilinear"),
    _aten.mean: _reduce,
    _aten.sum: _reduce,
    _aten.amax: _reduce,
    _aten.amin: _reduce,
    _aten.var: _reduce,
    _aten.std: _reduce,
    _aten.var_mean: _reduce,
    _aten.linalg_vector_norm: _reduce,
    _aten.native_layer_norm: _statistics(_normalized),
    _aten.native_group_norm: _statistics(lambda args, x: list(range(2, x.dim()))),
    _aten._native_batch_norm_legit: _statistics(_batch_stats(5)),
    _aten.native_batch_norm: _statistics(_batch_stats(5)),
    _aten._native_batch_norm_legit_no_training: same,
    **dict.fromkeys(_SOFTMAX, _statistics(lambda args, x: [args[1]])),
    _aten.mm: _matmul,
    _aten.addmm: _matmul,
    _aten.bmm: _matmul,
    _aten.baddbmm: _matmul,
    **dict.fromkeys(_SDPA, _attention),
    _aten.view: view,
    _aten._unsafe_view: view,
    _aten.reshape: view,
    _aten.squeeze: view,
    _aten.unsqueeze: view,
    _aten.permute: permute_rule,
    _aten.transpose: permute_rule,
    _aten.t: permute_rule,
    _aten.expand: pointwise,
    _aten.slice: slice_rule,
    _aten.select: select,
    _aten.split: split,
    _aten.split_with_sizes: split,
    _aten.unbind: unbind,
    _aten.cat: partial(cat, False),
    _aten.stack: partial(cat, True),
    _aten.constant_pad_nd: pad,
    _aten.reflection_pad2d: pad,
    _aten.replication_pad2d: pad,
    _aten.roll: roll,
    _aten.copy_: copy,
    _aten.copy: copy,
    **dict.fromkeys(_COPIES, same),
}

#: Operators whose result depends on a tracked tensor's shape only (no state).
SHAPE_ONLY = frozenset(
    getattr(_aten, n)
    for n in ("empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
              "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided", "fill",
              "zero_", "fill_", "sym_size", "sym_stride", "sym_numel", "size", "stride", "numel")
    if hasattr(_aten, n)
)  # fmt: skip
