"""One tensor's receptive-field state and how states combine (used by the tracker,
``archcalc.core.receptive.tracker``).

A ``State`` says which dims of the tensor hold the map (``archcalc.core.receptive.dims`` atoms),
what each cell sees along the rows and columns (``archcalc.core.receptive.Axis``) and its
context: ``local``, ``gate`` (global context also reaches every cell), ``global`` (every cell
sees the whole input) or ``unknown`` (with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from archcalc.core.receptive import axis as receptive
from archcalc.core.receptive.axis import Axis
from archcalc.core.receptive.dims import Atom, Dims, spatial
from archcalc.results import ReceptiveField

__all__ = ["State", "merge", "one", "other", "strongest", "unknown"]

_RANK = {"local": 0, "gate": 1, "unknown": 2, "global": 3}


@dataclass(frozen=True)
class State:
    """What one tensor's cells see: its dims' atoms, the field per axis, the context."""

    dims: Dims
    h: Axis | None
    w: Axis | None
    context: str = "local"
    reason: str | None = None

    @cached_property
    def spatial(self) -> bool:
        """Whether the tensor still holds map positions (False once pooled to a vector)."""
        return any(spatial(dim) for dim in self.dims)

    def on(self, dims: Dims) -> State:
        """The same field on other dims (a view, a permute, a smaller tensor): ``replace``
        without its introspection, since nearly every operator asks for it."""
        return State(dims, self.h, self.w, self.context, self.reason)

    def field(self) -> ReceptiveField:
        """The summary stored on stages and profiles."""
        if self.context in ("global", "unknown") or self.h is None or self.w is None:
            context = "unknown" if self.context in ("local", "gate") else self.context
            reason = self.reason
            if context == "unknown" and reason is None:  # an axis shrank to one cell on the way
                reason = "a map axis shrank to a single cell, where its field is no longer followed"
            return ReceptiveField(None, None, context, reason)
        jumps = (self.h.jump, self.w.jump)
        whole = all(isinstance(j, int) for j in jumps)
        stride = (int(jumps[0]), int(jumps[1])) if whole else None
        return ReceptiveField((self.h.size, self.w.size), stride, self.context)


def strongest(context: str, reason: str | None, other: str, why: str | None) -> tuple[str, Any]:
    """The stronger of two contexts (global > unknown > gate > local) with its reason."""
    return (other, why) if _RANK[other] > _RANK[context] else (context, reason)


def merge(states: Sequence[State], dims: Dims) -> State:
    """The state of a result combining ``states`` cell by cell onto ``dims``: spatial inputs
    unite their fields (a residual sum sees what either path sees); a global input without map
    positions, broadcast onto a map, is a gate (squeeze-and-excitation)."""
    spatial_out = any(spatial(dim) for dim in dims)
    h: Axis | None = None
    w: Axis | None = None
    context, reason = "local", None
    for st in states:
        ctx = st.context
        if st.spatial and st.h is not None and st.w is not None:
            h = st.h if h is None else receptive.union(h, st.h)
            w = st.w if w is None else receptive.union(w, st.w)
            if h is None or w is None:
                return unknown(dims, "paths whose cells are spaced differently meet")
        elif not st.spatial and spatial_out and ctx == "global":
            ctx = "gate"
        context, reason = strongest(context, reason, ctx, st.reason)
    if spatial_out and (h is None or w is None) and context in ("local", "gate"):
        return unknown(dims, "map positions of unknown origin")
    return State(dims, h, w, context, reason)


def unknown(dims: Dims, why: str) -> State:
    """A state whose field cannot be analysed, saying why."""
    return State(dims, None, None, "unknown", why)


@lru_cache(maxsize=4096)
def one(kind: str, n: int) -> tuple[Atom, ...]:
    """The atoms of a dim of size ``n``: none when it is 1."""
    return ((kind, n),) if n > 1 else ()


@lru_cache(maxsize=4096)
def other(shape: tuple[int, ...]) -> Dims:
    """Dims of a tensor that holds no map positions (cached by shape)."""
    return tuple(one("o", n) for n in shape)
