"""Verdicts from size rules (pure arithmetic, no forward): ``judge`` one size, list a range.

The rules (``archcalc.sizes.probe``) come from the architecture itself, read during one meta
forward at the model's own default size: every conv/pool (kernel, stride, padding -> the
smallest side before a map vanishes), timm patch embeddings
(``strict_img_size``/``dynamic_img_pad`` -> a fixed size or whole patches), window partitions
(``window_size``: one probe forward at a misfitting size tells whether the model pads or
refuses), and the global stride (alignment). A rule that a constructor argument lifts
(``img_size``) is lifted, and the Validity says so."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from archcalc.display import Summarised, Summary
from archcalc.errors import InvalidResolutionError
from archcalc.formatting import size, stride_text
from archcalc.results import Pair
from archcalc.serialize import Serialized, json_field
from archcalc.sizes.constraints import (
    Constraint,
    Rules,
    final_side,
    good_side,
    min_side,
    nearest_sides,
    side_aligned,
    side_at,
    side_problem,
)

__all__ = [
    "SIZE_HEADERS",
    "VALIDITY_HEADERS",
    "SideFit",
    "SizeRange",
    "Validity",
    "judge",
    "size_notes",
    "sizes_between",
]

VALIDITY_HEADERS = (
    "model", "res", "valid", "aligned", "k x k", "stride", "nearest below", "nearest above",
)  # fmt: skip


@dataclass(frozen=True)
class Validity(Summarised, Serialized):
    """Whether ``model`` runs at ``height`` x ``width``, why not, and the nearest good sizes.

    ``nearest_below``/``nearest_above`` are the closest sizes that run and are aligned (no
    pixel lost to the stride, no padded window); ``build_kwargs`` are the constructor arguments
    archcalc builds with to lift a constraint (e.g. ``img_size``). ``str()`` (and Jupyter)
    show one row (valid, aligned, k x k, nearest sizes) with the reason and notes under it.

    Examples:
        >>> v = archcalc.check_resolution("convnext_tiny", 24)
        >>> v.valid, v.nearest_above
        (False, (32, 32))
    """

    model: str
    height: int
    width: int
    valid: bool
    reason: str | None
    aligned: bool
    final_map: Pair | None
    global_stride: Pair
    min_size: Pair
    nearest_below: Pair | None
    nearest_above: Pair | None
    constraints: tuple[Constraint, ...] = ()
    build_kwargs: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Validity(model={self.model!r}, resolution={(self.height, self.width)}, "
            f"valid={self.valid}, aligned={self.aligned}, final_map={self.final_map})"
        )

    def _summary(self) -> Summary:
        row = [
            self.model,
            size((self.height, self.width)),
            "yes" if self.valid else "no",
            "yes" if self.aligned else "no",
            size(self.final_map),
            stride_text(self.global_stride),
            size(self.nearest_below),
            size(self.nearest_above),
        ]
        notes = [self.reason] if self.reason else []
        return VALIDITY_HEADERS, [row], notes + list(self.notes)

    def raise_if_invalid(self, cause: BaseException | None = None) -> None:
        """Raise when the size is invalid; do nothing when it is valid.

        Args:
            cause: the failure that made the rules worth reading, chained as ``__cause__``.

        Raises:
            InvalidResolutionError: the size is invalid; the message is the one-line reason.
        """
        if not self.valid:
            nearest = tuple(p for p in (self.nearest_below, self.nearest_above) if p)
            raise InvalidResolutionError(
                self.reason or "invalid resolution", nearest=nearest
            ) from cause


def judge(rules: Rules, res: Pair) -> Validity:
    """Evaluate the derived rules at ``res`` (pure arithmetic, no forward)."""
    problems = [side_problem(rules, axis, side) for axis, side in enumerate(res)]
    problem = next((p for p in problems if p), None)
    good = [good_side(rules, axis, side) for axis, side in enumerate(res)]
    near = [
        (side, side) if good[axis] and not all(good) else nearest_sides(rules, axis, side)
        for axis, side in enumerate(res)
    ]
    below = _pair(near[0][0], near[1][0], res)
    above = _pair(near[0][1], near[1][1], res)
    size = f"{res[0]}x{res[1]}"
    reason = None
    if problem is not None:
        hint = ", ".join(f"{p[0]}x{p[1]}" for p in (below, above) if p) or "none found"
        reason = f"{rules.model} cannot run at {size}: {problem}; nearest valid: {hint}"
    aligned = problem is None and all(side_aligned(rules, a, s) for a, s in enumerate(res))
    kwargs: dict[str, Any] = {}
    notes = []
    if rules.resizes_input and res != rules.reference:
        kwargs["img_size"] = rules.reference
        ref = f"{rules.reference[0]}x{rules.reference[1]}"
        notes.append(f"the model resizes any input to {ref} itself; built as configured")
    elif rules.lift_img_size and problem is None and res != rules.reference:
        kwargs["img_size"] = res
        notes.append(
            f"built with img_size={size} instead of refusing "
            "(the architecture is built for one input size)"
        )
    if problem is None and not aligned:
        notes.append(_unaligned_note(rules, res, below, above))
    return Validity(
        model=rules.model,
        height=res[0],
        width=res[1],
        valid=problem is None,
        reason=reason,
        aligned=aligned,
        final_map=None if problem else (final_side(rules, 0, res[0]), final_side(rules, 1, res[1])),
        global_stride=rules.global_stride,
        min_size=(min_side(rules, 0), min_side(rules, 1)),
        nearest_below=below,
        nearest_above=above,
        constraints=rules.constraints,
        build_kwargs=kwargs,
        notes=tuple(notes),
    )


def _pair(h: int | None, w: int | None, res: Pair) -> Pair | None:
    """Combine per-axis neighbours; an axis with none keeps the requested side if it is fine."""
    if h is None and w is None:
        return None
    return (h if h is not None else res[0], w if w is not None else res[1])


def _unaligned_note(rules: Rules, res: Pair, below: Pair | None, above: Pair | None) -> str:
    """Say what an unaligned size costs and which sizes (or window_size) avoid it."""
    near = " or ".join(f"{p[0]}x{p[1]}" for p in (below, above) if p)
    stride = rules.global_stride
    if all(s % st == 0 for s, st in zip(res, stride, strict=True)) and rules.windows:
        maps = _window_maps(rules, res)
        best = math.gcd(*maps) if maps else 1
        lift = (
            f"; or build with window_size={best}" if rules.accepts_window_size and best > 1 else ""
        )
        return f"windows are padded at {res[0]}x{res[1]}; aligned: {near}{lift}"
    return (
        f"not a multiple of the stride {stride[0]}x{stride[1]} "
        f"(edge pixels are dropped or padded); aligned: {near}"
    )


def _window_maps(rules: Rules, res: Pair) -> list[int]:
    """Map sides under each window partition at ``res`` (both axes)."""
    return [
        side_at(rules, axis, res[axis], win.in_ref[axis])
        for win in rules.windows
        for axis in (0, 1)
        if side_at(rules, axis, res[axis], win.in_ref[axis]) > 1
    ]


def size_notes(rules: Rules, resolutions: Sequence[Pair]) -> list[str]:
    """Lifted constraints and padded windows at each size (the stride notes left out)."""
    notes = []
    for res in resolutions:
        done = judge(rules, res)
        notes += [
            f"{rules.model} at {res[0]}x{res[1]}: {n}" for n in done.notes if "stride" not in n
        ]
    return notes


#: ``archcalc sizes``' columns: one row per side (``SizeRange.rows``).
SIZE_HEADERS = ("input", "k x k", "aligned")


class SideFit(NamedTuple):
    """One side of a ``SizeRange``: the square ``size``, its final map side ``k`` and whether
    it is aligned (a tuple, so ``for side, k, aligned in found.sizes`` reads it)."""

    size: int
    k: int
    aligned: bool


@dataclass(frozen=True)
class SizeRange(Summarised, Serialized):
    """The square sides in ``[low, high]`` a model runs at: ``(side, k, aligned)`` each;
    ``str()`` (and Jupyter) shows the CLI's table and notes.

    Examples:
        >>> archcalc.size_range("resnet18", 200, 260).sizes
        ((224, 7, True), (256, 8, True))
    """

    model: str
    low: int = json_field(name="min")
    high: int = json_field(name="max")
    aligned_only: bool
    global_stride: Pair
    min_size: Pair
    sizes: tuple[SideFit, ...]
    constraints: tuple[Constraint, ...] = ()
    notes: tuple[str, ...] = ()

    def rows(self) -> list[list[str]]:
        """One row per side: the input, the final k x k map, whether it is aligned."""
        return [[size((s, s)), size((k, k)), "yes" if ok else "no"] for s, k, ok in self.sizes]

    def _summary(self) -> Summary:
        return SIZE_HEADERS, self.rows(), list(self.notes)


def sizes_between(rules: Rules, low: int, high: int, *, aligned: bool = True) -> SizeRange:
    """Square sides in ``[low, high]`` that run (only aligned ones unless ``aligned=False``)."""
    found = []
    for side in range(low, high + 1):
        if side_problem(rules, 0, side) or side_problem(rules, 1, side):
            continue
        ok = side_aligned(rules, 0, side) and side_aligned(rules, 1, side)
        if ok or not aligned:
            found.append(SideFit(side, final_side(rules, 0, side), ok))
    notes = [
        f"{c.kind} {c.value[0]}x{c.value[1]} ({'hard' if c.hard else 'soft'}, from {c.source}"
        + (f"; lifted by {c.lift})" if c.lift else ")")
        for c in rules.constraints
    ]
    return SizeRange(
        model=rules.model,
        low=low,
        high=high,
        aligned_only=aligned,
        global_stride=rules.global_stride,
        min_size=(min_side(rules, 0), min_side(rules, 1)),
        sizes=tuple(found),
        constraints=rules.constraints,
        notes=(f"{rules.model}: constraints read from its modules:", *notes),
    )
