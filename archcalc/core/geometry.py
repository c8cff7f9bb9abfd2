"""Pure size arithmetic (no torch): resolutions, stride factors, token grids and alignment.

A "map" is a (height, width) pair of ints; a stride is an int per axis. Convolutions and
pools shrink a side ``n`` by a factor ``f`` to ``ceil(n / f)`` ("same" padding) or
``floor(n / f)`` (patchify, "valid" pooling), so that is what the inference below accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from archcalc.errors import InvalidResolutionError

__all__ = [
    "MAX_SIDE",
    "aligned_neighbours",
    "compose_stride",
    "downsample_factor",
    "follows",
    "parse_resolution",
    "token_grid",
]

#: Largest side accepted anywhere: beyond it activations of even tiny nets exceed host memory.
MAX_SIDE = 16384
#: Most prefix (class/register/distillation) tokens a token sequence may carry.
MAX_PREFIX_TOKENS = 64
#: Most a "valid" (unpadded) kernel trims from a side without downsampling (a 7x7 kernel: 6).
MAX_VALID_SHRINK = 6

_RES_RE = re.compile(r"^\s*(\d+)\s*(?:[x×,]\s*(\d+))?\s*$")  # noqa: RUF001


def parse_resolution(value: int | str | Sequence[int]) -> tuple[int, int]:
    """Turn a resolution as users write it into a checked ``(height, width)``.

    Args:
        value: a side (``224``), ``"HEIGHTxWIDTH"`` (``"448x320"``) or a pair.

    Returns:
        ``(height, width)``, both positive.

    Raises:
        InvalidResolutionError: not a size, not positive, or absurdly large.

    Examples:
        >>> parse_resolution("448x320"), parse_resolution(224)
        ((448, 320), (224, 224))
    """
    if isinstance(value, bool):
        raise InvalidResolutionError(f"resolution must be a number or HxW, got {value!r}")
    if isinstance(value, int):
        pair: tuple[int, int] = (value, value)
    elif isinstance(value, str):
        match = _RES_RE.match(value)
        if not match:
            raise InvalidResolutionError(
                f"resolution {value!r} is not a size: use a side such as 224 or HxW such as 448x320"
            )
        h = int(match.group(1))
        pair = (h, int(match.group(2)) if match.group(2) else h)
    elif (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        pair = (value[0], value[1])
    else:
        raise InvalidResolutionError(
            f"resolution must be an int or a (height, width) pair of ints, got {value!r}"
        )
    for side in pair:
        if side < 1:
            raise InvalidResolutionError(
                f"resolution sides must be positive, got {pair[0]}x{pair[1]}"
            )
        if side > MAX_SIDE:
            raise InvalidResolutionError(
                f"resolution {pair[0]}x{pair[1]} is absurdly large (limit {MAX_SIDE} per side)"
            )
    return pair


def _candidates(before: int, after: int) -> list[int]:
    """All integer factors f with ceil(before / f) == after or floor(before / f) == after."""
    if after >= before:
        return [1] if after == before else []
    if after < 1:
        return []
    # ceil(b/f) == a  <=>  b/a <= f < b/(a-1);  floor(b/f) == a  <=>  b/(a+1) < f <= b/a
    low = before // (after + 1) + 1
    high = before // (after - 1) if after > 1 else before
    found = [
        f for f in range(max(low, 2), high + 1) if -(-before // f) == after or before // f == after
    ]
    return found or _valid_kernel_factors(before, after)


def _valid_kernel_factors(before: int, after: int) -> list[int]:
    """Strides f for which an unpadded kernel k <= MAX_VALID_SHRINK + 1 turns ``before`` into
    ``after``: after == (before - k) // f + 1 (a 3x3 stride-2 pool: 12 -> 5)."""
    top = MAX_VALID_SHRINK + 1
    return [
        f
        for f in range(2, before + 1)
        if max(before - after * f + 1, 1) <= min(before - (after - 1) * f, top)
    ]


def downsample_factor(before: int, after: int, hint: int | None = None) -> int:
    """The stride factor that turns a side of ``before`` into ``after`` (1 if it does not shrink).

    Several factors can explain a shrink at a size that is not a multiple of the stride
    (48 -> 2 fits any factor from 17 to 47). Preference: ``hint`` (timm's declared reduction)
    when it fits, then an exact divisor, then a power of two, then the one closest to the ratio.
    """
    if before == after == 1 and hint is not None:
        return hint  # a 1x1 map stays 1x1 through any stride: only the declaration knows
    candidates = _candidates(before, after)
    if not candidates:
        return 1
    if hint is not None and hint in candidates:
        return hint
    exact = [f for f in candidates if before == f * after]
    if exact:
        return exact[0]
    ratio = before / after
    powers = [f for f in candidates if f & (f - 1) == 0]
    pool = powers or candidates
    return min(pool, key=lambda f: (abs(f - ratio), f))


def follows(before: int, after: int) -> bool:
    """``after`` can follow ``before`` on a main path: kept, downsampled, trimmed by a "valid"
    kernel (at most ``MAX_VALID_SHRINK``), or upsampled by a whole factor."""
    if after < 1:
        return False
    if after >= before:
        return after % before == 0
    return before - after <= MAX_VALID_SHRINK or downsample_factor(before, after) > 1


def _next_stride(stride: int, before: int, after: int, hint: int | None) -> int:
    """Cumulative stride after a side goes from ``before`` to ``after`` (upsampling divides)."""
    if after > before:
        return max(stride // (after // before), 1)
    return stride * downsample_factor(before, after, hint)


def compose_stride(
    resolution: tuple[int, int],
    maps: Iterable[tuple[int, int]],
    hints: Iterable[int | None] | None = None,
) -> list[tuple[int, int]]:
    """Cumulative stride per axis of each map along a main path that starts at ``resolution``.

    ``hints`` are declared cumulative reductions (timm's ``feature_info``), used only to pick
    among factors that fit the traced sizes equally well.
    """
    strides: list[tuple[int, int]] = []
    prev = resolution
    cum = (1, 1)
    prev_hint = 1
    hint_list = list(hints) if hints is not None else None
    for i, cur in enumerate(maps):
        hint = hint_list[i] if hint_list is not None else None
        step = hint // prev_hint if hint and hint % prev_hint == 0 else None
        cum = (
            _next_stride(cum[0], prev[0], cur[0], step),
            _next_stride(cum[1], prev[1], cur[1], step),
        )
        strides.append(cum)
        prev = cur
        prev_hint = hint or prev_hint
    return strides


def token_grid(
    tokens: int, grids: Sequence[tuple[int, int]], resolution: tuple[int, int]
) -> tuple[tuple[int, int], int] | None:
    """Read a token count as (grid, prefix tokens): ``197`` after a 14x14 patch grid -> (14, 14), 1.

    ``grids`` are the spatial maps seen so far, newest last (e.g. the patch-embedding conv);
    failing those, square-ish grids from power-of-two and common patch strides are tried.
    """
    for grid in reversed(grids):
        extra = tokens - grid[0] * grid[1]
        if 0 <= extra <= MAX_PREFIX_TOKENS:
            return grid, extra
    for f in (16, 14, 32, 8, 4, 2, 1):
        for rounding in (math.floor, math.ceil):
            grid = (int(rounding(resolution[0] / f)), int(rounding(resolution[1] / f)))
            extra = tokens - grid[0] * grid[1]
            if grid[0] > 0 and grid[1] > 0 and 0 <= extra <= MAX_PREFIX_TOKENS:
                return grid, extra
    return None


def aligned_neighbours(side: int, stride: int) -> tuple[int | None, int]:
    """The nearest multiples of ``stride`` at or below and above ``side`` (below is None if 0)."""
    below = (side // stride) * stride
    above = -(-side // stride) * stride
    if above == side:
        above = side + stride
    return (below or None), above
