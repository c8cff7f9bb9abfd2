"""The pure recommender on synthetic profiles: k rule, ranking, remedies, budgets, pipeline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import COARSE, FINE, REGION, SIDES, grid, make

from archcalc.errors import InvalidArgumentError
from archcalc.growth import fit_growth
from archcalc.recommend.decide import rank, recommend, violations
from archcalc.recommend.levels import LEVELS, Level
from archcalc.recommend.rules import Backbone
from archcalc.recommend.suggestion import Option, Suggestion, relative_cost


@pytest.mark.parametrize(
    ("level", "side", "k"),
    [(COARSE, 224, 7), (FINE, 448, 14)],
)
def test_level_size_is_chosen(level: Level, side: int, k: int) -> None:
    s = recommend(level, grid(), [Backbone("net")])
    assert s.resolution == (side, side)
    assert s.chosen.profile.final_map == (k, k)
    assert s.warnings == ()


def test_fine_grained_says_the_large_map_is_on_purpose() -> None:
    s = recommend(FINE, grid(), [Backbone("net")])
    assert any("on purpose" in r and "14x14" in r for r in s.reasons)


def test_large_map_on_a_coarse_level_warns() -> None:
    s = recommend(COARSE, grid(sides=(320, 448)), [Backbone("net")])
    assert s.resolution == (320, 320)  # closest to 224
    assert any("above 9x9" in w for w in s.warnings)


def test_region_adopts_the_output_stride_remedy() -> None:
    options = [*grid(), Option(make("net", 48, 16, os=16))]
    s = recommend(REGION, options, [Backbone("net")])
    assert (s.resolution, s.chosen.profile.output_stride) == ((48, 48), 16)
    assert s.chosen.profile.final_map == (3, 3)  # ceil(48 / 16)
    (warning,) = s.warnings
    assert "2x2" in warning and "output_stride=16" in warning
    assert "0.009 GMACs" in warning  # 48 * 48 * 1000 * (32 / 16)^2 = 9.216e6 MACs
    assert any("96x96" in r for r in s.reasons)  # the other remedy, a larger input


def test_region_without_stride_support_proposes_a_larger_input() -> None:
    note = "net does not accept output_stride=16 (timm)"
    s = recommend(REGION, grid(), [Backbone("net", output_stride_note=note)])
    assert s.resolution == (48, 48)  # the level's size, with the problem said plainly
    (warning,) = s.warnings
    assert "2x2" in warning and "96x96 -> 3x3" in warning and note in warning


def test_preference_order_breaks_ties() -> None:
    options = grid("b") + grid("a")
    assert recommend(COARSE, options, [Backbone("a"), Backbone("b")]).backbone == "a"
    assert recommend(COARSE, options, [Backbone("b"), Backbone("a")]).backbone == "b"


def test_k_rule_beats_preference_at_the_same_size() -> None:
    # "a" (listed first) ends at 2x2 at 48; "b" reaches 3x3 there with output_stride 16.
    options = grid("a") + grid("b") + [Option(make("b", 48, 16, os=16))]
    s = recommend(REGION, options, [Backbone("a"), Backbone("b")])
    assert (s.backbone, s.chosen.profile.output_stride) == ("b", 16)


def test_max_gmacs_excluding_448_falls_back_and_names_the_constraint() -> None:
    # 448^2 * 1000 = 0.2007 GMACs > 0.15; 320^2 * 1000 = 0.1024 GMACs fits.
    s = recommend(FINE, grid(), [Backbone("net")], max_gmacs=0.15)
    assert s.resolution == (320, 320)
    assert any("max_gmacs=0.15" in w and "448x448" in w for w in s.warnings)
    assert any("closest size that fits" in r for r in s.reasons)


def test_budget_ms_uses_measured_latency_only() -> None:
    latency_s = {448: 0.050, 320: 0.020}  # 224 and below: not measured
    options = [Option(make("net", s), latency_s.get(s)) for s in SIDES]
    s = recommend(FINE, options, [Backbone("net")], budget_ms=30)
    assert s.resolution == (320, 320)
    assert s.to_dict()["latency_ms"] == pytest.approx(20.0)
    assert any("budget_ms=30 (50.00 ms)" in w for w in s.warnings)


def test_nothing_fits_names_the_binding_constraint_and_the_closest_cost() -> None:
    s = recommend(COARSE, grid(), [Backbone("net")], max_gmacs=0.001)
    assert s.resolution == (48, 48)  # the cheapest: 2.304e6 MACs, the closest to 1e6
    (first, *_) = s.warnings
    assert first.startswith("nothing fits the budget: max_gmacs=0.001")
    assert "0.002 GMACs" in first  # the closest option's cost


def test_violations_lists_each_budget() -> None:
    o = Option(make("net", 448), 0.05)
    assert violations(o, None, None) == []
    assert violations(o, 100, 1) == []
    assert violations(o, 10, 0.1) == ["max_gmacs=0.1 (0.201 GMACs)", "budget_ms=10 (50.00 ms)"]
    assert violations(Option(make("net", 448)), 10, None) == ["budget_ms=10 (latency not measured)"]


def test_unaligned_size_gets_the_nearest_aligned_ones() -> None:
    level = Level("custom", (280, 280), "x", "y")  # ceil(280 / 32) = 9: k is fine, alignment not
    options = [Option(make("net", s)) for s in (256, 280, 288)]
    s = recommend(level, options, [Backbone("net")])
    assert s.resolution == (280, 280)
    (warning,) = s.warnings
    assert "not a multiple" in warning and "256x256 -> 8x8" in warning and "288x288" in warning


def test_rank_orders_by_distance_then_k_then_preference_then_macs() -> None:
    options = grid("b") + grid("a")
    ranked = rank(options, COARSE, ["a", "b"])
    assert [(o.backbone, o.profile.height) for o in ranked[:4]] == [
        ("a", 224),
        ("b", 224),
        ("a", 160),  # log2(224/160) = 0.49 < log2(320/224) = 0.51
        ("b", 160),
    ]


def test_to_dict_has_exactly_the_documented_keys() -> None:
    options = [Option(make("net", s), 0.01 if s == 224 else None) for s in SIDES]
    data = recommend(COARSE, options, [Backbone("net")]).to_dict()
    assert list(data) == [
        "task",
        "resolution",
        "backbone",
        "output_stride",
        "final_map",
        "global_stride",
        "macs",
        "params",
        "latency_ms",
        "warnings",
        "reasons",
        "pipeline",
        "growth",
        "alternatives",
        "level",
        "device",
        "latency_basis",  # null unless the latencies were predicted (docs/schemas.md)
        "search",  # null outside --backbone auto (docs/schemas.md)
        "k_alternatives",
        "training",
        "train_batches",
        "data",  # null without --data (rules §6)
    ]
    assert data["search"] is None
    assert (data["k_alternatives"], data["train_batches"]) == ([], [])  # 7x7, no --gpu-memory
    assert list(data["pipeline"]) == [
        "train_resize",
        "train_crop",
        "eval_resize",
        "eval_crop",
        "mean",
        "std",
        "crop_pct",
        "flip",
    ]
    assert (data["task"], data["resolution"], data["latency_ms"]) == ("coarse", [224, 224], 10.0)
    chosen = [a for a in data["alternatives"] if a["chosen"]]
    assert len(chosen) == 1 and chosen[0]["input"]["height"] == 224
    profile_keys = set(make("net", 224).to_dict())
    extra = {"latency_s", "latency_ms", "chosen", "cost_vs_level", "accuracy"}
    assert all(set(a) == profile_keys | extra for a in data["alternatives"])
    json.dumps(data)  # plain JSON types only


def test_suggestion_json_round_trip() -> None:
    options = [Option(make("net", s), 0.01 if s == 224 else None) for s in SIDES]
    s = recommend(FINE, options, [Backbone("net")], device="cpu")
    back = Suggestion.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s


def test_suggestion_prints_its_headline_and_chosen_row() -> None:
    options = [Option(make("net", s)) for s in SIDES]
    s = recommend(COARSE, options, [Backbone("net")])
    text = str(s)
    # 224 / 32 = 7: the chosen row; 224 * 224 * 1000 MACs = 0.050176 G
    assert text.startswith("    backbone") and "*   net" in text and "7x7" in text
    assert "Use 224x224 input on net for task level coarse" in text
    # header, rule, the chosen row, blank, headline (wrapped at 100 columns: joined here)
    assert len(text.replace("\n  ", " ").splitlines()) == 5
    assert repr(s).startswith("Suggestion(task='coarse', backbone='net', resolution=(224, 224)")
    assert "| *  | net" in s._repr_markdown_() and "448x448" in s._repr_markdown_()


def test_no_options_is_a_user_error() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"^no backbone could be profiled at any candidate size$"
    ):
        recommend(COARSE, [], [Backbone("net")])


def test_no_options_names_why_each_size_was_skipped() -> None:
    notes = ["skipped net at 48x48: too small", "skipped net at 224x224: not whole windows"]
    expected = (
        "no backbone could be profiled at any candidate size: "
        "skipped net at 48x48: too small; skipped net at 224x224: not whole windows"
    )
    with pytest.raises(InvalidArgumentError) as caught:
        recommend(COARSE, [], [Backbone("net")], notes=notes)
    assert str(caught.value) == expected


def test_levels_table_matches_the_sizing_rules() -> None:
    assert [(lv.name, lv.resolution) for lv in LEVELS] == [
        ("coarse", (224, 224)),
        ("fine-grained", (448, 448)),
        ("region", (48, 48)),
        ("objects", (640, 640)),  # detection-style sets (rules §6), sized from --data
    ]


def test_recommender_imports_neither_torch_nor_timm() -> None:
    code = (
        "import sys, archcalc.recommend.decide, archcalc.recommend.rules, "
        "archcalc.recommend.levels, archcalc.recommend.batch, archcalc.recommend.kmax, "
        "archcalc.recommend.training, archcalc.recommend.suggestion; "
        "print('torch' in sys.modules, 'timm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_k_formula_is_shown_per_axis_for_non_square_inputs() -> None:
    level = Level("doc", (448, 320), "pages", "text")
    s = recommend(level, [Option(make("net", (448, 320)))], [Backbone("net")])
    assert "k = ceil(448 / 32) x ceil(320 / 32) = 14x10" in s.reasons[1]
    assert any("14x10 is above 9x9" in w for w in s.warnings)  # not a fine-grained level


def test_each_row_costs_relative_to_the_level_size() -> None:
    # synthetic MACs are proportional to the pixels: 448^2 / 224^2 = 4.0, 96^2 / 224^2 = 0.18
    options = grid()
    by_side = {o.profile.height: relative_cost(o, options, COARSE) for o in options}
    assert by_side[448] == pytest.approx(4.0)
    assert by_side[96] == pytest.approx(96**2 / 224**2)
    assert relative_cost(options[0], options[1:], COARSE) is not None
    assert (
        relative_cost(options[0], [o for o in options if o.profile.height != 224], COARSE) is None
    )
    from archcalc.report.tables import suggest_rows

    rows = suggest_rows(recommend(COARSE, options, [Backbone("net")]))
    assert [r[8] for r in rows if r[2] == "448x448"] == ["4.0x 224x224"]


def test_reasons_name_the_growth_law() -> None:
    options = grid()
    cnn = {"net": fit_growth(list(SIDES), [o.profile.macs for o in options])}
    s = recommend(FINE, options, [Backbone("net")], growth=cnn)
    growth = next(r for r in s.reasons if r.startswith("growth:"))
    # 1000 MACs per pixel: 1000 r^2 exactly; doubling the side costs 2^2 = 4x
    assert "1e+03 r^2 + 0 r^4" in growth and "quadratic, no global attention" in growth
    assert "doubling the side costs 4.0x" in growth
    # a ViT-like law: 1000 r^2 + 0.004 r^4 -> at 448: 0.004 * 448^2 = 803 of 1803 = 44.5 %
    vit = {"net": fit_growth(list(SIDES), [1000 * r * r + 0.004 * r**4 for r in SIDES])}
    s = recommend(FINE, options, [Backbone("net")], growth=vit)
    growth = next(r for r in s.reasons if r.startswith("growth:"))
    assert "global attention (the r^4 part) is 44.5% of the cost at 448" in growth
    assert s.to_dict()["growth"]["quartic"] == pytest.approx(0.004)


def test_a_predicted_latency_never_reads_as_a_measurement() -> None:
    from dataclasses import replace

    from archcalc.recommend.suggestion import suggest_headline
    from archcalc.report.prediction import predicted_label
    from archcalc.report.tables import suggest_report

    timed = [replace(o, latency_s=0.002) for o in grid()]
    basis = predicted_label("rtx4090", "float16", 64, "9-34 %")
    assert basis == "PREDICTED, not measured: rtx4090 (float16), batch 64, error 9-34 %"
    s = recommend(COARSE, timed, [Backbone("net")], latency_basis=basis)
    text = suggest_report(s)
    assert suggest_headline(s).endswith("2.00 ms PREDICTED.")
    assert f"2.00 ms {basis}" in " ".join(s.reasons)
    assert "median" not in text and f"latency: {basis}" in " ".join(text.split())  # wrapped
    assert type(s).from_dict(s.to_dict()).latency_basis == basis
    measured = recommend(COARSE, timed, [Backbone("net")])
    assert measured.latency_basis is None
    assert "2.00 ms median latency at batch 1 on cpu" in " ".join(measured.reasons)
