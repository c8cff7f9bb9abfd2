"""What a data set holds, as numbers: image sizes and object sizes (no torch, no file reading).

``summarise`` turns the raw measurements a reader collects (one ``(width, height)`` per image,
one clipped box per object) into a :class:`DatasetStats`. An object's relative size is
``rel = sqrt(box area / image area)``: 0.5 is a box with a quarter of the image's area, the side
it would span in a square image. The decisive object of an image is its largest box (what a
classification label names); ``decisive_rel`` is the median of it over the images with boxes.

Percentiles interpolate linearly between order statistics (numpy's default "linear" method,
``statistics.quantiles(method="inclusive")``); a median of an even count is the mean of the two
middle values.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from archcalc.errors import InvalidArgumentError
from archcalc.results import SCHEMA_VERSION
from archcalc.serialize import Serialized

__all__ = [
    "BINS",
    "COMMON_SIZES",
    "SMALL_SIDE_PX",
    "DatasetStats",
    "ImageSize",
    "Measurements",
    "Spread",
    "percentiles",
    "summarise",
]

#: Boxes with an area under SMALL_SIDE_PX ** 2 pixels are "small" (COCO's definition).
SMALL_SIDE_PX = 32
#: Bins of the relative-size histogram: [0, .05), [.05, .1), ..., [.95, 1.0].
BINS = 20
#: How many of the most common image sizes are kept.
COMMON_SIZES = 5


@dataclass(frozen=True)
class Spread(Serialized):
    """Median, 10th and 90th percentile of a sample (linear interpolation)."""

    median: float
    p10: float
    p90: float


@dataclass(frozen=True)
class ImageSize(Serialized):
    """One image size (pixels) and how many images have it."""

    width: int
    height: int
    count: int


@dataclass(frozen=True, kw_only=True)
class DatasetStats(Serialized):
    """The image and object sizes of a data set (JSON Schema: archcalc/schemas/dataset.json).

    Counts are integers, sizes pixels; ``rel`` is ``sqrt(box area / image area)``. Object
    fields are None when the set has no boxes (an ImageFolder tree, a CSV without boxes).
    ``boxes`` counts the usable boxes: those partly outside their image are clipped to it
    (``clipped_boxes``), those of zero or negative size or wholly outside are left out
    (``dropped_boxes``).

    Examples:
        >>> stats = archcalc.describe_data("tests/fixtures/datasets/coco.json")
        >>> stats.images, stats.boxes, stats.small_share
        (3, 4, 0.5)
    """

    schema_version: int = SCHEMA_VERSION
    path: str
    format: str
    images: int
    boxes: int
    classes: int | None
    boxes_per_image: float | None
    image_width: Spread
    image_height: Spread
    image_short: Spread
    aspect: Spread
    common_sizes: tuple[ImageSize, ...]
    object_rel: Spread | None
    decisive_rel: float | None
    object_short_px: Spread | None
    small_share: float | None
    clipped_boxes: int
    dropped_boxes: int
    rel_percentiles: tuple[float, ...] | None
    short_frac_percentiles: tuple[float, ...] | None
    histogram: tuple[int, ...] | None

    @property
    def native_short(self) -> float:
        """The median shorter image side (pixels): the native resolution of the set."""
        return self.image_short.median

    def short_frac_at(self, percent: float) -> float:
        """The ``percent``-th percentile (0..100) of (shorter box side / shorter image side).

        Interpolates linearly between the stored whole percentiles.

        Raises:
            InvalidArgumentError: the set has no boxes, or ``percent`` is outside 0..100.

        Example: ``stats.short_frac_at(10)`` is 0.05 when a tenth of the boxes have a shorter
        side under 5 % of their image's shorter side.
        """
        table = self.short_frac_percentiles
        if table is None:
            raise InvalidArgumentError(f"{self.path} has no boxes: no object sizes to read")
        if not 0 <= percent <= 100:
            raise InvalidArgumentError(f"percent must be within 0..100, got {percent}")
        low = min(int(percent), 99)
        return table[low] + (table[low + 1] - table[low]) * (percent - low)


@dataclass
class Measurements:
    """The raw sizes a reader collects: one ``(width, height)`` per image, one box per object.

    ``add_box`` clips a box partly outside its image to it and leaves out a box of zero or
    negative size or wholly outside, counting both, so that every box kept is a real region.
    """

    path: str
    format: str
    sizes: list[tuple[int, int]]
    box_image: list[int]  # the index in ``sizes`` of each box's image
    box_width: list[float]
    box_height: list[float]
    labels: set[str]
    clipped: int = 0
    dropped: int = 0

    @classmethod
    def empty(cls, path: str, format: str) -> Measurements:
        """Nothing measured yet, for the reader of ``path`` (a ``format`` file or folder)."""
        return cls(path, format, [], [], [], [], set())

    def add_image(self, width: int, height: int, where: str) -> int:
        """Record one image's size; its index, for its boxes.

        Raises:
            InvalidArgumentError: a size that is not a positive whole number of pixels.
        """
        if not (_positive_int(width) and _positive_int(height)):
            raise InvalidArgumentError(
                f"{where}: image size {width} x {height} is not positive whole pixels"
            )
        self.sizes.append((int(width), int(height)))
        return len(self.sizes) - 1

    def add_box(self, image: int, x: float, y: float, w: float, h: float) -> None:
        """Record a box ``(x, y, w, h)`` in pixels (top-left corner and size, as COCO's)."""
        width, height = self.sizes[image]
        left, top = max(x, 0.0), max(y, 0.0)
        right, bottom = min(x + w, width), min(y + h, height)
        if not (w > 0 and h > 0 and right > left and bottom > top):  # NaN fails too
            self.dropped += 1
            return
        if right - left != w or bottom - top != h:
            self.clipped += 1
        self.box_image.append(image)
        self.box_width.append(right - left)
        self.box_height.append(bottom - top)


def _positive_int(value: object) -> bool:
    return isinstance(value, int | float) and value > 0 and float(value).is_integer()


def percentiles(values: Sequence[float]) -> tuple[float, ...]:
    """The 101 percentiles P0..P100 of ``values`` (linear interpolation; at least one value)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return (float(ordered[0]),) * 101
    inner = statistics.quantiles(ordered, n=100, method="inclusive")
    return (float(ordered[0]), *inner, float(ordered[-1]))


def _spread(table: Sequence[float]) -> Spread:
    return Spread(median=table[50], p10=table[10], p90=table[90])


def summarise(raw: Measurements, *, classes: int | None) -> DatasetStats:
    """The statistics of a data set from what its reader measured.

    Args:
        raw: the image sizes and the usable boxes.
        classes: the number of classes (None when the format has no labels).

    Returns:
        The :class:`DatasetStats`.

    Raises:
        InvalidArgumentError: no image, or boxes were given and none of them is usable.
    """
    if not raw.sizes:
        raise InvalidArgumentError(f"{raw.path}: no images found")
    if raw.dropped and not raw.box_width:
        raise InvalidArgumentError(
            f"{raw.path}: none of its {raw.dropped} boxes is usable "
            "(each has zero or negative size or lies outside its image)"
        )
    widths = [w for w, _ in raw.sizes]
    heights = [h for _, h in raw.sizes]
    common = Counter(raw.sizes).most_common(COMMON_SIZES)
    return DatasetStats(
        path=raw.path,
        format=raw.format,
        images=len(raw.sizes),
        boxes=len(raw.box_width),
        classes=classes,
        boxes_per_image=len(raw.box_width) / len(raw.sizes) if raw.box_width else None,
        image_width=_spread(percentiles(widths)),
        image_height=_spread(percentiles(heights)),
        image_short=_spread(percentiles([min(w, h) for w, h in raw.sizes])),
        aspect=_spread(percentiles([w / h for w, h in raw.sizes])),
        common_sizes=tuple(ImageSize(w, h, n) for (w, h), n in common),
        clipped_boxes=raw.clipped,
        dropped_boxes=raw.dropped,
        **_object_fields(raw),
    )


def _object_fields(raw: Measurements) -> dict[str, object]:
    """The object-size fields of :class:`DatasetStats` (all None without boxes)."""
    names = ("object_rel", "decisive_rel", "object_short_px", "small_share", "rel_percentiles",
             "short_frac_percentiles", "histogram")  # fmt: skip
    if not raw.box_width:
        return dict.fromkeys(names)
    rel, short_px, short_frac = [], [], []
    largest: dict[int, float] = {}
    small = 0
    for image, w, h in zip(raw.box_image, raw.box_width, raw.box_height, strict=True):
        width, height = raw.sizes[image]
        r = math.sqrt(w * h / (width * height))
        rel.append(r)
        short_px.append(min(w, h))
        short_frac.append(min(w, h) / min(width, height))
        small += w * h < SMALL_SIDE_PX * SMALL_SIDE_PX
        if r > largest.get(image, 0.0):
            largest[image] = r
    counts = [0] * BINS
    for r in rel:
        counts[min(int(r * BINS), BINS - 1)] += 1
    rel_table = percentiles(rel)
    return dict(
        zip(
            names,
            (
                _spread(rel_table),
                statistics.median(largest.values()),
                _spread(percentiles(short_px)),
                small / len(rel),
                rel_table,
                percentiles(short_frac),
                tuple(counts),
            ),
            strict=True,
        )
    )
