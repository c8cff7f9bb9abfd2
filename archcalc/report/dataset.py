"""``archcalc data`` on screen: the table of image and object sizes, its notes, and the text
histogram of relative object sizes (a ``DatasetStats`` computes; this module only formats)."""

from __future__ import annotations

from archcalc.datasets.stats import BINS, SMALL_SIDE_PX, DatasetStats, Spread

__all__ = ["DATA_HEADERS", "data_notes", "data_rows", "histogram_text"]

DATA_HEADERS = ("measure", "median", "P10", "P90")
#: Width of the longest histogram bar, in characters.
BAR = 40


def _cells(spread: Spread | None, digits: int) -> list[str]:
    """Median, P10, P90 with ``digits`` decimals (pixels: whole ones where they are whole)."""
    if spread is None:
        return ["-", "-", "-"]
    values = (spread.median, spread.p10, spread.p90)
    whole = digits == 0
    return [f"{v:.0f}" if whole and v.is_integer() else f"{v:.{digits or 1}f}" for v in values]


def data_rows(stats: DatasetStats) -> list[list[str]]:
    """One row per measured quantity: its median, 10th and 90th percentile."""
    return [
        ["image width (px)", *_cells(stats.image_width, 0)],
        ["image height (px)", *_cells(stats.image_height, 0)],
        ["image shorter side (px)", *_cells(stats.image_short, 0)],
        ["aspect (width / height)", *_cells(stats.aspect, 2)],
        ["object rel = sqrt(box / image area)", *_cells(stats.object_rel, 3)],
        ["object shorter side (px)", *_cells(stats.object_short_px, 1)],
    ]


def data_notes(stats: DatasetStats) -> list[str]:
    """The counts, the most common sizes, the decisive object and the small share."""
    classes = "" if stats.classes is None else f", {stats.classes} classes"
    per_image = "" if stats.boxes_per_image is None else f" ({stats.boxes_per_image:.2f} per image)"
    boxes = f"{stats.boxes} boxes{per_image}" if stats.boxes else "no boxes"
    notes = [
        f"{stats.path} ({stats.format}): {stats.images} images, {boxes}{classes}",
        "most common sizes: "
        + ", ".join(f"{s.width}x{s.height} ({s.count})" for s in stats.common_sizes),
    ]
    if stats.decisive_rel is not None and stats.small_share is not None:
        notes.append(
            f"decisive object (the largest box of each image, median): rel {stats.decisive_rel:.3f}"
        )
        notes.append(
            f"small boxes (area under {SMALL_SIDE_PX}x{SMALL_SIDE_PX} px): {stats.small_share:.1%}"
        )
    if stats.clipped_boxes or stats.dropped_boxes:
        notes.append(
            f"boxes clipped to their image: {stats.clipped_boxes}; boxes left out (zero or "
            f"negative size, or wholly outside their image): {stats.dropped_boxes}"
        )
    return notes


def histogram_text(stats: DatasetStats) -> str:
    """The relative object sizes as a text histogram, one line per bin from the first to the
    last non-empty one (empty when the set has no boxes)."""
    counts = stats.histogram
    if not counts or not any(counts):
        return ""
    filled = [i for i, n in enumerate(counts) if n]
    top = max(counts)
    lines = ["object sizes (rel):"]
    for i in range(filled[0], filled[-1] + 1):
        bar = "#" * round(BAR * counts[i] / top) if counts[i] else ""
        lines.append(f"  {i / BINS:.2f}-{(i + 1) / BINS:.2f} | {bar} {counts[i]}".rstrip())
    return "\n".join(lines)
