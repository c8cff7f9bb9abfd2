"""``archcalc.suggest`` and ``archcalc suggest`` on real timm models (meta device, no network).

Latency is either skipped (``latency=False``) or faked by monkeypatching
``archcalc.timing.measure``, so these tests assert decisions, never timings.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.errors import InvalidArgumentError, UnknownModelError
from archcalc.recommend.named import suggest
from archcalc.recommend.request import Budgets, SearchScope
from archcalc.recommend.search import search_backbones

#: resnet18's layer4 MACs per output position: conv3x3 256->512 (1,179,648) + 1x1 downsample
#: 256->512 (131,072) + three conv3x3 512->512 (3 x 2,359,296) = 8,388,608.
LAYER4_MACS_PER_POSITION = 1_179_648 + 131_072 + 3 * 2_359_296


@pytest.mark.parametrize(
    ("task", "backbone", "side", "output_stride", "k"),
    [
        ("coarse", "resnet18", 224, None, 7),  # 224 / 32
        ("fine-grained", "resnet18", 448, None, 14),  # 448 / 32
        ("region", "resnet18", 48, 16, 3),  # 48 / 32 = 2x2 -> output_stride 16: 48 / 16
        ("coarse", "mobilenetv3_large_100", 224, None, 7),
        ("fine-grained", "mobilenetv3_large_100", 448, None, 14),
        ("region", "mobilenetv3_large_100", 48, None, 2),  # no output_stride: 96 proposed
    ],
)
@pytest.mark.slow
def test_each_level_gives_its_size(
    task: str, backbone: str, side: int, output_stride: int | None, k: int
) -> None:
    s = suggest(task, [backbone], latency=False)
    assert (s.resolution, s.backbone) == ((side, side), backbone)
    assert s.chosen.profile.output_stride == output_stride
    assert s.chosen.profile.final_map == (k, k)


def test_coarse_resnet18_has_no_warning() -> None:
    s = suggest("coarse", "resnet18", latency=False)
    assert s.warnings == ()
    assert s.chosen.profile.macs == 1_814_073_344  # timm's published table: 1.82 GMACs


def test_fine_grained_resnet18_notes_the_14x14_map() -> None:
    s = suggest("fine-grained", "resnet18", latency=False)
    assert any("14x14 is above 9x9 on purpose" in r for r in s.reasons)


def test_region_resnet18_warns_2x2_and_adopts_output_stride_16() -> None:
    s = suggest("region", ["resnet18"], latency=False)
    (warning,) = s.warnings
    assert "ends at 2x2" in warning and "adopted output_stride=16" in warning
    by_stride = {
        o.profile.output_stride: o.profile for o in s.alternatives if o.profile.height == 48
    }
    # Dilation keeps layer4 at 3x3 instead of 2x2: 9 - 4 = 5 more positions of layer4 work.
    extra = by_stride[16].macs - by_stride[None].macs
    assert extra == (9 - 4) * LAYER4_MACS_PER_POSITION
    assert s.chosen.profile.macs == by_stride[16].macs
    assert "0.140 GMACs" in warning  # 140,410,880 MACs


@pytest.mark.slow
def test_region_mobilenet_proposes_a_larger_input_reaching_k3() -> None:
    s = suggest("region", "mobilenetv3_large_100", latency=False)
    (warning, *_) = s.warnings
    assert "2x2" in warning and "96x96 -> 3x3" in warning
    assert "does not accept output_stride=16" in warning


@pytest.mark.slow
def test_default_backbones_for_region_pick_the_one_that_reaches_k3() -> None:
    s = suggest("region", latency=False)
    assert (s.backbone, s.resolution, s.chosen.profile.final_map) == ("resnet18", (48, 48), (3, 3))
    assert {o.backbone for o in s.alternatives} == {"resnet18", "mobilenetv3_large_100"}


def test_max_gmacs_excluding_448_falls_back_to_320() -> None:
    s = suggest("fine-grained", "resnet18", budgets=Budgets(max_gmacs=5), latency=False)
    assert s.resolution == (320, 320)  # 3.70 GMACs; 448 costs 7.25
    assert any("max_gmacs=5 (7.255 GMACs) excludes resnet18 at 448x448" in w for w in s.warnings)


def fake_measure(calls: list[Any]) -> Any:
    """A stand-in for archcalc.timing.measure.measure_profiled: 1 ms per 100 MMACs of the
    profile it is given, recorded per call as (resolution, settings, profile)."""

    def measure_profiled(profile: Any, build_kwargs: Any, settings: Any) -> SimpleNamespace:
        calls.append((profile.resolution, settings, profile))
        return SimpleNamespace(median_s=profile.macs / 1e8 / 1e3)

    return measure_profiled


def test_budget_ms_measures_few_rows_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr("archcalc.recommend.evaluate.measure_profiled", fake_measure(calls))
    # 448: 72.5 ms, 320: 37.0 ms
    s = suggest("fine-grained", "resnet18", budgets=Budgets(budget_ms=50))
    assert s.resolution == (320, 320)
    # resnet18 at 320: conv maps are 10/7 of their side at 224 (160..10 vs 112..7), so the
    # conv MACs (1,814,073,344 - fc 512,000 at 224, torchvision's _ops) scale by 100/49:
    # 1,813,561,344 x 100 / 49 + 512,000 = 3,701,657,600 MACs -> 37.016576 ms in the fake
    assert s.to_dict()["latency_ms"] == pytest.approx(37.01657600)
    assert [c[0] for c in calls] == [(448, 448), (320, 320)]
    assert all(c[2].batch_size == 1 and c[1].device == "cpu" for c in calls)
    assert all(c[1].stop_above_s is None for c in calls)  # named backbones: full timings
    assert any("budget_ms=50 (72.55 ms)" in w for w in s.warnings)


@pytest.mark.slow
def test_latency_without_budget_times_each_backbones_best_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr("archcalc.recommend.evaluate.measure_profiled", fake_measure(calls))
    s = suggest("coarse")
    assert len(calls) == 2  # resnet18 and mobilenetv3_large_100 at 224
    assert s.chosen.latency_s is not None
    assert sum(o.latency_s is not None for o in s.alternatives) == 2


FIXTURE_TABLE = """\
# a fixture accuracy table: four real archs (published numbers, timm results-imagenet.csv and
# benchmark) and one name timm does not list
arch,tag,top1,top5,eval_size,crop_pct,train_size,params_m,gmacs
notanet_v9,x_in1k,99.000,99.900,224,0.875,224,1.00,0.10
resnet50,a1_in1k,81.240,95.112,288,1.000,224,25.56,6.80
efficientnet_b0,ra_in1k,77.698,93.538,224,0.875,224,5.29,0.40
mobilenetv3_large_100,ra_in1k,75.784,92.528,224,0.875,224,5.48,0.23
resnet18,a1_in1k,73.164,91.054,288,1.000,224,11.69,3.01
"""


def test_auto_searches_a_table(tmp_path: Any) -> None:
    table = tmp_path / "top1.csv"
    table.write_text(FIXTURE_TABLE)
    s = search_backbones(
        "coarse", budgets=Budgets(max_gmacs=1), latency=False, scope=SearchScope(catalog=table)
    )
    # notanet_v9 is skipped (timm does not list it). Bounds at 224 from eval size 288:
    # area a = (224/288)^2 = 0.6049, a^2 = 0.3660 > 0.45 a, so MACs >= (G - 0.005) x 0.9 x 0.3660:
    # resnet50 (6.80 G) -> 2.24 G > 1: pruned unprofiled. efficientnet_b0 (core 0.386 G at
    # 224, reference README) fits and is the most accurate left; mobilenetv3_large_100
    # (0.217 G) is the cheaper, less accurate front option; resnet18 (3.01 G) -> 0.99 G fits
    # the budget but costs more than mobilenetv3's 0.217: off the front, unprofiled.
    assert s.backbone == "efficientnet_b0.ra_in1k"
    assert [o.backbone for o in s.alternatives] == [
        "efficientnet_b0.ra_in1k",
        "mobilenetv3_large_100.ra_in1k",
    ]
    assert s.search is not None and s.search.missing == ("notanet_v9.x_in1k",)
    assert (s.search.pruned_macs, s.search.pruned_front, s.search.profiled) == (1, 1, 2)
    assert any("timm does not list: notanet_v9.x_in1k" in w for w in s.warnings)
    alt = s.to_dict()["alternatives"][0]["accuracy"]
    assert (alt["top1"], alt["tag"], alt["eval_size"]) == (77.698, "ra_in1k", 224)
    assert alt["source"] == str(table)


@pytest.mark.cuda
def test_real_latency_on_cuda() -> None:
    s = suggest("coarse", "resnet18", device="cuda", budgets=Budgets(budget_ms=1000))
    assert s.resolution == (224, 224)
    assert s.chosen.latency_s is not None and 0 < s.chosen.latency_s < 1
    assert "on cuda:0" in next(r for r in s.reasons if r.startswith("cost:"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"budgets": Budgets(budget_ms=10), "latency": False}, InvalidArgumentError),
        ({"budgets": Budgets(max_gmacs=-1)}, InvalidArgumentError),
        ({"budgets": Budgets(budget_ms=float("inf"))}, InvalidArgumentError),
        ({"backbones": ["resnet5O"]}, UnknownModelError),
        ({"device": "tpu"}, InvalidArgumentError),
        ({"backbones": ["auto", "resnet18"]}, InvalidArgumentError),
        ({"budgets": Budgets(max_params=0)}, InvalidArgumentError),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    kwargs = {"backbones": ["resnet18"], "latency": False, **kwargs}
    with pytest.raises(error):
        suggest("coarse", **kwargs)


@pytest.mark.parametrize("scope", [SearchScope(top=0), SearchScope(family=" , ")])
def test_bad_search_arguments(scope: SearchScope) -> None:
    with pytest.raises(InvalidArgumentError):
        search_backbones("coarse", latency=False, scope=scope)


def test_public_api_exports_suggest() -> None:
    assert archcalc.suggest is suggest
    assert "suggest" in archcalc.__all__ and "Suggestion" in archcalc.__all__


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_schema() -> None:
    code, out, _ = run(
        "suggest", "--task", "fine", "--backbone", "resnet18", "--no-latency", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["task"] == "fine-grained"
    assert (data["resolution"], data["final_map"], data["global_stride"]) == (
        [448, 448],
        [14, 14],
        [32, 32],
    )
    assert (data["output_stride"], data["latency_ms"]) == (None, None)
    assert isinstance(data["macs"], int) and isinstance(data["params"], int)
    # resnet18's default weights (a1_in1k) carry crop_pct 0.95: floor(448 / 0.95) = 471.
    assert data["pipeline"] == {
        "train_resize": [471, 471],
        "train_crop": [448, 448],
        "eval_resize": [471, 471],
        "eval_crop": [448, 448],
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "crop_pct": 0.95,
        "flip": data["level"]["flip"],
    }
    sides = sorted(a["input"]["height"] for a in data["alternatives"])
    assert sides == [48, 96, 160, 224, 288, 320, 448]  # 288 = 9 x 32: the k <= 9 option
    assert [a["chosen"] for a in data["alternatives"]].count(True) == 1


def test_cli_report_marks_the_chosen_row() -> None:
    code, out, _ = run("suggest", "--task", "region", "--backbone", "resnet18", "--no-latency")
    assert code == 0
    assert out.startswith("Use 48x48 input on resnet18 built with output_stride=16")
    assert "Why:\n- task level region" in out and "Warnings:\n- " in out
    chosen = [line for line in out.splitlines() if line.startswith("*")]
    assert len(chosen) == 1 and "48x48" in chosen[0] and " 16 " in chosen[0]


def test_cli_levels_file_and_its_errors(tmp_path: Any) -> None:
    good = tmp_path / "levels.toml"
    good.write_text('[levels.xray]\nresolution = 320\nexample = "chest x-rays"\n')
    code, out, _ = run(
        "suggest", "--task", "xray", "--levels", str(good), "--backbone", "resnet18",
        "--no-latency", "--format", "json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["resolution"] == [320, 320]
    bad = tmp_path / "bad.toml"
    bad.write_text("levels = [")
    code, _, err = run("suggest", "--task", "xray", "--levels", str(bad), "--no-latency")
    assert code == 2
    assert err.startswith("archcalc: error: invalid levels file") and err.count("\n") == 1


def test_reparameterize_reaches_every_prepare_and_the_timing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fusing builds on the CPU (seconds per size): here the flag is recorded, then a plain
    # meta profile stands in; tests/test_profiling.py checks the fused numbers themselves.
    from dataclasses import replace

    from archcalc.recommend import evaluate as profiles
    from archcalc.recommend.decide import CANDIDATE_SIDES
    from archcalc.recommend.suggestion import Option
    from archcalc.timing import measure as timing

    asked: list[str] = []

    def recording(name: str, ready: Any, **trace: Any) -> Any:
        asked.append(name)
        return ready  # the plain meta profile stands in for the fused one

    monkeypatch.setattr(profiles, "fused", recording)
    suggest("coarse", "resnet18", latency=False, reparameterize=True)
    # every profiled size asks for the fused form: at least the candidate sizes
    assert set(asked) == {"resnet18"} and len(asked) >= len(CANDIDATE_SIDES)
    seen: list[bool] = []

    def prepared(*args: Any, reparameterize: bool = False, **kwargs: Any) -> Any:
        seen.append(reparameterize)
        return SimpleNamespace(built=None)

    monkeypatch.setattr(timing, "prepare", prepared)
    monkeypatch.setattr(timing, "measure_built", lambda *a, **k: SimpleNamespace(median_s=1.0))
    fused = replace(archcalc.profile("resnet18", 64), reparameterized=True)
    profiles.latency_s(Option(fused), "cpu")  # timed in the form it was profiled in
    assert seen == [True]


def test_auto_front_table_and_nothing_fits(tmp_path: Any) -> None:
    table = tmp_path / "top1.csv"
    table.write_text(FIXTURE_TABLE)
    s = search_backbones(
        "coarse", budgets=Budgets(max_gmacs=1), latency=False, scope=SearchScope(catalog=table)
    )
    from archcalc.report.tables import suggest_report

    out = suggest_report(s)
    assert out.startswith("Use 224x224 input on efficientnet_b0.ra_in1k for task level coarse")
    assert "Accuracy-cost front at the level's size, most accurate first" in out
    header = next(line for line in out.splitlines() if "top-1 (%)" in line)
    assert header.split()[:4] == ["backbone", "top-1", "(%)", "eval"]
    chosen = next(line for line in out.splitlines() if line.startswith("*"))
    assert chosen.split()[1:5] == ["efficientnet_b0.ra_in1k", "77.70", "224", "224x224"]
    assert "Kornblith et al., CVPR 2019" in out
    auto = ["suggest", "--task", "coarse", "--backbone", "auto", "--no-latency"]
    code, _, err = run(*auto, "--max-gmacs", "0.001")
    # The smallest published cost is 0.03 G (mobilenetv3_small_050 at 224): its bound is
    # (0.03 - 0.005) x 0.9 = 0.0225 G > 0.001; every other row's is larger: nothing fits
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("archcalc: error: no backbone fits at 224x224 with max_gmacs=0.001")
