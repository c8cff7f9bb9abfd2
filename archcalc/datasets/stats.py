"""What a data set holds, as numbers: image sizes and object sizes (no torch, no file reading).

``summarise`` turns the raw measurements a reader collects (one ``(width, height)`` per image,
one box per object, as read) into a :class:`DatasetStats`, clipping or leaving out bad boxes.
An object's relative size is ``rel = sqrt(box area / image area)``: 0.5 is a box with a quarter
of the image's area, the side it would span in a square image. The decisive object of an image
is its largest box (what a classification label names); ``decisive_rel`` is the median of it
over the images with boxes.

Percentiles interpolate linearly between order statistics (numpy's default "linear" method,
``statistics.quantiles(method="inclusive")``); a median of an even count is the mean of the two
middle values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from archcalc.errors import InvalidArgumentError
from archcalc.results import SCHEMA_VERSION
from archcalc.serialize import Serialized

__all__ = [
    "BINS",
    "COMMON_SIZES",
    "SMALL_SIDE_PX",
    "Boxes",
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
    (``dropped_boxes``). ``rel_percentiles`` and ``short_frac_percentiles`` hold the 101
    percentiles P0..P100 of ``rel`` and of (shorter box side / shorter image side) over all
    boxes, so any percentile can be interpolated (``short_frac_at``); they are left out of the
    ``repr``. ``histogram`` counts ``rel`` in ``BINS`` bins of 0.05.

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
    rel_percentiles: tuple[float, ...] | None = field(repr=False)  # 101 values: P0..P100
    short_frac_percentiles: tuple[float, ...] | None = field(repr=False)
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
    """What a reader collects: one ``(width, height)`` per image, one box and label per object.

    Boxes are ``(x, y, w, h)`` in pixels (top-left corner and size, as COCO writes them), as
    read: :func:`summarise` clips and drops the bad ones, all at once.
    """

    path: str
    format: str
    sizes: list[tuple[int, int]]
    box_image: list[int]  # the index in ``sizes`` of each box's image
    boxes: list[tuple[float, float, float, float]]
    box_label: list[object]

    @classmethod
    def empty(cls, path: str, format: str) -> Measurements:
        """Nothing measured yet, for the reader of ``path`` (a ``format`` file or folder)."""
        return cls(path, format, [], [], [], [])

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

    def add_box(self, image: int, x: float, y: float, w: float, h: float, label: object) -> None:
        """Record the box ``(x, y, w, h)`` of image ``image`` (an ``add_image`` index)."""
        self.box_image.append(image)
        self.boxes.append((x, y, w, h))
        self.box_label.append(label)


def _positive_int(value: object) -> bool:
    return isinstance(value, int | float) and value > 0 and float(value).is_integer()


def percentiles(values: np.ndarray) -> tuple[float, ...]:
    """The 101 percentiles P0..P100 of ``values`` (linear interpolation; at least one value)."""
    return tuple(float(v) for v in np.percentile(values, np.arange(101)))


def _spread(table: Sequence[float]) -> Spread:
    return Spread(median=table[50], p10=table[10], p90=table[90])


def summarise(
    raw: Measurements, *, classes: Literal["boxes"] | int | None = "boxes"
) -> DatasetStats:
    """The statistics of a data set from what its reader measured.

    Boxes partly outside their image are clipped to it; boxes of zero or negative size (or
    NaN) or wholly outside are left out; both are counted.

    Args:
        raw: the image sizes and the boxes as read.
        classes: ``"boxes"`` to count the distinct labels of the usable boxes, a known count
            (an ImageFolder's class folders), or None for a format without labels (the CSV).

    Returns:
        The :class:`DatasetStats`.

    Raises:
        InvalidArgumentError: no image, or boxes were given and none of them is usable.
    """
    if not raw.sizes:
        raise InvalidArgumentError(f"{raw.path}: no images found")
    sizes = np.array(raw.sizes, dtype=np.float64)
    boxes = Boxes.clip(raw, sizes)
    if raw.boxes and not boxes.kept.any():
        raise InvalidArgumentError(
            f"{raw.path}: none of its {len(raw.boxes)} boxes is usable "
            "(each has zero or negative size or lies outside its image)"
        )
    if classes == "boxes":
        classes = len(
            {label for label, keep in zip(raw.box_label, boxes.kept, strict=True) if keep}
        )
    widths, heights = sizes[:, 0], sizes[:, 1]
    common = Counter(raw.sizes).most_common(COMMON_SIZES)
    count = int(boxes.kept.sum())
    return DatasetStats(
        path=raw.path,
        format=raw.format,
        images=len(raw.sizes),
        boxes=count,
        classes=classes,
        boxes_per_image=count / len(raw.sizes) if count else None,
        image_width=_spread(percentiles(widths)),
        image_height=_spread(percentiles(heights)),
        image_short=_spread(percentiles(np.minimum(widths, heights))),
        aspect=_spread(percentiles(widths / heights)),
        common_sizes=tuple(ImageSize(w, h, n) for (w, h), n in common),
        clipped_boxes=boxes.clipped,
        dropped_boxes=len(raw.boxes) - count,
        **(boxes.object_fields(sizes) if count else dict.fromkeys(_OBJECT_FIELDS)),
    )


_OBJECT_FIELDS = ("object_rel", "decisive_rel", "object_short_px", "small_share",
                  "rel_percentiles", "short_frac_percentiles", "histogram")  # fmt: skip


@dataclass(frozen=True)
class Boxes:
    """The usable boxes as arrays: their image, width and height after clipping."""

    kept: np.ndarray  # bool per box read
    image: np.ndarray
    width: np.ndarray
    height: np.ndarray
    clipped: int

    @classmethod
    def clip(cls, raw: Measurements, sizes: np.ndarray) -> Boxes:
        """Clip every box to its image; keep those with a positive area left."""
        image = np.array(raw.box_image, dtype=np.int64)
        xywh = np.array(raw.boxes, dtype=np.float64).reshape(-1, 4)
        x, y, w, h = xywh.T
        limit_w, limit_h = sizes[image, 0], sizes[image, 1]
        valid = (w > 0) & (h > 0)  # NaN is not
        outside = (x < 0) | (y < 0) | (x + w > limit_w) | (y + h > limit_h)
        left, top = np.maximum(x, 0), np.maximum(y, 0)
        right, bottom = np.minimum(x + w, limit_w), np.minimum(y + h, limit_h)
        cw = np.where(outside, right - left, w)
        ch = np.where(outside, bottom - top, h)
        kept = valid & (cw > 0) & (ch > 0)
        clipped = int((kept & outside).sum())
        return cls(kept, image[kept], cw[kept], ch[kept], clipped)

    def object_fields(self, sizes: np.ndarray) -> dict[str, object]:
        """The object-size fields of :class:`DatasetStats`."""
        iw, ih = sizes[self.image, 0], sizes[self.image, 1]
        rel = np.sqrt(self.width * self.height / (iw * ih))
        short = np.minimum(self.width, self.height)
        largest = np.zeros(len(sizes))
        np.maximum.at(largest, self.image, rel)
        rel_table = percentiles(rel)
        bins = np.minimum((rel * BINS).astype(np.int64), BINS - 1)
        return {
            "object_rel": _spread(rel_table),
            "decisive_rel": float(np.median(largest[np.unique(self.image)])),
            "object_short_px": _spread(percentiles(short)),
            "small_share": float((self.width * self.height < SMALL_SIDE_PX**2).mean()),
            "rel_percentiles": rel_table,
            "short_frac_percentiles": percentiles(short / np.minimum(iw, ih)),
            "histogram": tuple(int(n) for n in np.bincount(bins, minlength=BINS)),
        }
