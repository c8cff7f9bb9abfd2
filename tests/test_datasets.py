"""``archcalc data`` / ``archcalc.describe_data``: each format's statistics against numbers
worked out by hand on the small fixtures of tests/fixtures/datasets/, and every bad input
refused in one line (exit 2) with nothing written."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import archcalc
import archcalc.schemas
from archcalc.cli import main
from archcalc.datasets.headers import image_size
from archcalc.datasets.stats import DatasetStats, Spread
from archcalc.errors import InvalidArgumentError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "datasets"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["data", *args])
    return result.exit_code, result.stdout, result.stderr


def spread(median: float, p10: float, p90: float) -> Spread:
    return Spread(median=pytest.approx(median), p10=pytest.approx(p10), p90=pytest.approx(p90))


def test_coco() -> None:
    s = archcalc.describe_data(FIXTURES / "coco.json")
    # images 1 and 2 are 640x480, image 3 is 500x375. Boxes (x, y, w, h):
    #   1: (0, 0, 320, 240) on image 1: rel sqrt(76800 / 307200) = 0.5, short side 240
    #   2: (600, 440, 80, 80) on image 1: clipped to 40x40: rel sqrt(1600 / 307200), short 40
    #   3: (10, 10, 16, 16) on image 2: rel sqrt(256 / 307200), short 16, small (256 < 1024)
    #   4: crowd region on image 2: left out (not an object, not counted)
    #   5: (100, 100, 20, 30) on image 3: rel sqrt(600 / 187500) = sqrt(0.0032), short 20, small
    #   6: (0, 0, 0, 10) on image 3: zero width, dropped
    assert (s.format, s.images, s.boxes, s.classes) == ("coco", 3, 4, 2)  # categories 1 and 2
    assert (s.clipped_boxes, s.dropped_boxes) == (1, 1)
    assert s.boxes_per_image == pytest.approx(4 / 3)
    # widths 500, 640, 640: P10 at position 0.1 * 2 = 0.2: 500 + 0.2 * 140 = 528
    assert s.image_width == spread(640, 528, 640)
    # heights 375, 480, 480: 375 + 0.2 * 105 = 396
    assert s.image_height == spread(480, 396, 480)
    assert s.image_short == spread(480, 396, 480)
    assert s.native_short == 480
    assert s.aspect == spread(4 / 3, 4 / 3, 4 / 3)
    assert [(c.width, c.height, c.count) for c in s.common_sizes] == [(640, 480, 2), (500, 375, 1)]
    rels = sorted([0.5, math.sqrt(1600 / 307200), math.sqrt(256 / 307200), math.sqrt(0.0032)])
    # four values: median between the 2nd and 3rd; P10 at 0.3, P90 at 2.7
    assert s.object_rel == spread(
        (rels[1] + rels[2]) / 2,
        rels[0] + 0.3 * (rels[1] - rels[0]),
        rels[2] + 0.7 * (rels[3] - rels[2]),
    )
    # largest box per image: 0.5, sqrt(256 / 307200) = 0.0289, sqrt(0.0032) = 0.0566
    assert s.decisive_rel == pytest.approx(math.sqrt(0.0032))
    # shorter sides 16, 20, 40, 240: median 30, P10 16 + 0.3 * 4, P90 40 + 0.7 * 200
    assert s.object_short_px == spread(30, 17.2, 180)
    assert s.small_share == 0.5  # boxes 3 and 5
    # rel 0.0289 -> bin 0, 0.0566 and 0.0722 -> bin 1, 0.5 -> bin 10
    assert s.histogram == (1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert s.rel_percentiles is not None and len(s.rel_percentiles) == 101
    assert (s.rel_percentiles[0], s.rel_percentiles[100]) == (pytest.approx(rels[0]), 0.5)
    # short box side / short image side: 16/480, 20/375, 40/480, 240/480
    fracs = sorted([16 / 480, 20 / 375, 40 / 480, 0.5])
    assert s.short_frac_at(50) == pytest.approx((fracs[1] + fracs[2]) / 2)
    # P10 at position 0.3 of the four: the table holds P10 exactly, P10.5 halfway to P11
    p10, p11 = fracs[0] + 0.3 * (fracs[1] - fracs[0]), fracs[0] + 0.33 * (fracs[1] - fracs[0])
    assert s.short_frac_at(10.5) == pytest.approx((p10 + p11) / 2)


def test_voc() -> None:
    s = archcalc.describe_data(FIXTURES / "voc")
    # a.xml 500x375: dog 50..250 x 50..200 = 200x150, person 10..40 x 20..80 = 30x60
    # b.xml 300x300: dog 0..300 x 0..300 = the whole image
    assert (s.format, s.images, s.boxes, s.classes) == ("voc", 2, 3, 2)
    area = 500 * 375
    rel_dog, rel_person = math.sqrt(200 * 150 / area), math.sqrt(30 * 60 / area)  # 0.4, 0.098
    assert s.decisive_rel == pytest.approx((rel_dog + 1.0) / 2)  # 0.7
    # rels 0.098, 0.4, 1.0: P10 at 0.2, P90 at 1.8
    assert s.object_rel == spread(0.4, rel_person + 0.2 * (0.4 - rel_person), 0.4 + 0.8 * 0.6)
    # shorter sides 30, 150, 300
    assert s.object_short_px == spread(150, 30 + 0.2 * 120, 150 + 0.8 * 150)
    assert s.small_share == 0.0  # the smallest is 30x60 = 1800 px
    assert s.histogram is not None and s.histogram[19] == 1  # rel 1.0 in the last bin
    # widths 300, 500; heights 300, 375
    assert s.image_width == spread(400, 320, 480)
    assert s.image_height == spread(337.5, 307.5, 367.5)
    assert (s.clipped_boxes, s.dropped_boxes) == (0, 0)


@pytest.mark.parametrize("folder", ["yolo", "yolo_sizes"])
def test_yolo_from_images_or_a_sizes_file(folder: str) -> None:
    s = archcalc.describe_data(FIXTURES / folder)
    # x: 100x50. "0 0.5 0.5 0.2 0.4" -> 20x20 px; "1 0.95 0.5 0.2 0.2" -> x 85..105 clipped
    #    to 85..100: 15x10 px. y: 64x64. "0 0.5 0.5 0.5 0.5" -> 32x32 px. classes.txt is no label.
    assert (s.format, s.images, s.boxes, s.classes) == ("yolo", 2, 3, 2)
    assert (s.clipped_boxes, s.dropped_boxes) == (1, 0)
    rel_a, rel_b = math.sqrt(400 / 5000), math.sqrt(150 / 5000)  # 0.283, 0.173
    assert s.decisive_rel == pytest.approx((rel_a + 0.5) / 2)
    assert s.object_rel == spread(rel_a, rel_b + 0.2 * (rel_a - rel_b), rel_a + 0.8 * (0.5 - rel_a))
    assert s.object_short_px == spread(20, 10 + 0.2 * 10, 20 + 0.8 * 12)  # 10, 20, 32
    # 20x20 = 400 and 15x10 = 150 are under 1024; 32x32 = 1024 is not
    assert s.small_share == pytest.approx(2 / 3)
    assert s.image_width == spread(82, 67.6, 96.4)  # 64, 100
    assert s.aspect == spread(1.5, 1.1, 1.9)  # 1.0, 2.0


def test_yolo_segment_lines_give_their_bounding_box(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("2 0.1 0.1 0.3 0.1 0.3 0.5\n")  # x 0.1..0.3, y 0.1..0.5
    (tmp_path / "sizes.csv").write_text("image,width,height\nimages/a.jpg,100,100\n")
    s = archcalc.describe_data(tmp_path)
    assert (s.images, s.boxes, s.clipped_boxes) == (1, 1, 0)
    assert s.object_short_px == spread(20, 20, 20)  # 20 x 40 px
    assert s.decisive_rel == pytest.approx(math.sqrt(800 / 10000))


def test_imagefolder_reads_sizes_from_headers() -> None:
    s = archcalc.describe_data(FIXTURES / "imagefolder")
    # cat/a.jpg 40x30, cat/b.png 30x30, dog/c.jpg 80x60
    assert (s.format, s.images, s.boxes, s.classes) == ("imagefolder", 3, 0, 2)
    assert s.image_width == spread(40, 32, 72)  # 30, 40, 80
    assert s.image_height == spread(30, 30, 54)  # 30, 30, 60
    assert s.aspect == spread(4 / 3, 1 + 0.2 * (1 / 3), 4 / 3)  # 1, 4/3, 4/3
    assert s.boxes_per_image is None and s.object_rel is None and s.histogram is None
    with pytest.raises(InvalidArgumentError, match="no boxes"):
        s.short_frac_at(10)


def test_csv() -> None:
    s = archcalc.describe_data(FIXTURES / "boxes.csv")
    # a.jpg 200x100: a 50x20 box and an empty row (the same image); b.jpg 100x100: no box;
    # c.jpg 100x100: (90, 90, 20, 20) clipped to 10x10
    assert (s.format, s.images, s.boxes, s.classes) == ("csv", 3, 2, None)
    assert (s.clipped_boxes, s.dropped_boxes) == (1, 0)
    assert s.boxes_per_image == pytest.approx(2 / 3)
    rel_a, rel_c = math.sqrt(1000 / 20000), math.sqrt(100 / 10000)  # 0.224, 0.1
    assert s.decisive_rel == pytest.approx((rel_a + rel_c) / 2)
    assert s.small_share == 1.0  # 1000 and 100 px
    assert s.object_short_px == spread(15, 11, 19)  # 10, 20


@pytest.mark.parametrize(
    ("name", "size"),
    [("yolo/images/train/x.png", (100, 50)), ("yolo/images/train/y.jpg", (64, 64))],
)
def test_image_size_from_the_header(name: str, size: tuple[int, int]) -> None:
    assert image_size(FIXTURES / name) == size


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP"])
def test_image_size_agrees_with_pillow(tmp_path: Path, fmt: str) -> None:
    from PIL import Image

    path = tmp_path / f"image.{fmt.lower()}"
    exif = Image.Exif()
    exif[0x010E] = "x" * 5000  # a JPEG's size comes after its EXIF segment
    extra = {"exif": exif, "progressive": True} if fmt == "JPEG" else {}
    Image.new("RGB", (123, 45)).save(path, fmt, **extra)
    assert image_size(path) == (123, 45)


@pytest.mark.parametrize("name", ["coco.json", "imagefolder", "boxes.csv"])
def test_json_output_matches_the_schema_and_round_trips(name: str) -> None:
    import jsonschema

    code, out, _ = run(str(FIXTURES / name), "--format", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.validate(data, archcalc.schemas.load("dataset"))
    assert DatasetStats.from_dict(data) == archcalc.describe_data(FIXTURES / name)


def test_csv_and_markdown_formats() -> None:
    code, out, _ = run(str(FIXTURES / "voc"), "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "measure,median,P10,P90"
    assert out.splitlines()[1] == "image width (px),400,320,480"  # widths 300 and 500
    code, out, _ = run(str(FIXTURES / "voc"), "--format", "markdown")
    assert code == 0
    row = next(line for line in out.splitlines() if "image height" in line)
    assert row.split("|")[2:5] == [" 337.5    ", " 307.5 ", " 367.5 "]  # heights 300 and 375
    assert f"- {FIXTURES / 'voc'} (voc): 2 images, 3 boxes" in out  # notes as Markdown bullets
    assert "object sizes (rel):" not in out  # the histogram is for the terminal only


def test_table_notes_and_histogram() -> None:
    code, out, _ = run(str(FIXTURES / "coco.json"))
    assert code == 0
    words = " ".join(out.split())  # the notes wrap at 100 columns
    assert "3 images, 4 boxes (1.33 per image), 2 classes" in words
    assert "most common sizes: 640x480 (2), 500x375 (1)" in words
    assert "small boxes (area under 32x32 px): 50.0%" in words
    assert "boxes clipped to their image: 1; boxes left out" in words
    # bins 0..10: the longest bar (2 boxes) is 40 characters, 1 box 20
    assert "  0.05-0.10 | " + "#" * 40 + " 2" in out
    assert "  0.50-0.55 | " + "#" * 20 + " 1" in out
    assert "0.55-0.60" not in out  # the histogram stops at the last non-empty bin


def test_plot_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    for name in ("coco.json", "imagefolder"):
        out = tmp_path / f"{name}.png"
        assert run(str(FIXTURES / name), "--plot", str(out))[0] == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_imports_neither_torch_nor_timm() -> None:
    code = (
        "import sys\nfrom archcalc.cli import main\n"
        f"try:\n    main(['data', {str(FIXTURES / 'coco.json')!r}, '--format', 'json'])\n"
        "except SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'timm' in sys.modules, file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["images"] == 3  # the command did run
    assert out.stderr.split() == ["False", "False"]


# --- bad input: one line, exit 2, nothing written ----------------------------------------

COCO_IMAGE = {"id": 1, "width": 100, "height": 100}


def _coco(tmp_path: Path, annotations: list[dict[str, object]]) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"images": [COCO_IMAGE], "annotations": annotations}))
    return path


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad case: (path, a phrase its one-line message holds)."""
    truncated = tmp_path / "truncated.json"
    truncated.write_text((FIXTURES / "coco.json").read_text()[:300])
    empty_json = tmp_path / "empty.json"
    empty_json.write_bytes(b"")
    not_coco = tmp_path / "other.json"
    not_coco.write_text('{"images": [{"id": 1}]}')
    garbage = tmp_path / "garbage" / "cat"
    garbage.mkdir(parents=True)
    (garbage / "a.jpg").write_bytes(b"not an image at all")
    unreadable_csv = tmp_path / "latin.csv"
    unreadable_csv.write_bytes(b"image,width,height,x,y,w,h\n\xe9t\xe9.jpg,10,10,,,,\n")
    no_image = tmp_path / "yolo" / "labels"
    no_image.mkdir(parents=True)
    (no_image / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    bad_xml = tmp_path / "voc"
    bad_xml.mkdir()
    (bad_xml / "a.xml").write_text("<annotation><size><width>10</width>")
    bad_line = tmp_path / "yolo_sizes"
    bad_line.mkdir()
    (bad_line / "a.txt").write_text("0 0.5 0.5 wide 0.1\n")
    (bad_line / "sizes.csv").write_text("image,width,height\na.jpg,10,10\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    unknown = tmp_path / "data.txt"
    unknown.write_text("hello")
    return {
        "truncated JSON": (truncated, "invalid or truncated JSON"),
        "empty JSON file": (empty_json, "empty file"),
        "not a COCO file": (not_coco, "not a COCO instances file"),
        "box outside its image": (
            _coco(tmp_path, [{"image_id": 1, "bbox": [150, 0, 10, 10], "category_id": 1}]),
            "none of its 1 boxes is usable",
        ),
        "box of zero or negative size": (
            _coco(tmp_path / "..", [{"image_id": 1, "bbox": [0, 0, -5, 10], "category_id": 1}]),
            "none of its 1 boxes is usable",
        ),
        "annotation of a missing image": (
            _coco(tmp_path / "../..", [{"image_id": 7, "bbox": [0, 0, 5, 5], "category_id": 1}]),
            "refers to image 7",
        ),
        "YOLO label without its image": (tmp_path / "yolo", "no image a.jpg/.png/..."),
        "unreadable image": (tmp_path / "garbage", "not a JPEG, PNG, GIF, BMP or WebP image"),
        "unreadable CSV": (unreadable_csv, "cannot read the CSV file"),
        "unreadable XML": (bad_xml, "not a readable VOC XML file"),
        "bad YOLO line": (bad_line, "a.txt:1: '0 0.5 0.5 wide 0.1' is not 'class x y w h' numbers"),
        "unknown format": (unknown, "unknown data format"),
        "empty folder": (empty, "no annotation files"),
        "missing path": (tmp_path / "nowhere", "no such file or folder"),
    }


CASES = ["truncated JSON", "empty JSON file", "not a COCO file", "box outside its image",
         "box of zero or negative size", "annotation of a missing image",
         "YOLO label without its image", "unreadable image", "unreadable CSV", "unreadable XML",
         "bad YOLO line", "unknown format", "empty folder", "missing path"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path: Path, case: str) -> None:
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    path, phrase = _bad_inputs(work)[case]
    plot = tmp_path / "plot.png"
    code, out, err = run(str(path), "--plot", str(plot))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and phrase in err
    assert not plot.exists()


def test_bad_boxes_are_counted_when_some_are_usable(tmp_path: Path) -> None:
    # on a 100x100 image: (150, 0, 10, 10) wholly outside and (0, 0, -5, 10) negative: dropped;
    # (90, 90, 20, 20) clipped to 10x10; (0, 0, 50, 50) kept as it is
    boxes = [[150, 0, 10, 10], [0, 0, -5, 10], [90, 90, 20, 20], [0, 0, 50, 50]]
    path = _coco(tmp_path, [{"image_id": 1, "bbox": b, "category_id": 1} for b in boxes])
    s = archcalc.describe_data(path)
    assert (s.boxes, s.clipped_boxes, s.dropped_boxes) == (2, 1, 2)
    assert s.object_short_px == spread(30, 14, 46)  # 10 and 50


def test_format_and_sizes_options_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown data format 'tfrecord'"):
        archcalc.describe_data(FIXTURES / "coco.json", format="tfrecord")
    with pytest.raises(InvalidArgumentError, match="YOLO labels only"):
        archcalc.describe_data(FIXTURES / "voc", sizes=FIXTURES / "yolo_sizes" / "sizes.csv")
    with pytest.raises(InvalidArgumentError, match="is a folder, but coco data is one file"):
        archcalc.describe_data(FIXTURES / "voc", format="coco")
    with pytest.raises(InvalidArgumentError, match="is a file, but voc data is a folder"):
        archcalc.describe_data(FIXTURES / "coco.json", format="voc")


@pytest.mark.parametrize("target", ["boxes.csv", "imagefolder/cat/a.jpg"])
def test_a_plot_never_overwrites_what_data_reads(tmp_path: Path, target: str) -> None:
    import shutil

    shutil.copytree(FIXTURES, tmp_path / "sets")
    source = tmp_path / "sets" / ("boxes.csv" if target == "boxes.csv" else "imagefolder")
    plot = tmp_path / "sets" / target
    before = plot.read_bytes()
    code, _, err = run(str(source), "--plot", str(plot))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--plot" in err and "read by data" in err
    assert plot.read_bytes() == before
