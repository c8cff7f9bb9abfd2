"""Readers of the folder and CSV formats: Pascal VOC, YOLO, ImageFolder, a plain CSV.

Each returns the :class:`~archcalc.datasets.stats.Measurements` of its data set; boxes are
converted to pixels ``(x, y, w, h)`` with ``(x, y)`` the top-left corner, as COCO writes them.

- **VOC**: one XML file per image; its ``<size>`` gives the image size, each ``<object>``'s
  ``<bndbox>`` a box ``xmax - xmin`` by ``ymax - ymin``, labelled by ``<name>``.
- **YOLO**: one ``.txt`` per image, a line ``class x_center y_center width height`` per box,
  relative to the image (a segment line ``class x1 y1 x2 y2 ...`` gives its bounding box). The
  image sizes come from the images (beside the label file, or in the ``images`` folder that
  mirrors ``labels``, read from their headers) or from a sizes file.
- **sizes file**: a CSV with the header ``image,width,height``, one row per image; ``image``
  is the image's file name (its extension and folder are ignored: a label file ``a.txt``
  matches the row of ``a.jpg``).
- **ImageFolder**: ``root/<class>/**/<image>``; image sizes only, read from file headers.
- **CSV**: the header ``image,width,height,x,y,w,h``, one row per box in pixels; a row whose
  box columns are empty is an image without boxes.
"""

from __future__ import annotations

import csv
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from archcalc.datasets.headers import EXTENSIONS, image_size
from archcalc.datasets.stats import Measurements
from archcalc.errors import InvalidArgumentError

__all__ = ["CSV_HEADER", "SIZES_HEADER", "read_csv", "read_imagefolder", "read_voc", "read_yolo"]

#: The columns of a plain CSV data set and of a YOLO sizes file.
CSV_HEADER = ("image", "width", "height", "x", "y", "w", "h")
SIZES_HEADER = ("image", "width", "height")
#: Text files in a YOLO folder that are not label files.
NOT_LABELS = frozenset({"classes.txt", "README.txt"})


def files(root: Path, suffixes: frozenset[str]) -> list[str]:
    """Every file under ``root`` whose lower-case suffix is one of ``suffixes``, sorted (as
    strings: a ``Path`` per file costs more than reading an image header)."""
    found = []
    for folder, _, names in os.walk(root):
        found += [os.path.join(folder, n) for n in names
                  if os.path.splitext(n)[1].lower() in suffixes]  # fmt: skip
    return sorted(found)


# --- VOC --------------------------------------------------------------------------------


def read_voc(root: Path) -> Measurements:
    """The image sizes and boxes of the Pascal VOC XML files under ``root``."""
    raw = Measurements.empty(str(root), "voc")
    for path in map(Path, files(root, frozenset({".xml"}))):
        try:
            tree = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as e:
            raise InvalidArgumentError(f"{path}: not a readable VOC XML file ({e})") from e
        image = raw.add_image(_number(tree, "size/width", path), _number(tree, "size/height", path),
                              str(path))  # fmt: skip
        for obj in tree.iterfind("object"):
            x0, y0 = _number(obj, "bndbox/xmin", path), _number(obj, "bndbox/ymin", path)
            x1, y1 = _number(obj, "bndbox/xmax", path), _number(obj, "bndbox/ymax", path)
            raw.add_box(image, x0, y0, x1 - x0, y1 - y0, obj.findtext("name", ""))
    return raw


def _number(node: ET.Element, key: str, path: Path) -> float:
    text = node.findtext(key)
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{path}: <{key}> is {text!r}, not a number") from e


# --- YOLO -------------------------------------------------------------------------------


def read_yolo(root: Path, sizes: Path | None = None) -> Measurements:
    """The boxes of the YOLO label files under ``root`` (its ``labels`` folder if it has one),
    sized by ``sizes`` (a sizes file; ``root/sizes.csv`` when there is one) or the images."""
    if sizes is None and (root / "sizes.csv").is_file():
        sizes = root / "sizes.csv"
    known = _sizes_file(sizes) if sizes is not None else None
    labels_root = root / "labels" if (root / "labels").is_dir() else root
    raw = Measurements.empty(str(root), "yolo")
    finder = _ImageFinder()
    for label in map(Path, files(labels_root, frozenset({".txt"}))):
        if label.name in NOT_LABELS:
            continue
        if known is not None:
            if label.stem not in known:
                raise InvalidArgumentError(f"{label}: no row for image {label.stem!r} in {sizes}")
            width, height = known[label.stem]
        else:
            width, height = image_size(finder.image_of(label))
        image = raw.add_image(width, height, str(label))
        for number, line in enumerate(_lines(label), 1):
            klass, x, y, w, h = _yolo_box(line, f"{label}:{number}")
            raw.add_box(image, (x - w / 2) * width, (y - h / 2) * height, w * width, h * height,
                        klass)  # fmt: skip
    return raw


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"{path}: cannot read the file ({e})") from e
    return [line for line in text.splitlines() if line.strip()]


def _yolo_box(line: str, where: str) -> tuple[str, float, float, float, float]:
    """``(class, x_center, y_center, width, height)`` of a box line or a segment line."""
    klass, *values = line.split()
    try:
        numbers = [float(v) for v in values]
    except ValueError as e:
        raise InvalidArgumentError(f"{where}: {line!r} is not 'class x y w h' numbers") from e
    if len(numbers) == 4:
        return klass, *numbers  # type: ignore[return-value]
    if len(numbers) >= 6 and len(numbers) % 2 == 0:  # a polygon: its bounding box
        left, right = min(numbers[0::2]), max(numbers[0::2])
        top, bottom = min(numbers[1::2]), max(numbers[1::2])
        return klass, (left + right) / 2, (top + bottom) / 2, right - left, bottom - top
    raise InvalidArgumentError(f"{where}: {line!r} is not 'class x_center y_center width height'")


def _sizes_file(path: Path) -> dict[str, tuple[int, int]]:
    """Image name without extension -> (width, height), from a sizes file."""
    known: dict[str, tuple[int, int]] = {}
    for where, row in _csv_rows(path, SIZES_HEADER):
        size = _int(row["width"], where), _int(row["height"], where)
        stem = Path(row["image"]).stem
        if known.setdefault(stem, size) != size:
            raise InvalidArgumentError(f"{where}: image {stem!r} has two different sizes")
    return known


class _ImageFinder:
    """Finds the image of a YOLO label file: beside it, or in the ``images`` folder that
    mirrors its ``labels`` folder; each folder is listed once."""

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, Path]] = {}

    def image_of(self, label: Path) -> Path:
        for folder in self._candidates(label.parent):
            if folder not in self._folders:
                self._folders[folder] = self._list(folder)
            if label.stem in self._folders[folder]:
                return self._folders[folder][label.stem]
        raise InvalidArgumentError(
            f"{label}: no image {label.stem}.jpg/.png/... beside it or in the images folder; "
            "give the image sizes with a sizes file (--sizes)"
        )

    @staticmethod
    def _candidates(folder: Path) -> list[Path]:
        parts = folder.parts
        if "labels" not in parts:
            return [folder]
        at = len(parts) - 1 - parts[::-1].index("labels")
        return [Path(*parts[:at], "images", *parts[at + 1 :]), folder]

    @staticmethod
    def _list(folder: Path) -> dict[str, Path]:
        if not folder.is_dir():
            return {}
        return {os.path.splitext(e.name)[0]: Path(e.path) for e in os.scandir(folder)
                if os.path.splitext(e.name)[1].lower() in EXTENSIONS}  # fmt: skip


# --- ImageFolder ------------------------------------------------------------------------


def read_imagefolder(root: Path) -> tuple[Measurements, int]:
    """The image sizes under ``root``'s class folders, and the number of classes."""
    raw = Measurements.empty(str(root), "imagefolder")
    classes = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = files(folder, EXTENSIONS)
        classes += bool(images)
        for path in images:
            raw.add_image(*image_size(path), path)
    return raw, classes


# --- CSV --------------------------------------------------------------------------------


def read_csv(path: Path) -> Measurements:
    """The image sizes and boxes of a plain CSV (``image,width,height,x,y,w,h``)."""
    raw = Measurements.empty(str(path), "csv")
    index: dict[str, int] = {}
    for where, row in _csv_rows(path, CSV_HEADER):
        size = _int(row["width"], where), _int(row["height"], where)
        name = row["image"]
        if name not in index:
            index[name] = raw.add_image(*size, where)
        elif raw.sizes[index[name]] != size:
            raise InvalidArgumentError(
                f"{where}: image {name!r} is {size[0]} x {size[1]} here but "
                f"{raw.sizes[index[name]][0]} x {raw.sizes[index[name]][1]} above"
            )
        box = [row[k].strip() for k in ("x", "y", "w", "h")]
        if any(box):
            try:
                x, y, w, h = (float(v) for v in box)
            except ValueError as e:
                raise InvalidArgumentError(f"{where}: box {box} is not four numbers") from e
            raw.add_box(index[name], x, y, w, h, None)
    return raw


def _csv_rows(path: Path, header: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """``(file:line, row)`` of a CSV file whose header holds exactly ``header``'s columns."""
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != header:
                raise InvalidArgumentError(
                    f"{path}: expected the CSV header {','.join(header)}, "
                    f"got {','.join(reader.fieldnames or ()) or 'nothing'}"
                )
            for row in reader:
                if None in row or None in row.values():
                    raise InvalidArgumentError(
                        f"{path}:{reader.line_num}: expected {len(header)} columns"
                    )
                yield f"{path}:{reader.line_num}", row
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InvalidArgumentError(f"{path}: cannot read the CSV file ({e})") from e


def _int(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError as e:
        raise InvalidArgumentError(f"{where}: {text!r} is not a whole number of pixels") from e
