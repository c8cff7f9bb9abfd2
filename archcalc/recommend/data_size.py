"""Rule §6: the input size from the pixels the objects of a data set get (no torch).

``suggest --data`` measures instead of trusting the task's label (docs/rules.md §6):

- a classification level (``PixelTargets.object_px``) sizes the input so that the decisive
  object, the median over images of the largest box, spans the level's pixel target:
  ``side = object_px / decisive_rel``, snapped to the stride grid (coarse 140 px gives 224 on
  ImageNet, where that object spans 0.64 of the side). Native resolution caps it: when the
  side would upsample the images by more than ``max_upsample``, the native size is kept and
  the upsampling is named as the alternative, with its cost;
- the ``objects`` level (``PixelTargets.min_object_px``) sizes the shorter side so that the
  ``object_percentile``-th percentile of all boxes keeps ``min_object_px`` on its shorter side,
  never below the level's own size while the images allow it, upsampling at most
  ``max_upsample``; the input keeps the images' aspect, and beyond ``max_side`` the advice is
  tiles of the level's size.

``size_from_data`` runs before anything is profiled (its ``resolution`` becomes the level's);
``data_lines`` explains it once the option is chosen. Both are pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from archcalc.errors import InvalidArgumentError
from archcalc.formatting import billions, size, stride_text
from archcalc.growth import GrowthLaw
from archcalc.recommend.levels import Level
from archcalc.results import Pair, Profile
from archcalc.serialize import Serialized

if TYPE_CHECKING:
    from archcalc.datasets.stats import DatasetStats
    from archcalc.recommend.suggestion import Option

__all__ = [
    "ASSUMED_REL",
    "FEATURE_STRIDES",
    "GRID",
    "DataSize",
    "Tiles",
    "data_lines",
    "size_from_data",
    "sized_level",
]

#: The grid sizes snap to: a multiple of 32 is aligned for every stride 8, 16 or 32 backbone.
GRID = 32
#: The decisive object's side assumed for a set without boxes: ImageNet's (rules §6).
ASSUMED_REL = 0.64
#: The maps whose cells the small objects are counted in (a detector's stride-8/16/32 levels).
FEATURE_STRIDES = (8, 16, 32)
_RULE = "rules §6"


@dataclass(frozen=True)
class Tiles(Serialized):
    """Tiles cut from images scaled by ``scale``: ``rows`` x ``cols`` inputs of ``tile`` px."""

    tile: Pair
    rows: int
    cols: int
    scale: float

    @property
    def count(self) -> int:
        """Tiles per image."""
        return self.rows * self.cols


@dataclass(frozen=True, kw_only=True)
class DataSize(Serialized):
    """How the data set sized the input (a suggestion's ``data`` object).

    ``rule``: ``decisive-object`` (classification levels) or ``small-objects`` (the objects
    level). ``measured``: the decisive object's relative side (``rel = sqrt(box area / image
    area)``), or the ``percentile``-th percentile of (shorter box side / shorter image side);
    ``assumed``: the set has no boxes, so ImageNet's decisive object (0.64) is assumed.
    ``target_px``: the level's pixel target for it. ``level_resolution``: the level's own size
    (what applies without data). ``native``: the images' median (height,
    width). ``wanted``: the size the target asks for, on the grid; ``resolution``: the size
    given to the level (``wanted`` capped by the native resolution, or a tile); ``scale``:
    ``resolution`` over the native size (above 1: upsampled). ``tiles``: the tiling advised
    instead of one input larger than ``max_side`` (None: the whole image is one input).
    """

    path: str
    format: str
    images: int
    boxes: int
    small_share: float | None
    rule: str
    measured: float
    assumed: bool = False
    percentile: float | None = None
    target_px: float
    level_resolution: Pair
    native: Pair
    wanted: Pair
    resolution: Pair
    scale: float
    capped: bool = False
    tiles: Tiles | None = None


def snap(side: float, up: bool = False) -> int:
    """``side`` on the stride grid (the nearest multiple of ``GRID``, or the next one up)."""
    steps = math.ceil(side / GRID - 1e-9) if up else round(side / GRID)
    return GRID * max(1, steps)


def size_from_data(level: Level, stats: DatasetStats) -> DataSize:
    """The input size rule §6 gives ``level`` on the data set ``stats``.

    Raises:
        InvalidArgumentError: the level has no pixel target, or the objects level is asked
        of a set without boxes.
    """
    px = level.pixels
    common = {
        "path": stats.path,
        "format": stats.format,
        "images": stats.images,
        "boxes": stats.boxes,
        "small_share": stats.small_share,
        "level_resolution": level.resolution,
        "native": (round(stats.image_height.median), round(stats.image_width.median)),
    }
    if px.min_object_px is not None:
        return _objects(level, stats, common)
    if px.object_px is None:
        raise InvalidArgumentError(
            f"level {level.name!r} has no pixel target for --data: set object_px (or "
            "min_object_px) for it in a levels file, or choose another --task"
        )
    rel = ASSUMED_REL if stats.decisive_rel is None else stats.decisive_rel
    wanted = snap(px.object_px / rel)
    native = stats.native_short
    capped = wanted > px.max_upsample * native
    side = GRID * max(1, math.floor(native / GRID)) if capped else wanted
    return DataSize(
        **common,
        rule="decisive-object",
        measured=rel,
        assumed=stats.decisive_rel is None,
        target_px=px.object_px,
        wanted=(wanted, wanted),
        resolution=(side, side),
        scale=side / native,
        capped=capped,
    )


def _objects(level: Level, stats: DatasetStats, common: Mapping[str, object]) -> DataSize:
    """The objects level: the percentile box keeps ``min_object_px`` on its shorter side."""
    px = level.pixels
    if stats.short_frac_percentiles is None:
        raise InvalidArgumentError(
            f"--task {level.name} sizes from the boxes, and {stats.path} has none: give a "
            "detection-style annotation (COCO, VOC, YOLO, or a CSV with boxes)"
        )
    frac = stats.short_frac_at(px.object_percentile)
    native = stats.native_short
    floor = min(min(level.resolution), px.max_upsample * native)
    short = max(px.min_object_px / frac, floor)
    scale = min(short / native, px.max_upsample)
    aspect = stats.aspect.median  # width / height
    long = scale * native * max(aspect, 1 / aspect)
    wanted = _oriented(snap(scale * native, up=True), snap(long, up=True), aspect)
    tiles = None
    resolution = wanted
    if max(wanted) > px.max_side:
        tile = level.resolution
        height, width = scale * stats.image_height.median, scale * stats.image_width.median
        tiles = Tiles(tile, math.ceil(height / tile[0]), math.ceil(width / tile[1]), scale)
        resolution = tile
    return DataSize(
        **common,
        rule="small-objects",
        measured=frac,
        percentile=px.object_percentile,
        target_px=px.min_object_px,
        wanted=wanted,
        resolution=resolution,
        scale=scale,
        capped=px.min_object_px / frac > px.max_upsample * native * (1 + 1e-9),
        tiles=tiles,
    )


def _oriented(short: int, long: int, aspect: float) -> Pair:
    """``(height, width)`` from the short and long side: landscape when width >= height."""
    return (short, long) if aspect >= 1 else (long, short)


def sized_level(level: Level, data: DataSize) -> Level:
    """``level`` at the size the data set gave it (what every later step profiles and ranks)."""
    return replace(level, resolution=data.resolution)


def data_lines(
    data: DataSize, chosen: Option, upsampled: Option | None, law: GrowthLaw | None
) -> tuple[list[str], list[str]]:
    """The warnings and reasons of rule §6 for the chosen option, each with its numbers.

    ``upsampled``: the chosen backbone's row at ``data.wanted`` when the native size capped it
    (its cost is the alternative's), else ``law``, the growth law fitted to its rows, prices it.
    """
    if data.rule == "small-objects":
        return _objects_lines(data, chosen.profile)
    return _decisive_lines(data, chosen, upsampled, law)


def _decisive_lines(
    data: DataSize, chosen: Option, upsampled: Option | None, law: GrowthLaw | None
) -> tuple[list[str], list[str]]:
    p = chosen.profile
    side = min(p.resolution)
    native = min(data.native)
    source = (
        f"no boxes in {data.path}: assumed ImageNet's {ASSUMED_REL:g}"
        if data.assumed
        else f"the median over {data.images:,} images of the largest box"
    )
    reason = (
        f"from your data ({_RULE}): the decisive object ({source}) spans {data.measured:.2f} "
        f"of the image; {data.target_px:g} px / {data.measured:.2f} = "
        f"{data.target_px / data.measured:.0f} -> {size(data.wanted)} on the stride-{GRID} grid"
    )
    reasons = [reason + "; " + _object_cells(data.measured * side, p)]
    warnings: list[str] = []
    if data.capped:
        warnings.append(
            f"native resolution caps the size ({_RULE}): {size(data.wanted)} would upsample the "
            f"images' median short side of {native} px {data.wanted[0] / native:.1f}x (more "
            f"than max_upsample), which adds no detail; kept {size(data.resolution)}. The "
            f"alternative is upsampling to {size(data.wanted)}, the apparent size pretrained "
            f"features expect: {_upsample_cost(data.wanted, chosen, upsampled, law)}"
        )
    elif data.scale > 1:
        reasons.append(
            f"{size(p.resolution)} upsamples the images' median short side of {native} px "
            f"{data.scale:.2f}x: no new detail, the apparent object size the pretrained "
            f"features expect ({_RULE}; within max_upsample)"
        )
    return warnings, reasons


def _object_cells(px: float, p: Profile) -> str:
    """``at 448 that is 250 px = 7.8 cells of the 14x14 final map, and a final cell's
    receptive field of 435 px covers it``."""
    stride = min(p.global_stride)
    text = (
        f"at {size(p.resolution)} that is {px:.0f} px = {px / stride:.1f} cells of the "
        f"{size(p.final_map)} final map"
    )
    rf = p.receptive_field
    if rf is None or rf.size is None:
        return text
    field = min(rf.size)
    verb = "covers it" if field >= px else "does not cover it: no final cell sees it whole"
    return f"{text}, and a final cell's receptive field of {stride_text(rf.size)} px {verb}"


def _upsample_cost(
    wanted: Pair, chosen: Option, upsampled: Option | None, law: GrowthLaw | None
) -> str:
    """What the upsampled size costs on the chosen backbone: its profiled row, else the growth
    law fitted to its rows."""
    p = chosen.profile
    base = p.macs
    if upsampled is not None:
        macs = upsampled.profile.macs
    elif law is not None:
        macs = round(law.macs(wanted[0]))
    else:
        area = wanted[0] * wanted[1] / (p.height * p.width)
        return f"about {area:.1f}x the MACs of {size(p.resolution)} (MACs grow with the pixels)"
    return (
        f"{billions(macs)} GMACs on {chosen.backbone}, {macs / base:.1f}x the "
        f"{billions(base)} GMACs chosen"
    )


def _objects_lines(data: DataSize, p: Profile) -> tuple[list[str], list[str]]:
    pct = f"P{data.percentile:g}"
    native = min(data.native)
    scale = data.scale
    needed = data.target_px / data.measured
    short = min(data.wanted)
    px = data.measured * short
    cells = ", ".join(f"{px / s:.1f} cells of the stride-{s} map" for s in FEATURE_STRIDES)
    reason = (
        f"from your data ({_RULE}): {pct} over the {data.boxes:,} boxes, a shorter side of "
        f"{data.measured:.4f} of its image's ({data.measured * native:.1f} px of a {native} px "
        f"short side); keeping it at least {data.target_px:g} px needs a short side of "
        f"{needed:.0f}"
    )
    if needed < scale * native - 1:
        reason += (
            f"; the level's own size is the floor while the images allow it (at most "
            f"max_upsample), so {scale * native:.0f}"
        )
    reason += f": {scale:.2f}x the native size, {size(data.wanted)} on the stride-{GRID} grid"
    where = (
        f"in each {size(p.resolution)} tile of the image scaled {scale:.2f}x"
        if data.tiles
        else f"at {size(p.resolution)}"
    )
    reasons = [reason, f"{where} the {pct} box gets {px:.1f} px = {cells}"]
    if data.small_share is not None:
        reasons.append(
            f"{100 * data.small_share:.0f}% of the boxes are under 32x32 px natively (COCO's small)"
        )
    warnings: list[str] = []
    if data.capped:
        warnings.append(
            f"the {pct} box keeps only {px:.1f} px, under the {data.target_px:g} px target: "
            f"upsampling stops at {scale:.1f}x the native size (max_upsample), since it adds "
            f"no detail; higher-resolution images would help ({_RULE})"
        )
    if data.tiles is not None:
        t = data.tiles
        warnings.append(
            f"tiles ({_RULE}): the whole image at {scale:.2f}x would be {size(data.wanted)}, "
            f"above max_side; cut each image, scaled {t.scale:.2f}x, into {t.rows} x {t.cols} = "
            f"{t.count} tiles of {size(t.tile)} (overlap them a little so no object is cut)"
        )
    return warnings, reasons
