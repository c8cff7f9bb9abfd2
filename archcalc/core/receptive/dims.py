"""Where a tensor keeps the map's rows and columns: dims as runs of atoms, through reshapes.

Each dimension of a tracked tensor is a tuple of atoms ``(kind, size)`` in row-major order:
``h`` (the map's rows), ``w`` (its columns), ``X`` (every map position, order lost: tokens
beside prefix tokens, the keys of an attention matrix), ``h.``/``w.`` (the inner cells of
an axis split into blocks: a window partition or a space-to-depth; the outer part stays
``h``/``w``), ``x`` (part of the map in an order archcalc does not follow) and ``o``
(anything else: batch, channels, heads). Size-1 atoms are dropped: they hold no position.
A flatten of ``(H, W)`` into tokens gives one dim ``(h, w)``; splitting it back restores both
axes, and ``(h, h.)`` side by side merge back into ``h`` (a window reverse).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "INNER",
    "SPATIAL",
    "Atom",
    "Dims",
    "contract",
    "inner",
    "permute",
    "plain",
    "reshape",
    "spatial",
    "whole",
]

Atom = tuple[str, int]
Dims = tuple[tuple[Atom, ...], ...]

#: Atom kinds that hold map positions.
SPATIAL = frozenset(("h", "w", "X", "x", "h.", "w."))
#: The inner cells of a blocked axis, by axis.
INNER = {"h.": "h", "w.": "w"}


def inner(dims: Sequence[Sequence[Atom]]) -> dict[str, int]:
    """Blocked axes among ``dims``: axis -> block size (the inner atoms' size)."""
    return {INNER[k]: n for atoms in dims for k, n in atoms if k in INNER}


def plain(atoms: Sequence[Atom]) -> bool:
    """Whether a dim holds map positions other than blocks' inner cells."""
    return any(kind in SPATIAL and kind not in INNER for kind, _ in atoms)


@lru_cache(maxsize=4096)
def spatial(atoms: tuple[Atom, ...]) -> bool:
    """Whether a dim holds map positions (cached: asked of every dim of every operator)."""
    return any(kind in SPATIAL for kind, _ in atoms)


def whole(atoms: Sequence[Atom]) -> bool:
    """Whether a dim holds every map position (both axes whole, or an unordered whole map)."""
    kinds = {kind for kind, _ in atoms}
    return "X" in kinds or {"h", "w"} <= kinds


@lru_cache(maxsize=4096)
def reshape(dims: Dims, shape: tuple[int, ...]) -> tuple[Dims, bool] | None:
    """Dims of a row-major reshape to ``shape``, and whether a map axis was split
    (None when the sizes do not line up; cached: every block repeats its views)."""
    queue = deque(atom for dim in dims for atom in dim)
    out: list[tuple[Atom, ...]] = []
    split = False
    for size in shape:
        need, got = size, []
        while need > 1:
            if not queue:
                return None
            kind, n = queue[0]
            if need % n == 0:
                got.append((kind, n))
                need //= n
                queue.popleft()
            elif n % need == 0:
                outer, rest = _split(kind)
                split = split or outer == "x"
                got.append((outer, need))
                queue[0] = (rest, n // need)
                need = 1
            else:
                return None
        out.append(_joined(got))
    return (tuple(out), split) if not queue else None


def _split(kind: str) -> tuple[str, str]:
    """Kinds of the outer and inner parts of a split atom."""
    if kind in ("h", "w"):
        return kind, kind + "."
    return ("x", "x") if kind in SPATIAL else (kind, kind)


def _joined(atoms: list[Atom]) -> tuple[Atom, ...]:
    """Atoms with each ``(h, m), (h., b)`` pair side by side merged back into ``(h, m * b)``."""
    out: list[Atom] = []
    for kind, n in atoms:
        if out and kind in INNER and out[-1][0] == INNER[kind]:
            out[-1] = (out[-1][0], out[-1][1] * n)
        else:
            out.append((kind, n))
    return tuple(out)


def permute(dims: Dims, order: Sequence[int]) -> Dims:
    """Dims reordered as ``torch.permute`` does."""
    n = len(dims)
    return tuple(dims[d % n] for d in order)


def contract(out_dims: Sequence[Sequence[Atom]]) -> Dims:
    """The dims of a contraction's result: where two dims hold map positions (an attention
    matrix: queries by keys), the later ones become unordered (``X`` or ``x``)."""
    seen = False
    result = []
    for atoms in out_dims:
        if plain(atoms) and seen:
            kind = "X" if whole(atoms) else "x"
            atoms = tuple((kind if k in SPATIAL and k not in INNER else k, n) for k, n in atoms)
        seen = seen or plain(atoms)
        result.append(tuple(atoms))
    return tuple(result)
