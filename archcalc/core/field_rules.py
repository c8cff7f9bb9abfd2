"""One rule per operator family: the state of an operator's outputs from its inputs' states.

Every rule takes ``(args, kwargs, out, inputs)`` -- the dispatched operator's arguments, its
output and the ``(tensor, State)`` pairs of its tracked inputs -- and returns the output's
``State`` (or a list, one per output). ``RULES`` maps ``aten`` overload packets to rules;
``archcalc.core.fields`` falls back to a union for point-wise operators and to ``unknown``
for anything else that touches a tracked tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import torch

from archcalc.core import receptive
from archcalc.core.field_state import State, merge, one, other, strongest, unknown
from archcalc.core.receptive import Axis
from archcalc.core.reshape import Dims, contract, inner, permute, plain, reshape, spatial, whole

__all__ = ["RULES", "SHAPE_ONLY", "broadcast_dims", "pointwise"]

Rule = Callable[[tuple[Any, ...], dict[str, Any], Any, list[tuple[torch.Tensor, State]]], Any]
_aten = torch.ops.aten


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def broadcast_dims(out: torch.Tensor, inputs: list[tuple[torch.Tensor, State]]) -> Dims:
    """The dims of a broadcasting result: each from an input of that size holding positions."""
    n = out.dim()
    dims = list(other(out.shape))
    for t, st in inputs:
        shift = n - t.dim()
        for i, atoms in enumerate(st.dims[: t.dim()]):
            j = i + shift
            fits = 0 <= j < n and t.shape[i] == out.shape[j] and atoms
            if fits and (spatial(atoms) or not spatial(dims[j])):
                dims[j] = atoms
    return tuple(dims)


def pointwise(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """Element-wise with broadcasting: a global input broadcast over the map (size 1 there, or
    expanded with stride 0) is a gate; one as large as the map (a token-mixing MLP's output,
    whose tokens archcalc cannot name) stays global."""
    first = _first(out)
    dims = broadcast_dims(first, inputs)
    n = first.dim()
    where = [j for j, atoms in enumerate(dims) if spatial(atoms)]
    states = []
    for t, st in inputs:
        shift = n - t.dim()
        full = all(
            j >= shift and t.shape[j - shift] == first.shape[j] and t.stride(j - shift) != 0
            for j in where
        )  # an expanded view (stride 0) is a broadcast
        states.append(replace(st, dims=dims) if full and not st.spatial else st)
    return merge(states, dims)


def _copy(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """``dst.copy_(src)``: the destination takes the source's state."""
    src = [st for t, st in inputs if t is args[1]]
    return replace(src[0], dims=broadcast_dims(out, inputs[-1:])) if src else inputs[0][1]


def _on_map(x: torch.Tensor, st: State) -> bool:
    """Whether ``x`` (N, C, H, W) holds the map's rows in dim 2 and its columns in dim 3."""
    if x.dim() != 4 or spatial(st.dims[0]) or spatial(st.dims[1]):
        return False
    return st.dims[2] == one("h", x.shape[2]) and st.dims[3] == one("w", x.shape[3])


def _planar(x: torch.Tensor, st: State, out: torch.Tensor, step: Callable[[Axis, int], Axis],
            what: str) -> State:  # fmt: skip
    """Apply ``step(axis, i)`` (i = 0: rows, 1: columns) to an NCHW map."""
    if not st.spatial:
        return replace(st, dims=other(out.shape))
    if st.h is None or st.w is None:
        return replace(st, dims=broadcast_dims(out, [(x, st)]))
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
            return replace(st, dims=other(out.shape))
        return unknown(other(out.shape), f"{len(kernel)}-d or transposed convolution")

    def step(axis: Axis, i: int) -> Axis:
        span = (kernel[i] - 1) * _at(dilation, i, 1)
        return receptive.index_map(axis, _at(stride, i, 1), -_at(padding, i, 0), span)

    return _planar(x, st, out, step, "a convolution")


def _pool(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    kernel = args[1]
    stride = _arg(args, kwargs, 2, "stride", None)
    padding = _arg(args, kwargs, 3, "padding", 0)
    dilation = _arg(args, kwargs, 4, "dilation", 1)
    dilation = dilation if isinstance(dilation, (int, list, tuple)) else 1

    def step(axis: Axis, i: int) -> Axis:
        k = _at(kernel, i, 1)
        span = (k - 1) * _at(dilation, i, 1)
        return receptive.index_map(axis, _at(stride, i, k), -_at(padding, i, 0), span)

    return _planar(x, st, _first(out), step, "a pooling")


def _avg_pool(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """avg_pool2d(x, kernel, stride, padding, ceil_mode, ...): no dilation argument."""
    return _pool((*args[:4], 1), kwargs, out, inputs)


def _adaptive(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    first = _first(out)
    ins, outs = tuple(x.shape[-2:]), tuple(first.shape[-2:])
    if ins == outs:
        return replace(st, dims=broadcast_dims(first, inputs))
    if outs == (1, 1):
        return _reduced(st, x, first, [x.dim() - 2, x.dim() - 1])
    if any(i % o for i, o in zip(ins, outs, strict=True)):
        return unknown(other(first.shape), "adaptive pooling to a size that does not divide")

    def step(axis: Axis, i: int) -> Axis:
        k = ins[i] // outs[i]
        return receptive.index_map(axis, k, 0, k - 1)

    return _planar(x, st, first, step, "an adaptive pooling")


def _upsample(mode: str, args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
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
        return replace(st, dims=left)
    if any(spatial(a) for a in left):
        return unknown(left, "a reduction over one axis of the map")
    context, reason = strongest("global", None, st.context, st.reason)
    return State(left, None, None, context, reason)


def _reduce(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
    x, st = inputs[0]
    dims = _arg(args, kwargs, 1, "dim", None)
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    state = _reduced(st, x, _first(out), dims)
    return [state] * len(out) if isinstance(out, (tuple, list)) else state


def _statistics(over: Callable[[Any, torch.Tensor], list[int]]) -> Rule:
    """Norms and softmax: every cell reads statistics over ``over(args, x)`` dims (a gate
    when they include map positions)."""

    def rule(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
        x, st = inputs[0]
        first = _first(out)
        dims = broadcast_dims(first, inputs[:1])
        reduced = [st.dims[d % x.dim()] for d in over(args, x)]
        state = _blockwise(replace(st, dims=dims), reduced, dims)
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
    return next((st.dims for x, st in inputs if x is t), other(t.shape))


def _matmul(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    a, b = (args[1], args[2]) if len(args) > 2 else (args[0], args[1])  # addmm, baddbmm
    da, db = _dims(a, inputs), _dims(b, inputs)
    states = [st for _, st in inputs]
    if a.dim() == 2:
        return _mixing([da[1], db[0]], [da[0], db[1]], states)
    batch = da[0] if spatial(da[0]) or not spatial(db[0]) else db[0]
    return _mixing([da[2], db[1]], [batch, da[1], db[2]], states)


def _attention(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
    q, k = args[0], args[1]
    dq, dk = _dims(q, inputs), _dims(k, inputs)
    state = _mixing([dk[-2]], [*dq[:-1], ()], [st for _, st in inputs])
    return [state] + [None] * (len(out) - 1) if isinstance(out, (tuple, list)) else state


def _view(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    st = inputs[0][1]
    found = reshape(st.dims, out.shape)
    if found is None:
        return unknown(other(out.shape), "a reshape archcalc cannot follow")
    dims, split = found
    if split and st.context != "global":
        return unknown(dims, "a reshape splits a map axis (window partition or space-to-depth)")
    return replace(st, dims=dims)


def _permute(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    n = x.dim()
    if len(args) > 2:  # transpose(x, d0, d1)
        order = list(range(n))
        d0, d1 = args[1] % n, args[2] % n
        order[d0], order[d1] = order[d1], order[d0]
    elif len(args) == 2:
        order = list(args[1])
    else:  # t(x)
        order = list(range(n))[::-1]
    return replace(st, dims=permute(st.dims, order))


def _same(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
    """Operators that keep every value in place (copies, dropout in eval, hard-swish)."""
    state = pointwise(args, kwargs, out, inputs)
    return [state] + [None] * (len(out) - 1) if isinstance(out, (tuple, list)) else state


def _shift(st: State, d: int, size: int, step: Callable[[Axis], Axis]) -> State | None:
    """Apply ``step`` to the axis held alone by dim ``d``; None when ``d`` holds no single axis."""
    atoms = st.dims[d]
    dims = tuple(one(k, size) if i == d else a for i, a in enumerate(st.dims) for k in [_kind(a)])
    if not spatial(atoms):
        return replace(st, dims=dims)
    if st.h is None or st.w is None or len(atoms) != 1 or atoms[0][0] not in "hw":
        return None
    axis = "h" if atoms[0][0] == "h" else "w"
    return replace(st, dims=dims, **{axis: step(getattr(st, axis))})


def _kind(atoms: tuple[Any, ...]) -> str:
    return atoms[0][0] if len(atoms) == 1 else "o"


def _slice(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    d = _arg(args, kwargs, 1, "dim", 0) % x.dim()
    start = _arg(args, kwargs, 2, "start", None) or 0
    step = _arg(args, kwargs, 4, "step", 1)
    start = max(start + x.shape[d], 0) if start < 0 else min(start, x.shape[d])
    size = out.shape[d]
    if size == x.shape[d]:
        return replace(st, dims=broadcast_dims(out, inputs[:1]))
    found = _shift(st, d, size, lambda a: receptive.index_map(a, step, start, 0))
    if found is not None:
        return found
    kept = tuple(("x" if k in "hwX" else k, size) for k, _ in st.dims[d][:1])
    return replace(st, dims=tuple(kept if i == d else a for i, a in enumerate(st.dims)))


def _pad(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    pads = list(args[1])
    for i in range(len(pads) // 2):
        d = x.dim() - 1 - i
        left = pads[2 * i]
        found = _shift(st, d, out.shape[d], partial(_moved, -left))
        if found is None:
            return unknown(other(out.shape), "padding of a token axis")
        st = found
    return st


def _roll(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    shifts, dims = list(args[1]), list(_arg(args, kwargs, 2, "dims", []))
    for shift, d in zip(shifts, dims, strict=False):
        moved = partial(_moved, -shift)
        found = _shift(st, d % x.dim(), x.shape[d], moved)
        if found is None:
            return unknown(st.dims, "a roll of a token axis")
        st = found
    return st


def _moved(start: int, axis: Axis) -> Axis:
    """Cell ``o`` reads cell ``o + start`` (a pad, a roll in the map's interior)."""
    return receptive.index_map(axis, 1, start, 0)


def _split(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> list[State]:
    x, st = inputs[0]
    d = _arg(args, kwargs, 2, "dim", 0) % x.dim()
    return [_part(st, x, t, d) for t in out]


def _unbind(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> list[State]:
    x, st = inputs[0]
    d = _arg(args, kwargs, 1, "dim", 0) % x.dim()
    return [_part(st, x, t, d) for t in out]


def _select(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    x, st = inputs[0]
    return _part(st, x, out, args[1] % x.dim())


def _part(st: State, x: torch.Tensor, t: torch.Tensor, d: int) -> State:
    """A piece of ``x`` along dim ``d`` (split, unbind, select)."""
    if spatial(st.dims[d]) and st.context != "global":
        return unknown(other(t.shape), "a split or selection along a map axis")
    dims = list(st.dims)
    if t.dim() == x.dim():
        dims[d] = one("o", t.shape[d])
    else:
        del dims[d]
    return replace(st, dims=tuple(dims))


def _cat(stack: bool, args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    d = _arg(args, kwargs, 1, "dim", 0) % out.dim()
    aligned = []
    for _, st in inputs:
        dims = list(st.dims)
        if stack:
            dims.insert(d, ())
        elif spatial(dims[d]) and len(inputs) > 1 and st.context != "global":
            return unknown(other(out.shape), "a concatenation along a map axis")
        elif spatial(dims[d]):  # the map beside prefix tokens
            dims[d] = (("X", out.shape[d]),)
        else:
            dims[d] = one("o", out.shape[d])
        aligned.append(replace(st, dims=tuple(dims)))
    dims = broadcast_dims(out, [(out, s) for s in aligned])
    return merge(aligned, dims)


def _upsample_rules(name: str, mode: str) -> dict[Any, Rule]:
    return {getattr(_aten, name): partial(_upsample, mode)} if hasattr(_aten, name) else {}


def _normalized(args: Any, x: torch.Tensor) -> list[int]:
    return list(range(x.dim() - len(args[1]), x.dim()))


def _batch_stats(training_at: int) -> Callable[[Any, torch.Tensor], list[int]]:
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
    _aten._native_batch_norm_legit_no_training: _same,
    **dict.fromkeys(_SOFTMAX, _statistics(lambda args, x: [args[1]])),
    _aten.mm: _matmul,
    _aten.addmm: _matmul,
    _aten.bmm: _matmul,
    _aten.baddbmm: _matmul,
    **dict.fromkeys(_SDPA, _attention),
    _aten.view: _view,
    _aten._unsafe_view: _view,
    _aten.reshape: _view,
    _aten.squeeze: _view,
    _aten.unsqueeze: _view,
    _aten.permute: _permute,
    _aten.transpose: _permute,
    _aten.t: _permute,
    _aten.expand: pointwise,
    _aten.slice: _slice,
    _aten.select: _select,
    _aten.split: _split,
    _aten.split_with_sizes: _split,
    _aten.unbind: _unbind,
    _aten.cat: partial(_cat, False),
    _aten.stack: partial(_cat, True),
    _aten.constant_pad_nd: _pad,
    _aten.reflection_pad2d: _pad,
    _aten.replication_pad2d: _pad,
    _aten.roll: _roll,
    _aten.copy_: _copy,
    _aten.copy: _copy,
    **dict.fromkeys(_COPIES, _same),
}

#: Operators whose result depends on a tracked tensor's shape only (no state).
SHAPE_ONLY = frozenset(
    getattr(_aten, n)
    for n in ("empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
              "new_empty", "new_zeros", "new_ones", "new_full", "new_empty_strided", "fill",
              "zero_", "fill_", "sym_size", "sym_stride", "sym_numel", "size", "stride", "numel")
    if hasattr(_aten, n)
)  # fmt: skip
