"""Pure arithmetic over an architecture's size constraints (no torch): which sides run, which align.

The constraints are read off the modules of one reference forward (``archcalc.sizes.validity``):

* spatial ops (convolutions, pools) with their kernel, stride, padding, dilation and the side
  they saw at the reference size -- replayed for any side to find where a map would vanish
  (a kernel larger than its padded input);
* a hard ``step`` (a patch embedding without padding needs whole patches, a hybrid stem whole
  patches of its feature map, a soft-token pooler whole pooling cells), a hard ``fixed`` size
  (a position embedding no constructor argument can resize);
* joined branches: two ops that make maps of the same reference side (a strided conv and a
  pool feeding one concatenation or sum) must agree at every side (DLA roots, anti-aliased
  ResNets at odd map sides);
* window partitions (Swin, MaxViT): a map larger than its window should be a whole number of
  windows -- hard when the model does not pad, else only an alignment preference;
* the global stride: sides that are a multiple of it lose no pixels (alignment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from archcalc.core.geometry import MAX_SIDE
from archcalc.results import Pair
from archcalc.serialize import Serialized

__all__ = [
    "Constraint",
    "Rules",
    "SpatialOp",
    "Window",
    "align_step",
    "final_side",
    "good_side",
    "min_side",
    "nearest_sides",
    "side_aligned",
    "side_at",
    "side_problem",
    "window_misfit",
]


@dataclass(frozen=True)
class Constraint(Serialized):
    """One rule found in the architecture: ``kind`` with its per-axis ``value``.

    ``hard`` rules make a size invalid; soft ones only make it unaligned. ``lift`` names the
    constructor argument that removes the rule (archcalc builds with it instead of refusing).
    """

    kind: str
    value: Pair
    hard: bool
    source: str
    lift: str | None = None


@dataclass(frozen=True)
class SpatialOp:
    """A conv or pool seen at the reference size; ``padding`` None means "same" at run time."""

    name: str
    kernel: Pair
    stride: Pair
    padding: Pair | None
    dilation: Pair
    ceil_mode: bool
    in_ref: Pair
    out_ref: Pair
    scale: Pair = (1, 1)

    def out_side(self, axis: int, side: int) -> int | None:
        """Output side for an input ``side`` on ``axis`` (None when the kernel does not fit)."""
        if side < 1:
            return None
        if self.scale[axis] > 1:
            return side * self.scale[axis]
        stride = self.stride[axis]
        if self.padding is None:
            return -(-side // stride)
        pad = self.padding[axis]
        room = side + 2 * pad - (self.dilation[axis] * (self.kernel[axis] - 1) + 1)
        if room < 0:
            return None
        if not self.ceil_mode:
            return room // stride + 1
        out = -(-room // stride) + 1
        return out - 1 if (out - 1) * stride >= side + pad else out


@dataclass(frozen=True)
class Window:
    """A window partition of ``window`` cells over a map of ``in_ref`` at the reference size."""

    name: str
    window: Pair
    in_ref: Pair


@dataclass(frozen=True)
class Rules:
    """Everything needed to judge a side without running the model again."""

    model: str
    reference: Pair
    global_stride: Pair
    final_ref: Pair
    ops: tuple[SpatialOp, ...] = ()
    windows: tuple[Window, ...] = ()
    windows_hard: bool = False
    step: Pair = (1, 1)
    fixed: Pair | None = None
    lift_img_size: bool = False
    resizes_input: bool = False
    accepts_window_size: bool = False
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)


def _scaled(rules: Rules, axis: int, side: int, ref_side: int) -> int:
    """A map not reached by a replayed op (reshaped, merged, pooled): scaled from the reference,
    rounded up as padding merges do, and never below 1 (a pooled 1x1 map stays 1x1)."""
    return max(1, -(-side * ref_side // rules.reference[axis]))


def _replay(
    rules: Rules, axis: int, side: int, fusion: bool = True
) -> tuple[dict[int, int], SpatialOp | None, int]:
    """Replay the ops on one axis: reference side -> side now, the first op that cannot run
    and the side it would get."""
    now = {rules.reference[axis]: side}
    for op in rules.ops:
        ref_in = op.in_ref[axis]
        keyed = ref_in in now
        m = now.get(ref_in) or _scaled(rules, axis, side, ref_in)
        out = op.out_side(axis, m)
        if out is None and not keyed:
            continue  # its input was only estimated (windowed, reshaped): no verdict from it
        joined = now.get(op.out_ref[axis]) if fusion and (keyed or op.scale[axis] > 1) else None
        if out is None or (joined is not None and joined != out):
            return now, op, m  # a kernel larger than its map, or a branch that no longer
            # matches the map it is joined to (HRNet-style fusion, DLA roots, blur-pooled blocks)
        now[op.out_ref[axis]] = out
    return now, None, 0


def side_at(rules: Rules, axis: int, side: int, ref_side: int) -> int:
    """The side a map of ``ref_side`` (at the reference input) has for an input of ``side``."""
    now, _, _ = _replay(rules, axis, side)
    return now.get(ref_side) or _scaled(rules, axis, side, ref_side)


def final_side(rules: Rules, axis: int, side: int) -> int:
    """k on ``axis``: the final map's side for an input of ``side`` (replayed, else by ratio)."""
    if rules.resizes_input:
        return rules.final_ref[axis]
    return side_at(rules, axis, side, rules.final_ref[axis])


def window_misfit(rules: Rules, axis: int, side: int) -> Window | None:
    """The first window whose map is larger than the window and not a whole number of them."""
    now, _, _ = _replay(rules, axis, side)
    for win in rules.windows:
        ref = win.in_ref[axis]
        m = now.get(ref) or _scaled(rules, axis, side, ref)
        if m > win.window[axis] and m % win.window[axis]:
            return win
    return None


def side_problem(rules: Rules, axis: int, side: int) -> str | None:
    """Why ``side`` cannot run on ``axis`` (one clause), or None when every hard rule holds."""
    if rules.resizes_input:
        return None
    if rules.fixed is not None and side != rules.fixed[axis]:
        return f"the model takes only {rules.fixed[0]}x{rules.fixed[1]} (fixed position embedding)"
    if side % rules.step[axis]:
        return _step_problem(rules, axis, side)
    now, op, m = _replay(rules, axis, side)
    if op is not None and op.scale[axis] > 1:
        return (
            f"the map upsampled x{op.scale[axis]} at {op.name} ({m} -> {m * op.scale[axis]} px) "
            "no longer matches the branch it joins"
        )
    if op is not None and op.out_side(axis, m) is not None:
        return (
            f"{op.name} makes a {op.out_side(axis, m)} px map of a {m} px one, but the branch "
            f"it is joined to has {now[op.out_ref[axis]]} px"
            + (f" (it needs a multiple of {op.stride[axis]} there)" if op.stride[axis] > 1 else "")
        )
    if op is not None:
        k = op.dilation[axis] * (op.kernel[axis] - 1) + 1
        return f"the map vanishes at {op.name} (a {m} px map, kernel {k})"
    if rules.windows_hard:
        win = window_misfit(rules, axis, side)
        if win is not None:
            return f"{win.name} needs maps that are whole {win.window[axis]}-cell windows"
    return None


def _step_problem(rules: Rules, axis: int, side: int) -> str:
    """Name the whole-patch (or whole-cell) rule a side breaks: its layer and its multiple."""
    broken = [
        c for c in rules.constraints if c.kind == "multiple_of" and c.hard and side % c.value[axis]
    ]
    if not broken:
        return f"sides must be multiples of {rules.step[axis]} (whole patches, no padding)"
    need = max(broken, key=lambda c: c.value[axis])
    return f"sides must be multiples of {need.value[axis]} ({need.source})"


def side_aligned(rules: Rules, axis: int, side: int) -> bool:
    """A side that loses no pixels to the stride and pads no window."""
    if rules.resizes_input:
        return True
    if side % rules.global_stride[axis]:
        return False
    return window_misfit(rules, axis, side) is None


def align_step(rules: Rules, axis: int) -> int:
    """The spacing of aligned sides: the stride, the hard step and window x map-stride lcm."""
    step = math.lcm(rules.global_stride[axis], rules.step[axis])
    for win in rules.windows:
        map_stride = max(rules.reference[axis] // max(win.in_ref[axis], 1), 1)
        step = math.lcm(step, map_stride * win.window[axis])
    return step


def good_side(rules: Rules, axis: int, side: int) -> bool:
    """Valid and aligned."""
    return side_problem(rules, axis, side) is None and side_aligned(rules, axis, side)


def nearest_sides(rules: Rules, axis: int, side: int) -> tuple[int | None, int | None]:
    """The nearest valid, aligned sides strictly below and above ``side`` (None if none)."""
    if rules.fixed is not None:
        fixed = rules.fixed[axis]
        return (fixed if fixed < side else None), (fixed if fixed > side else None)
    below = above = None
    for step in dict.fromkeys(
        max(s, 1) for s in (align_step(rules, axis), rules.global_stride[axis])
    ):
        if below is None:
            cand = (side - 1) // step * step
            while cand >= 1 and below is None:
                below = cand if good_side(rules, axis, cand) else None
                cand = cand - step if below is None and side - cand < 8 * step else 0
        if above is None:
            cand = (side // step + 1) * step
            while cand <= MAX_SIDE and above is None:
                above = cand if good_side(rules, axis, cand) else None
                cand = cand + step if above is None and cand - side < 64 * step else MAX_SIDE + 1
    return below, above


def min_side(rules: Rules, axis: int) -> int:
    """The smallest side from which no map vanishes on the way to the reference side."""
    smallest = rules.reference[axis]
    for side in range(rules.reference[axis], 0, -1):
        if _replay(rules, axis, side, fusion=False)[1] is not None:
            break
        smallest = side
    return smallest
