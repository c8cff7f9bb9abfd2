"""``describe_data``: which format a path holds, its reader, and the statistics of what it read."""

from __future__ import annotations

import os
from pathlib import Path

from archcalc.checks import file_errors
from archcalc.datasets import formats
from archcalc.datasets.coco import read_coco
from archcalc.datasets.headers import EXTENSIONS
from archcalc.datasets.stats import DatasetStats, summarise
from archcalc.errors import InvalidArgumentError

__all__ = ["FORMATS", "describe_data", "detect_format"]

#: The formats ``describe_data`` reads.
FORMATS = ("coco", "voc", "yolo", "imagefolder", "csv")


def describe_data(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    sizes: str | os.PathLike[str] | None = None,
) -> DatasetStats:
    """Read a data set's annotations (or image headers) and summarise its image and object sizes.

    Reads no pixels and imports no torch: a COCO train2017-sized file takes seconds.

    Args:
        path: a COCO instances JSON file, a Pascal VOC folder of XML files, a YOLO folder of
            label files, an ImageFolder tree (class folders of images) or a CSV file with the
            header ``image,width,height,x,y,w,h`` (docs/data.md describes each).
        format: one of ``FORMATS``; detected from ``path`` when None (a ``.json`` file is COCO,
            a ``.csv`` file the plain CSV; a folder with ``.xml`` files VOC, with ``.txt``
            files YOLO, with images only an ImageFolder).
        sizes: for YOLO, a CSV file ``image,width,height`` of the image sizes, read instead of
            the images' headers (``PATH/sizes.csv`` is used when it exists).

    Returns:
        The :class:`~archcalc.datasets.stats.DatasetStats`.

    Raises:
        InvalidArgumentError: a missing path, an unknown or undetectable format, an empty
            folder, a file that cannot be read or parsed, a missing image, or boxes none of
            which is usable (boxes partly outside their image are clipped, boxes of zero or
            negative size or wholly outside are dropped and counted).

    Example:
        >>> stats = archcalc.describe_data("tests/fixtures/datasets/voc")
        >>> stats.format, stats.images, stats.boxes, stats.classes
        ('voc', 2, 3, 2)
    """
    where = Path(path)
    if not where.exists():
        raise InvalidArgumentError(f"{where}: no such file or folder")
    if format is None:
        format = detect_format(where)
    elif format not in FORMATS:
        raise InvalidArgumentError(
            f"unknown data format {format!r}: choose one of {', '.join(FORMATS)}"
        )
    if sizes is not None and format != "yolo":
        raise InvalidArgumentError(f"a sizes file is read for YOLO labels only, not for {format}")
    with file_errors(where, "read"):  # a folder the walk cannot list, say
        return _read(where, format, Path(sizes) if sizes is not None else None)


def _read(path: Path, format: str, sizes: Path | None) -> DatasetStats:
    """The statistics of ``path`` read as ``format``."""
    if format == "coco":
        return summarise(read_coco(_file(path, format)))
    if format == "csv":
        return summarise(formats.read_csv(_file(path, format)), classes=None)
    if format == "voc":
        return summarise(formats.read_voc(_folder(path, format)))
    if format == "yolo":
        return summarise(formats.read_yolo(_folder(path, format), sizes))
    raw, classes = formats.read_imagefolder(_folder(path, format))
    return summarise(raw, classes=classes)


def _file(path: Path, format: str) -> Path:
    if not path.is_file():
        raise InvalidArgumentError(f"{path} is a folder, but {format} data is one file")
    return path


def _folder(path: Path, format: str) -> Path:
    if not path.is_dir():
        raise InvalidArgumentError(f"{path} is a file, but {format} data is a folder")
    return path


def detect_format(path: Path) -> str:
    """The format of the data set at ``path``, from file name suffixes.

    Raises:
        InvalidArgumentError: a file that is neither ``.json`` nor ``.csv``, or a folder with
            no annotation or image files.
    """
    if path.is_file():
        kind = {".json": "coco", ".csv": "csv"}.get(path.suffix.lower())
        if kind is None:
            raise InvalidArgumentError(
                f"{path}: unknown data format (a file must be COCO .json or a .csv); "
                "give a folder for VOC, YOLO or ImageFolder data"
            )
        return kind
    suffixes: set[str] = set()
    for _, _, names in os.walk(path):
        suffixes.update(os.path.splitext(n)[1].lower() for n in names)
    if ".xml" in suffixes:
        return "voc"
    if ".txt" in suffixes:
        return "yolo"
    if suffixes & EXTENSIONS:
        return "imagefolder"
    raise InvalidArgumentError(
        f"{path}: no annotation files (.xml, .txt) or images "
        f"({', '.join(sorted(EXTENSIONS))}) found in the folder"
    )
