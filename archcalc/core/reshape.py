"""Where a tensor keeps the map's rows and columns: dims as runs of atoms, through reshapes.

Each dimension of a tracked tensor is a tuple of atoms ``(kind, size)`` in row-major order:
``h`` (the map's rows), ``w`` (its columns), ``X`` (every map position, order lost: tokens
beside prefix tokens, the keys of an attention matrix), ``x`` (part of the map: an axis split
by a window partition) and ``o`` (anything else: batch, channels, heads). Size-1 atoms are
dropped: they hold no position. A flatten of ``(H, W)`` into tokens gives one dim ``(h, w)``;
splitting it back restores both axes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

__all__ = ["SPATIAL", "Atom", "Dims", "contract", "permute", "reshape", "spatial", "whole"]

Atom = tuple[str, int]
Dims = tuple[tuple[Atom, ...], ...]

#: Atom kinds that hold map positions.
SPATIAL = frozenset("hwXx")


def spatial(atoms: Sequence[Atom]) -> bool:
    """Whether a dim holds map positions."""
    return any(kind in SPATIAL for kind, _ in atoms)


def whole(atoms: Sequence[Atom]) -> bool:
    """Whether a dim holds every map position (both axes whole, or an unordered whole map)."""
    kinds = {kind for kind, _ in atoms}
    return "X" in kinds or {"h", "w"} <= kinds


def reshape(dims: Dims, shape: Sequence[int]) -> tuple[Dims, bool] | None:
    """Dims of a row-major reshape to ``shape``, and whether a map axis was split
    (None when the sizes do not line up)."""
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
                part = "x" if kind in SPATIAL else kind
                split = split or kind in SPATIAL
                got.append((part, need))
                queue[0] = (part, n // need)
                need = 1
            else:
                return None
        out.append(tuple(got))
    return (tuple(out), split) if not queue else None


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
        if spatial(atoms) and seen:
            kind = "X" if whole(atoms) else "x"
            atoms = tuple((kind if k in SPATIAL else k, n) for k, n in atoms)
        seen = seen or spatial(atoms)
        result.append(tuple(atoms))
    return tuple(result)
