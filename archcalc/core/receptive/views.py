"""Rules for operators that move values without mixing positions: views, permutes, reshapes,
slices, splits, concatenations, pads, rolls, copies and element-wise operators.

Same signature as ``archcalc.core.receptive.rules`` (which gathers every rule in ``RULES``):
``(args, kwargs, out, inputs)`` -> the output's ``State`` or a list of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import torch

from archcalc.core.receptive import axis as receptive
from archcalc.core.receptive.axis import Axis
from archcalc.core.receptive.dims import Dims, permute, reshape, spatial
from archcalc.core.receptive.state import State, merge, one, other, unknown

__all__ = [
    "arg",
    "broadcast_dims",
    "cat",
    "copy",
    "first_output",
    "pad",
    "permute_rule",
    "piece",
    "pointwise",
    "roll",
    "same",
    "select",
    "shifted",
    "slice_rule",
    "split",
    "unbind",
    "view",
]


def arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    """Argument ``i`` (or keyword ``name``) of a dispatched operator, else ``default``."""
    return args[i] if len(args) > i else kwargs.get(name, default)


def first_output(out: Any) -> torch.Tensor:
    """The main output of an operator that may return several (values beside indices)."""
    return out[0] if isinstance(out, (tuple, list)) else out


def broadcast_dims(out: torch.Tensor, inputs: list[tuple[torch.Tensor, State]]) -> Dims:
    """The dims of a broadcasting result: each from an input of that size holding positions."""
    shape = out.shape
    if len(inputs) == 1 and inputs[0][0].shape == shape:  # the common case, read directly
        return tuple(a or b for a, b in zip(inputs[0][1].dims, other(shape), strict=True))
    n = len(shape)
    dims = list(other(shape))
    for t, st in inputs:
        shift = n - t.dim()
        for i, atoms in enumerate(st.dims[: t.dim()]):
            j = i + shift
            fits = 0 <= j < n and t.shape[i] == shape[j] and atoms
            if fits and (spatial(atoms) or not spatial(dims[j])):
                dims[j] = atoms
    return tuple(dims)


def pointwise(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """Element-wise with broadcasting: a global input broadcast over the map (size 1 there, or
    expanded with stride 0) is a gate; one as large as the map (a token-mixing MLP's output,
    whose tokens archcalc cannot name) stays global."""
    first = first_output(out)
    dims = broadcast_dims(first, inputs)
    if len(inputs) == 1:
        st = inputs[0][1]
        if dims == st.dims and st.spatial and st.h is not None and st.w is not None:
            return st  # an activation or scaling of one map: what ``merge`` would rebuild
    n = first.dim()
    where = [j for j, atoms in enumerate(dims) if spatial(atoms)]
    states = []
    for t, st in inputs:
        shift = n - t.dim()
        full = all(
            j >= shift and t.shape[j - shift] == first.shape[j] and t.stride(j - shift) != 0
            for j in where
        )  # an expanded view (stride 0) is a broadcast
        states.append(st.on(dims) if full and not st.spatial else st)
    return merge(states, dims)


def copy(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """``dst.copy_(src)``: the destination takes the source's state."""
    src = [st for t, st in inputs if t is args[1]]
    return src[0].on(broadcast_dims(out, inputs[-1:])) if src else inputs[0][1]


def view(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """A view or reshape: the atoms regrouped (``archcalc.core.receptive.dims``)."""
    st = inputs[0][1]
    found = reshape(st.dims, out.shape)
    if found is None:
        return unknown(other(out.shape), "a reshape archcalc cannot follow")
    dims, split = found
    if split and st.context != "global":
        return unknown(dims, "a reshape splits a map axis (window partition or space-to-depth)")
    return st.on(dims)


def permute_rule(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """``permute``, ``transpose`` and ``t``: the dims reordered."""
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
    return st.on(permute(st.dims, order))


def same(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> Any:
    """Operators that keep every value in place (copies, dropout in eval, hard-swish)."""
    state = pointwise(args, kwargs, out, inputs)
    return [state] + [None] * (len(out) - 1) if isinstance(out, (tuple, list)) else state


def _shift(st: State, d: int, size: int, step: Callable[[Axis], Axis]) -> State | None:
    """Apply ``step`` to the axis held alone by dim ``d``; None when ``d`` holds no single axis."""
    atoms = st.dims[d]
    dims = tuple(one(k, size) if i == d else a for i, a in enumerate(st.dims) for k in [_kind(a)])
    if not spatial(atoms):
        return st.on(dims)
    if st.h is None or st.w is None or len(atoms) != 1 or atoms[0][0] not in "hw":
        return None
    axis = "h" if atoms[0][0] == "h" else "w"
    return replace(st, dims=dims, **{axis: step(getattr(st, axis))})


def _kind(atoms: tuple[Any, ...]) -> str:
    """The kind of a dim held by one atom, else ``o``."""
    return atoms[0][0] if len(atoms) == 1 else "o"


def slice_rule(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """A slice: along a map axis a crop (start) with a step; elsewhere a smaller dim."""
    x, st = inputs[0]
    d = arg(args, kwargs, 1, "dim", 0) % x.dim()
    start = arg(args, kwargs, 2, "start", None) or 0
    step = arg(args, kwargs, 4, "step", 1)
    start = max(start + x.shape[d], 0) if start < 0 else min(start, x.shape[d])
    size = out.shape[d]
    if size == x.shape[d]:
        return st.on(broadcast_dims(out, inputs[:1]))
    found = _shift(st, d, size, lambda a: receptive.index_map(a, step, start, 0))
    if found is not None:
        return found
    kept = tuple(("x" if k in "hwX" else k, size) for k, _ in st.dims[d][:1])
    return st.on(tuple(kept if i == d else a for i, a in enumerate(st.dims)))


def pad(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """A pad (constant, reflection, replication): cells move by the left pad."""
    x, st = inputs[0]
    pads = list(args[1])
    for i in range(len(pads) // 2):
        d = x.dim() - 1 - i
        left = pads[2 * i]
        found = _shift(st, d, out.shape[d], partial(shifted, -left))
        if found is None:
            return unknown(other(out.shape), "padding of a token axis")
        st = found
    return st


def roll(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """A roll along map axes: in the interior, cells move by the shift (Swin)."""
    x, st = inputs[0]
    shifts, dims = list(args[1]), list(arg(args, kwargs, 2, "dims", []))
    for shift, d in zip(shifts, dims, strict=False):
        found = _shift(st, d % x.dim(), x.shape[d], partial(shifted, -shift))
        if found is None:
            return unknown(st.dims, "a roll of a token axis")
        st = found
    return st


def shifted(start: int, axis: Axis) -> Axis:
    """Cell ``o`` reads cell ``o + start`` (a pad, a roll in the map's interior)."""
    return receptive.index_map(axis, 1, start, 0)


def split(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> list[State]:
    """``split``/``split_with_sizes``: one piece per output."""
    x, st = inputs[0]
    d = arg(args, kwargs, 2, "dim", 0) % x.dim()
    return [piece(st, x, t, d) for t in out]


def unbind(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> list[State]:
    """``unbind``: one piece per output, the dim removed."""
    x, st = inputs[0]
    d = arg(args, kwargs, 1, "dim", 0) % x.dim()
    return [piece(st, x, t, d) for t in out]


def select(args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """``select``: one index along a dim, the dim removed."""
    x, st = inputs[0]
    return piece(st, x, out, args[1] % x.dim())


def piece(st: State, x: torch.Tensor, t: torch.Tensor, d: int) -> State:
    """A piece of ``x`` along dim ``d`` (split, unbind, select)."""
    if spatial(st.dims[d]) and st.context != "global":
        return unknown(other(t.shape), "a split or selection along a map axis")
    dims = list(st.dims)
    if t.dim() == x.dim():
        dims[d] = one("o", t.shape[d])
    else:
        del dims[d]
    return st.on(tuple(dims))


def cat(stack: bool, args: Any, kwargs: Any, out: Any, inputs: list[Any]) -> State:
    """``cat``/``stack``: along channels a union; along the map only beside prefix tokens."""
    d = arg(args, kwargs, 1, "dim", 0) % out.dim()
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
        aligned.append(st.on(tuple(dims)))
    dims = broadcast_dims(out, [(out, s) for s in aligned])
    return merge(aligned, dims)
