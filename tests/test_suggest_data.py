"""``suggest --data`` (rules §6): the input size from the pixels a data set's objects get.

Small synthetic data sets mirror the statistics of the sets whose input sizes practice has
settled (docs/data.md, "Choosing the input size from your data"): ImageNet at 224, CUB-200 and
NABirds at 448, Tiny-ImageNet at 64, PASCAL VOC at a short side of about 600, COCO at
800 x 1333, VisDrone beyond the common 640. Every expected size is worked out by hand in the
comments; the statistics come from the reader's ``summarise`` (tested on its own).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from helpers import grid, make

import archcalc
from archcalc.cli import main
from archcalc.datasets.stats import DatasetStats, Measurements, summarise
from archcalc.errors import InvalidArgumentError
from archcalc.recommend.data_size import DataSize, size_from_data, sized_level
from archcalc.recommend.decide import recommend
from archcalc.recommend.levels import LEVELS, find_level, levels_from_data
from archcalc.recommend.request import with_percentile
from archcalc.recommend.rules import Backbone
from archcalc.recommend.suggestion import Option, Suggestion
from archcalc.results import ReceptiveField
from archcalc.schemas import load

Image = tuple[int, int, Sequence[tuple[float, float]]]  # width, height, boxes (w, h)


def dataset(images: Sequence[Image], path: str = "set.csv") -> DatasetStats:
    """The statistics of ``images``, each box at the top-left corner of its image."""
    raw = Measurements.empty(path, "csv")
    for width, height, boxes in images:
        index = raw.add_image(width, height, path)
        for w, h in boxes:
            raw.add_box(index, 0, 0, w, h, "object")
    return summarise(raw)


def spread_over(width: int, height: int, sides: Sequence[int], images: int) -> list[Image]:
    """Square boxes of ``sides`` dealt round-robin over ``images`` images of one size."""
    return [(width, height, [(s, s) for s in sides[i::images]]) for i in range(images)]


# ImageNet-like: 500x375 photos; the largest box spans rel = sqrt(area / 187,500) of
# 0.5 (250 x 187.5), 0.64 (320 x 240 = 76,800 = 0.4096 x 187,500) and 0.8 (400 x 300): median
# 0.64 (a small second box never decides). 140 px / 0.64 = 218.75 -> 7 x 32 = 224.
IMAGENET = [
    (500, 375, [(250, 187.5), (40, 30)]),
    (500, 375, [(320, 240)]),
    (500, 375, [(400, 300)]),
]
# CUB-like: birds of rel 0.45 (225 x 168.75), 0.56 (280 x 210: 58,800 / 187,500 = 0.3136) and
# 0.67 (335 x 251.25): median 0.56. 250 / 0.56 = 446.4 -> round(13.95) = 14 x 32 = 448,
# 1.19x the 375 px short side, within max_upsample 2.
CUB = [(500, 375, [(225, 168.75)]), (500, 375, [(280, 210)]), (500, 375, [(335, 251.25)])]
# NABirds-like: birds at half the side (250 x 187.5): 250 / 0.5 = 500 -> round(15.6) = 16 x 32.
NABIRDS = [(500, 375, [(250, 187.5)])] * 3
# Tiny-ImageNet-like: 64 x 64 class folders, no boxes: ImageNet's 0.64 is assumed, 140 / 0.64
# -> 224, 3.5x the 64 px images (more than max_upsample 2): the native 64 is kept.
TINY = [(64, 64, [])] * 5
# PASCAL VOC-like: 500x375, 11 boxes with shorter sides 10, 20, 40 ... 300; P10 of 11 values sits
# at (11 - 1) x 0.1 = 1: the second, 20 px, 20 / 375 = 0.0533 of the short side. 16 px needs a
# short side of 16 / 0.0533 = 300, under the objects level's own 640, which the images allow
# (640 / 375 = 1.71x <= 2): short 640, long 640 x 4 / 3 = 853.3 -> 27 x 32 = 864.
VOC_SIDES = (10, 20, 40, 60, 80, 100, 120, 150, 200, 250, 300)
VOC = spread_over(500, 375, VOC_SIDES, 4)
# COCO-like: 640x480, 21 square boxes; P10 at (21 - 1) x 0.1 = 2: the third, 8 px = 8 / 480 of the
# short side; 9 of 21 boxes (43 %; COCO: 41 %) are under 32 x 32. 16 px needs 16 x 480 / 8 = 960,
# exactly max_upsample 2 x 480: short 960, long 960 x 4 / 3 = 1280, at most max_side 1344.
COCO_SIDES = (
    4,
    6,
    8,
    10,
    12,
    14,
    16,
    20,
    24,
    40,
    48,
    64,
    80,
    96,
    128,
    160,
    200,
    240,
    300,
    360,
    420,
)
COCO = spread_over(640, 480, COCO_SIDES, 7)
# VisDrone-like: 1920x1080 with objects around 18 px (median of 21: the 11th, 18); P10 = the third,
# 10 px = 10 / 1080. 16 px needs 16 x 1080 / 10 = 1728 (1.6x): 1728 x 3072 is above max_side 1344,
# so tiles of the level's 640 x 640 over the 1.6x image: ceil(1728 / 640) = 3 rows x
# ceil(3072 / 640) = 5 columns. At the common 640 (scale 640 / 1920 = 1/3) the P10 box had 3.3 px.
VISDRONE_SIDES = (6, 8, 10, 12, 14, 15, 16, 17, 18, 18, 18, 19, 20, 22, 24, 26, 30, 36, 44, 60, 90)
VISDRONE = spread_over(1920, 1080, VISDRONE_SIDES, 7)


@pytest.mark.parametrize(
    ("images", "task", "expected", "band"),
    [
        (IMAGENET, "coarse", (224, 224), (192, 288)),  # ImageNet trains at 224
        (CUB, "fine-grained", (448, 448), (384, 512)),  # fine-grained birds at 448
        (NABIRDS, "fine-grained", (512, 512), (384, 512)),
        (TINY, "coarse", (64, 64), (64, 64)),  # Tiny-ImageNet at its native 64
        (VOC, "objects", (640, 864), (480, 800)),  # Faster R-CNN: short side 600
        (COCO, "objects", (960, 1280), (640, 1024)),  # COCO at 800 x 1333
    ],
)
def test_reference_sets_land_in_their_bands(
    images: list[Image], task: str, expected: tuple[int, int], band: tuple[int, int]
) -> None:
    data = size_from_data(find_level(task), dataset(images))
    assert data.resolution == expected
    assert band[0] <= min(data.resolution) <= band[1]
    assert data.tiles is None


def test_visdrone_tiny_objects_get_tiles_instead_of_an_absurd_input() -> None:
    stats = dataset(VISDRONE)
    assert stats.short_frac_at(10) * 1920 / 3 == pytest.approx(10 / 3 * 1920 / 1080)  # lost at 640
    data = size_from_data(find_level("objects"), stats)
    assert data.wanted == (1728, 3072) and data.scale == pytest.approx(1.6)
    assert data.resolution == (640, 640)
    assert data.tiles is not None and (data.tiles.rows, data.tiles.cols) == (3, 5)
    assert data.tiles.count == 15
    s = recommend(
        sized_level(find_level("objects"), data), grid(sides=(640,)), [Backbone("net")], data=data
    )
    assert any("3 x 5 = 15 tiles of 640x640" in w for w in s.warnings)
    # each tile: the P10 box has 10 x 1.6 = 16 px = 2.0 / 1.0 / 0.5 cells at stride 8 / 16 / 32
    assert any(
        "gets 16.0 px = 2.0 cells of the stride-8 map, 1.0 cells of the stride-16 "
        "map, 0.5 cells of the stride-32 map" in r
        for r in s.reasons
    )


def test_cub_reason_cites_the_rule_and_its_numbers() -> None:
    level = find_level("fine-grained")
    data = size_from_data(level, dataset(CUB))
    field = ReceptiveField((435, 435), (32, 32), "local")  # resnet18's final cell
    options = [Option(replace(make("net", s), receptive_field=field)) for s in (224, 288, 448)]
    s = recommend(sized_level(level, data), options, [Backbone("net")], data=data)
    assert s.resolution == (448, 448) and s.data == data
    assert (
        "sized from your data set set.csv (rules §6) instead of the level's fixed 448x448"
        in (s.reasons[0])
    )
    # 0.56 x 448 = 250.9 px = 7.8 cells of stride 32; 435 >= 251: the field covers it
    assert (
        "spans 0.56 of the image; 250 px / 0.56 = 446 -> 448x448 on the stride-32 grid; at "
        "448x448 that is 251 px = 7.8 cells of the 14x14 final map, and a final cell's "
        "receptive field of 435 px covers it" in s.reasons[1]
    )
    assert "upsamples the images' median short side of 375 px 1.19x" in s.reasons[2]  # 448 / 375


def test_tiny_images_keep_the_native_size_with_the_stride_fix() -> None:
    level = find_level("coarse")
    data = size_from_data(level, dataset(TINY))
    assert (data.assumed, data.capped, data.wanted) == (True, True, (224, 224))
    options = [*grid(sides=(64, 96, 224)), Option(make("net", 64, 16, os=16))]
    s = recommend(sized_level(level, data), options, [Backbone("net")], data=data)
    # 64 / 32 = 2x2 is too small: output_stride 16 gives ceil(64 / 16) = 4x4
    assert (s.resolution, s.output_stride, s.final_map) == ((64, 64), 16, (4, 4))
    (cap,) = [w for w in s.warnings if w.startswith("native resolution caps")]
    # upsampling to 224: 224^2 x 1000 = 0.050 GMACs vs 64^2 x 1000 x (32 / 16)^2 = 0.016: 3.1x
    assert "3.5x" in cap and "upsampling to 224x224" in cap
    assert "0.050 GMACs on net, 3.1x the 0.016 GMACs chosen" in cap
    assert any("assumed ImageNet's 0.64" in r for r in s.reasons)


def test_coco_reasons_count_cells_of_each_stage() -> None:
    level = find_level("objects")
    data = size_from_data(level, dataset(COCO))
    s = recommend(
        sized_level(level, data), grid(sides=((960, 1280),)), [Backbone("net")], data=data
    )
    assert s.resolution == (960, 1280)
    text = "\n".join(s.reasons)
    # 8 / 480 = 0.0167
    assert "P10 over the 21 boxes, a shorter side of 0.0167 of its image's (8.0 px of a 480" in text
    # 8 / 480 x 960 = 16 px: 16 / 8 = 2.0, 16 / 16 = 1.0, 16 / 32 = 0.5 cells
    assert "gets 16.0 px = 2.0 cells of the stride-8 map, 1.0 cells of the stride-16" in text
    assert "43% of the boxes are under 32x32 px" in text  # 9 / 21


def test_voc_uses_the_level_size_as_floor() -> None:
    data = size_from_data(find_level("objects"), dataset(VOC))
    assert data.scale == pytest.approx(640 / 375)  # not 300 / 375: the floor, 1.71x <= 2
    s = recommend(
        sized_level(find_level("objects"), data),
        grid(sides=((640, 864),)),
        [Backbone("net")],
        data=data,
    )
    assert any(
        "needs a short side of 300; the level's own size is the floor" in r for r in s.reasons
    )


def test_percentile_and_the_upsampling_limit() -> None:
    # P5 of 21 values sits at 20 x 0.05 = 1: the second, 6 px of 480; 16 px would need
    # 16 x 480 / 6 = 1280 = 2.67x: upsampling stops at 2x (960 x 1280), the box keeps
    # 6 / 480 x 960 = 12 px
    levels = with_percentile(LEVELS, "objects", 5)
    level = find_level("objects", levels)
    data = size_from_data(level, dataset(COCO))
    assert (data.percentile, data.capped, data.resolution) == (5.0, True, (960, 1280))
    s = recommend(
        sized_level(level, data), grid(sides=((960, 1280),)), [Backbone("net")], data=data
    )
    assert any("the P5 box keeps only 12.0 px, under the 16 px target" in w for w in s.warnings)
    with pytest.raises(InvalidArgumentError, match="objects-percentile applies"):
        with_percentile(LEVELS, "coarse", 5)


def test_levels_file_sets_the_pixel_targets() -> None:
    levels = levels_from_data({"levels": {"coarse": {"object_px": 160}}})
    # 160 / 0.64 = 250 -> round(7.8) = 8 x 32 = 256
    assert size_from_data(find_level("coarse", levels), dataset(IMAGENET)).resolution == (256, 256)
    keys = {"resolution": 512, "min_object_px": 24, "max_upsample": 1.5, "max_side": 640}
    aerial = levels_from_data({"levels": {"aerial": keys}})
    level = find_level("aerial", aerial)
    assert (level.pixels.min_object_px, level.pixels.max_upsample, level.pixels.max_side) == (
        24,
        1.5,
        640,
    )
    for bad in ({"object_px": -1}, {"object_percentile": 150}, {"max_upsample": "x"}):
        with pytest.raises(InvalidArgumentError, match="coarse"):
            levels_from_data({"levels": {"coarse": bad}})


def test_levels_without_a_target_and_sets_without_boxes_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="no pixel target"):
        size_from_data(find_level("region"), dataset(IMAGENET))
    with pytest.raises(InvalidArgumentError, match="has none"):
        size_from_data(find_level("objects"), dataset(TINY))


def test_data_object_round_trips_and_validates() -> None:
    level = find_level("objects")
    data = size_from_data(level, dataset(VISDRONE))
    s = recommend(sized_level(level, data), grid(sides=(640,)), [Backbone("net")], data=data)
    doc = s.to_dict()
    jsonschema.validate(doc, load("suggestion"))
    assert doc["data"]["tiles"] == {"tile": [640, 640], "rows": 3, "cols": 5, "scale": 1.6}
    assert Suggestion.from_dict(doc).data == data
    assert DataSize.from_dict(doc["data"]) == data
    assert recommend(level, grid(sides=(640,)), [Backbone("net")]).to_dict()["data"] is None


def test_suggest_with_data_on_a_real_backbone() -> None:
    s = archcalc.suggest("coarse", ["resnet18"], latency=False, training=False, data=dataset(TINY))
    # resnet18 at 64: 2x2 at stride 32; output_stride 16 gives 4x4
    assert (s.resolution, s.output_stride, s.final_map) == ((64, 64), 16, (4, 4))
    s = archcalc.suggest("objects", ["resnet18"], latency=False, training=False, data=dataset(COCO))
    assert (s.resolution, s.final_map) == ((960, 1280), (30, 40))  # 960 / 32, 1280 / 32


def test_budget_moves_the_measured_size_and_the_reason_says_so() -> None:
    level = find_level("fine-grained")
    data = size_from_data(level, dataset(CUB))
    # MACs = side^2 x 1000: 448 -> 0.201 G, over 0.15; 320 -> 0.102 G is the closest that fits
    s = recommend(sized_level(level, data), grid(), [Backbone("net")], max_gmacs=0.15, data=data)
    assert s.resolution == (320, 320)
    assert "320x320 is the closest size that fits the budget" in s.reasons[0]
    assert any("budget binds: max_gmacs=0.15 (0.201 GMACs)" in w for w in s.warnings)
    # 0.56 x 320 = 179.2 px = 5.6 cells of stride 32
    assert "at 320x320 that is 179 px = 5.6 cells of the 10x10 final map" in s.reasons[1]


def test_objects_level_keeps_a_large_map_on_purpose() -> None:
    level = find_level("objects")
    data = size_from_data(level, dataset(COCO))
    s = recommend(
        sized_level(level, data), grid(sides=((960, 1280),)), [Backbone("net")], data=data
    )
    # ceil(960 / 32) x ceil(1280 / 32) = 30x40: intended, no "above 9x9" warning
    assert s.final_map == (30, 40)
    assert not any("above 9x9" in w for w in s.warnings)
    assert any(
        "30x40 is above 9x9 on purpose: small objects keep their cells" in r for r in s.reasons
    )


AUTO_TABLE = """\
arch,tag,top1,top5,eval_size,crop_pct,train_size,params_m,gmacs
mobilenetv3_large_100,ra_in1k,75.784,92.528,224,0.875,224,5.48,0.23
resnet18,a1_in1k,73.164,91.054,288,1.000,224,11.69,3.01
"""


def test_backbone_auto_sizes_from_the_data(tmp_path: Path) -> None:
    table = tmp_path / "top1.csv"
    table.write_text(AUTO_TABLE)
    s = archcalc.search_backbones(
        "coarse",
        latency=False,
        training=False,
        scope=archcalc.SearchScope(catalog=table),
        data=dataset(TINY),
    )
    # at 64 mobilenetv3 ends at 2x2 and takes no output_stride; resnet18 with
    # output_stride 16 reaches ceil(64 / 16) = 4x4
    assert (s.backbone, s.resolution, s.output_stride) == ("resnet18.a1_in1k", (64, 64), 16)
    assert s.data is not None and s.data.capped
    # no 224 row in the search: the upsampled cost is priced by area, (224 x 224) / (64 x 64)
    assert any("about 12.2x the MACs of 64x64" in w for w in s.warnings)


def write_csv(path: Path, images: Sequence[Image]) -> Path:
    """The set as the plain CSV ``archcalc data`` reads: one row per box, boxes at (0, 0)."""
    rows = ["image,width,height,x,y,w,h"]
    for i, (width, height, boxes) in enumerate(images):
        rows += [f"img{i}.jpg,{width},{height},0,0,{w:g},{h:g}" for w, h in boxes]
        rows += [] if boxes else [f"img{i}.jpg,{width},{height},,,,"]
    path.write_text("\n".join(rows) + "\n")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_suggest_data_from_a_csv(tmp_path: Path) -> None:
    birds = write_csv(tmp_path / "birds.csv", CUB)
    base = ["suggest", "--backbone", "resnet18", "--no-latency", "--no-training"]
    code, out, err = run(*base, "--task", "fine", "--data", str(birds), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["resolution"] == [448, 448]  # 250 / 0.56 -> 448, as above
    assert doc["data"]["measured"] == pytest.approx(0.56)
    assert (doc["data"]["path"], doc["data"]["images"], doc["data"]["boxes"]) == (str(birds), 3, 3)
    code, out, _ = run(*base, "--task", "fine", "--data", str(birds))
    assert code == 0 and "(rules §6)" in out and "7.8 cells of the 14x14 final map" in out
    s = archcalc.suggest("fine", ["resnet18"], latency=False, training=False, data=birds)
    assert s.resolution == (448, 448) and s.data is not None and s.data.path == str(birds)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "objects", "--objects-percentile", "5"], "add --data"),
        (["--task", "coarse", "--data", "missing.csv"], "missing.csv"),
        (["--task", "region", "--data", "{birds}"], "no pixel target"),
        (["--task", "fine", "--data", "{birds}", "--objects-percentile", "5"], "applies to"),
    ],
)
def test_cli_data_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    birds = write_csv(tmp_path / "birds.csv", CUB)
    args = [a.format(birds=birds) for a in args]
    code, _, err = run("suggest", "--backbone", "resnet18", "--no-latency", *args)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_portrait_images_keep_their_aspect() -> None:
    # COCO-like boxes in 480x640 (portrait) frames: the shorter side is still 480, so the short
    # input side is 960 (as for COCO), here the width; the height 960 x 640 / 480 = 1280
    portrait = spread_over(480, 640, COCO_SIDES, 7)
    data = size_from_data(find_level("objects"), dataset(portrait))
    assert data.resolution == (1280, 960)


def test_backbone_auto_with_data_a_predicted_latency_and_a_budget(tmp_path: Path) -> None:
    table = tmp_path / "top1.csv"
    table.write_text(AUTO_TABLE)
    basis = "PREDICTED, not measured: a fake target"

    def timer(option: Option, device: str, budget_s: float | None) -> float:
        return option.profile.macs / 1e12  # 1 TMAC/s: resnet18 at 64 with os 16 is 0.2 ms

    s = archcalc.search_backbones(
        "coarse",
        training=False,
        scope=archcalc.SearchScope(catalog=table),
        data=dataset(TINY),
        predicted=archcalc.PredictedLatency(timer, basis),
        budgets=archcalc.Budgets(budget_ms=5),
    )
    assert (s.resolution, s.output_stride, s.latency_basis) == ((64, 64), 16, basis)
    assert s.data is not None and s.chosen.latency_s == s.macs / 1e12
