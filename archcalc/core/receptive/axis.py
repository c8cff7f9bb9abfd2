"""Receptive-field arithmetic along one axis: one small pure function per propagation rule.

An ``Axis`` says, for every cell ``o`` of a map, which input pixels it sees:
``first(o) = jump * o + lo[o % period]`` to ``last(o) = jump * o + hi[o % period]``.
A convolution or pooling keeps the period at one (the textbook ``r, j, start`` recurrence,
Araujo et al., Distill 2019); nearest or bilinear upsampling and aligned windows make the
field depend on ``o`` modulo a small period, which this form carries exactly instead of
rounding. Paths that meet (residual sums, concatenations) take, cell by cell, the first
pixel seen by any path and the last: the field of a multi-branch network is the union, so
its size is at least the largest over the paths. No torch here; ``archcalc.core.receptive.tracker``
applies these rules to the operators of a traced forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["IDENTITY", "Axis", "Number", "index_map", "union", "upsample", "window"]


Number = int | Fraction


def _num(value: Number) -> Number:
    """An integral Fraction as an int: integer arithmetic is many times faster, and all but
    upsampled maps stay integral."""
    return int(value) if isinstance(value, Fraction) and value.denominator == 1 else value


@dataclass(frozen=True)
class Axis:
    """Input pixels seen by each cell along one axis (see the module docstring)."""

    jump: Number
    lo: tuple[Number, ...]
    hi: tuple[Number, ...]

    @property
    def period(self) -> int:
        """How many cells before the pattern of fields repeats (1 without upsampling)."""
        return len(self.lo)

    def first(self, o: int) -> Number:
        """The first input pixel cell ``o`` sees."""
        return self.jump * o + self.lo[o % self.period]

    def last(self, o: int) -> Number:
        """The last input pixel cell ``o`` sees."""
        return self.jump * o + self.hi[o % self.period]

    def size_at(self, o: int) -> int:
        """Pixels seen by cell ``o`` (its field, unbounded by the input's borders)."""
        return int(self.last(o) - self.first(o)) + 1

    @property
    def size(self) -> int:
        """The largest field of any cell, in input pixels."""
        return max(self.size_at(r) for r in range(self.period))


#: The input image: each pixel sees itself.
IDENTITY = Axis(1, (0,), (0,))


def _rebuild(
    axis: Axis, jump: Number, period: int, first: Callable[[int], int], last: Callable[[int], int]
) -> Axis:
    """An Axis of ``jump`` and ``period`` whose cell ``r`` sees ``first(r)`` to ``last(r)``."""
    jump = _num(jump)
    lo = tuple(_num(axis.first(first(r)) - jump * r) for r in range(period))
    hi = tuple(_num(axis.last(last(r)) - jump * r) for r in range(period))
    return Axis(jump, lo, hi)


def index_map(axis: Axis, stride: int, start: int, span: int) -> Axis:
    """Cell ``o`` reads input cells ``o * stride + start`` to ``o * stride + start + span``.

    Convolution and pooling: ``start = -padding``, ``span = (kernel - 1) * dilation``; an
    explicit pad of ``p`` cells: ``stride 1, start -p, span 0``; a slice: ``start``, its step.
    """
    period = axis.period // math.gcd(stride, axis.period)
    return _rebuild(
        axis,
        axis.jump * stride,
        period,
        lambda r: r * stride + start,
        lambda r: r * stride + start + span,
    )


def upsample(axis: Axis, factor: int, mode: str) -> Axis:
    """Integer upsampling: ``nearest`` reads ``floor(o / f)``; ``bilinear`` (corners not
    aligned) samples at ``(o + 0.5) / f - 0.5`` and reads its two neighbours, or one where the
    sample falls on a pixel."""

    def low(r: int) -> int:
        return r // factor if mode == "nearest" else math.floor(_sample(r, factor))

    def high(r: int) -> int:
        if mode == "nearest":
            return r // factor
        src = _sample(r, factor)
        return math.floor(src) + (0 if src == math.floor(src) else 1)

    return _rebuild(axis, Fraction(axis.jump) / factor, axis.period * factor, low, high)


def _sample(r: int, factor: int) -> Fraction:
    """Where bilinear upsampling (corners not aligned) samples for output cell ``r``."""
    return (Fraction(2 * r + 1, 2 * factor)) - Fraction(1, 2)


def window(axis: Axis, size: int, offset: int = 0, halo: int = 0) -> Axis:
    """Attention inside aligned windows of ``size`` cells starting at ``offset`` (Swin's shift),
    each window reading ``halo`` extra cells on both sides (HaloNet)."""

    def start(r: int) -> int:
        return (r - offset) // size * size + offset

    period = axis.period * size // math.gcd(axis.period, size)
    return _rebuild(
        axis, axis.jump, period, lambda r: start(r) - halo, lambda r: start(r) + size - 1 + halo
    )


def union(a: Axis, b: Axis) -> Axis | None:
    """Cell by cell, what either path sees; None when the paths' cells are spaced differently."""
    if a.jump != b.jump:
        return None
    if a == b:
        return a
    period = a.period * b.period // math.gcd(a.period, b.period)
    cells = range(period)
    return Axis(
        a.jump,
        tuple(_num(min(a.first(r), b.first(r)) - a.jump * r) for r in cells),
        tuple(_num(max(a.last(r), b.last(r)) - a.jump * r) for r in cells),
    )
