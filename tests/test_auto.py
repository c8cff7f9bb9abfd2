"""``--backbone auto`` on fixture tables: catalog, bounds, the pruned search, its answers.

The search runs with a fake profiler (each fixture architecture has a hand-set cost and final
map at the level's size), so every answer below is checked by hand from the table.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from helpers import make

from archcalc.errors import NothingFitsError, UnknownModelError
from archcalc.recommend.catalog import SOURCE, best_per_arch, load_catalog, read_catalog
from archcalc.recommend.decide import recommend
from archcalc.recommend.levels import find_level
from archcalc.recommend.rules import Backbone
from archcalc.recommend.search import search
from archcalc.recommend.search_front import mac_bound, param_bound
from archcalc.recommend.suggestion import Option

COARSE, FINE, REGION = (find_level(n) for n in ("coarse", "fine-grained", "region"))
HEADER = "arch,tag,top1,top5,eval_size,crop_pct,train_size,params_m,gmacs\n"
#: Five architectures, all published at 224 (GMACs there) and trained at 224 except big_a.
TABLE = HEADER + (
    "big_a,x,85.0,97.0,288,1.0,224,80.0,20.0\n"
    "big_a,y,84.0,96.0,224,0.9,224,80.0,12.0\n"
    "mid_b,x,80.0,95.0,224,0.9,224,20.0,4.0\n"
    "tie_c,x,80.0,95.0,224,0.9,224,10.0,3.0\n"
    "small_d,x,75.0,92.0,224,0.9,224,5.0,1.0\n"
    "tiny_e,x,70.0,90.0,224,0.9,224,2.0,0.5\n"
)
#: Profiled cost at any level size: (GMACs, params in M, global stride). tie_c really costs
#: 2.5 G, less than mid_b's 3.5 G, though both report top-1 80.0.
COST = {
    "big_a.x": (15.0, 80.0, 32),
    "mid_b.x": (3.5, 20.0, 32),
    "tie_c.x": (2.5, 10.0, 32),
    "small_d.x": (0.9, 5.0, 32),
    "tiny_e.x": (0.45, 2.0, 32),
}


def fake_profiler(calls: list[str]):
    """Profiles from ``COST`` (MACs fixed, independent of the size); unknown names raise."""

    def profiler(name: str, res: tuple[int, int]) -> tuple[list[Option], Backbone]:
        calls.append(name)
        if name not in COST:
            raise UnknownModelError(f"unknown model {name!r}")
        gmacs, params_m, stride = COST[name]
        p = make(name, res, stride)
        p = p.__class__(
            **{**p.__dict__, "macs": round(gmacs * 1e9), "params": round(params_m * 1e6)}
        )
        return [Option(p)], Backbone(name)

    return profiler


def run(level=COARSE, table: str = TABLE, **kwargs):
    calls: list[str] = []
    front = search(level, read_catalog(table), profiler=fake_profiler(calls), **kwargs)
    return front, calls


def test_best_weight_per_arch_and_family() -> None:
    best = best_per_arch(read_catalog(TABLE))
    # big_a: tag x (85.0 at 288) beats tag y (84.0 at 224); mid_b and tie_c tie at 80.0 and
    # are ordered by published cost (tie_c 3.0 < mid_b 4.0).
    assert [e.name for e in best] == ["big_a.x", "tie_c.x", "mid_b.x", "small_d.x", "tiny_e.x"]
    assert [e.arch for e in best_per_arch(read_catalog(TABLE), "t*,small_*")] == [
        "tie_c",
        "small_d",
        "tiny_e",
    ]


def test_bounds_arithmetic() -> None:
    big = read_catalog(TABLE)[0]  # 20.0 G published at 288
    # 224 from 288: a = (224/288)^2 = 0.60494, a^2 = 0.36595 > 0.45 a -> (20 - 0.005) x 0.9 x a^2
    assert mac_bound(big, (224, 224)) == pytest.approx(19.995e9 * 0.9 * 0.60494**2, rel=1e-4)
    # 576 from 288: a = 4 (conv growth, the slowest) -> 19.995 x 0.9 x 4 = 71.98 G
    assert mac_bound(big, (576, 576)) == pytest.approx(71.982e9, rel=1e-4)
    # 48 from 288: a = 1/36, a^2 = 0.00077 < 0.45 a = 0.0125 -> 19.995 x 0.9 x 0.0125 = 0.2249 G
    assert mac_bound(big, (48, 48)) == pytest.approx(0.224944e9, rel=1e-4)
    # an unaligned published size: tinynet_e-like, 0.03 G at 106. Exact area ratio to 224 is
    # (224/106)^2 = 4.466, stride-32 maps (7/4)^2 = 3.0625: the smaller, (0.03 - 0.005) x 0.9
    # x 3.0625 = 0.0689 G (tinynet_e.in1k profiles at 0.088 G at 224)
    small = read_catalog(HEADER + "tiny,x,60.0,80.0,106,0.875,106,2.0,0.03\n")[0]
    assert mac_bound(small, (224, 224)) == pytest.approx(0.025e9 * 0.9 * 3.0625, rel=1e-6)
    # params: (80 - 0.005) x 0.85 = 67.996 M
    assert param_bound(big) == pytest.approx(67.99575e6, rel=1e-6)


def test_most_accurate_that_fits_and_the_front() -> None:
    front, calls = run(max_gmacs=5, latency=False)
    # big_a: bound (20 - 0.005) x 0.9 x 0.366 = 6.59 G > 5: pruned. tie_c (80.0, 2.5 G) is
    # the choice; mid_b ties at 80.0 but its bound (4 - 0.005) x 0.9 = 3.6 G >= 2.5: pruned;
    # small_d (0.9 G) and tiny_e (0.45 G) are cheaper, less accurate front options.
    assert [o.backbone for o in front.options] == ["tie_c.x", "small_d.x", "tiny_e.x"]
    assert calls == ["tie_c.x", "small_d.x", "tiny_e.x"]
    s = front.summary
    assert (s.candidates, s.pruned_macs, s.pruned_front, s.profiled) == (5, 1, 1, 3)


def test_tie_goes_to_the_cheaper_profile() -> None:
    # Published mid_b 3.2 G < tie_c 3.5 G, so mid_b is profiled first (really 3.5 G); tie_c's
    # bound (3.5 - 0.005) x 0.9 = 3.15 G < 3.5, so it is profiled too: 2.5 G at the same top-1
    # 80.0, it replaces mid_b on the front.
    table = TABLE.replace("224,20.0,4.0", "224,20.0,3.2").replace("224,10.0,3.0", "224,10.0,3.5")
    front, calls = run(table=table, max_gmacs=5, top=2, latency=False)
    assert calls[:2] == ["mid_b.x", "tie_c.x"]
    assert [o.backbone for o in front.options] == ["tie_c.x", "small_d.x"]


def test_tie_with_the_last_front_option_is_still_considered() -> None:
    # top=1: tie_c (published 3.5 G, listed after mid_b's 3.2 G) ties mid_b's 80.0 and
    # really costs 2.5 G < 3.5 G, so the walk goes on past the full front and takes it.
    table = TABLE.replace("224,20.0,4.0", "224,20.0,3.2").replace("224,10.0,3.0", "224,10.0,3.5")
    front, calls = run(table=table, max_gmacs=5, top=1, latency=False)
    assert calls == ["mid_b.x", "tie_c.x"]
    assert [o.backbone for o in front.options] == ["tie_c.x"]


def test_params_budget_and_top() -> None:
    front, _ = run(max_params=6, top=1, latency=False)
    # bounds: big_a 68.0, tie_c 8.5, mid_b 17.0 M > 6; small_d (5.0 - 0.005) x 0.85 = 4.25 fits
    assert [o.backbone for o in front.options] == ["small_d.x"]
    assert front.summary.pruned_params == 3 and front.summary.not_reached == 1


def test_budget_that_excludes_everything_is_one_line() -> None:
    with pytest.raises(NothingFitsError) as e:
        run(max_gmacs=0.1, latency=False)
    message = str(e.value)
    assert "\n" not in message
    # tiny_e's bound (0.5 - 0.005) x 0.9 = 0.4455 G > 0.1: all five pruned, none profiled
    assert message.startswith("no backbone fits at 224x224 with max_gmacs=0.1: searched 5")
    assert "5 excluded by published lower bounds" in message


def test_architecture_missing_from_timm_is_skipped_with_a_note() -> None:
    table = HEADER + "gone_z,x,99.0,99.0,224,0.9,224,1.0,0.1\n" + TABLE[len(HEADER) :]
    front, calls = run(table=table, max_gmacs=5, top=1, latency=False)
    assert calls[0] == "gone_z.x" and front.options[0].backbone == "tie_c.x"
    assert front.summary.missing == ("gone_z.x",)
    assert front.notes == (
        "skipped 1 name(s) in the accuracy table that timm does not list: gone_z.x",
    )


def test_k_rule_rejects_a_map_too_small() -> None:
    # At 48 every fixture net (stride 32) ends at 2x2 and has no stride remedy: none fits.
    with pytest.raises(NothingFitsError, match="5 failed the k rule"):
        run(level=REGION, latency=False)


def test_latency_budget_skips_what_cannot_fit() -> None:
    timed: list[str] = []

    def timer(option: Option, device: str, budget_s: float | None) -> float:
        timed.append(option.backbone)
        assert budget_s == (None if option.backbone == "resnet18" else 0.1)
        return option.profile.macs / 1e10  # 10 GMACs per second, every net

    calls: list[str] = []
    COST["resnet18"] = (1.0, 11.7, 32)  # the calibration net (1 G -> 100 ms)
    try:
        front = search(
            COARSE,
            read_catalog(TABLE),
            budget_ms=100,
            top=1,
            timer=timer,
            profiler=fake_profiler(calls),
        )
    finally:
        del COST["resnet18"]
    # Rate 10 G/s; an option is timed only if MACs / (1.5 x 10 G/s) <= 100 ms, i.e. <= 1.5 G:
    # big_a (15 G) is skipped untimed; tie_c (2.5 G) is skipped untimed; mid_b's bound 3.6 G
    # >= nothing on the front yet, so it is profiled (3.5 G) and skipped untimed; small_d
    # (0.9 G, 90 ms) fits.
    assert timed == ["resnet18", "small_d.x"]
    assert front.options[0].backbone == "small_d.x"
    assert front.options[0].latency_s == pytest.approx(0.09)


def test_fixres_reason_and_accuracy_json() -> None:
    front, _ = run(level=FINE, latency=False, top=1)
    s = recommend(FINE, front.options, front.backbones, search=front.summary)
    # big_a.x: trained at 224, evaluated at 288: at 448 evaluate at 448 x 288/224 = 576
    assert s.backbone == "big_a.x"
    fixres = [r for r in s.reasons if r.startswith("test-time size (FixRes)")]
    assert len(fixres) == 1
    assert "trained at 224x224" in fixres[0] and "measured at 288x288" in fixres[0]
    assert "evaluate at 576x576" in fixres[0] and "NeurIPS 2019" in fixres[0]
    acc = s.to_dict()["alternatives"][0]["accuracy"]
    assert acc == {
        "top1": 85.0,
        "top5": 97.0,
        "tag": "x",
        "eval_size": 288,
        "train_size": 224,
        "crop_pct": 1.0,
        "source": SOURCE,
    }
    assert s.to_dict()["search"]["profiled"] == 1


def test_packaged_table_reads_without_torch() -> None:
    code = (
        "import sys; from archcalc.recommend.catalog import load_catalog; "
        "rows = load_catalog(); print(len(rows), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # 1556 rows in timm's results-imagenet.csv (reference README), none dropped by timm 1.0.31
    assert out.stdout.split() == ["1556", "False"]


def test_packaged_table_rows_match_published_numbers() -> None:
    rows = {(e.arch, e.accuracy.tag, e.accuracy.eval_size): e for e in load_catalog()}
    # resnet50.a1_in1k: trained at 224, published at 224 (80.382) and at 288 (81.240);
    # 4.11 GMACs at 224 (reference README sanity table)
    e = rows[("resnet50", "a1_in1k", 224)]
    assert (e.accuracy.top1, e.accuracy.train_size, e.macs) == (80.382, 224, 4_110_000_000)
    assert rows[("resnet50", "a1_in1k", 288)].accuracy.top1 == 81.240


def test_a_network_that_resizes_its_input_is_not_chosen() -> None:
    # big_a built for 240 (a lifted img_size, as CrossViT's): at 224 its layers never see 224
    calls: list[str] = []
    profiler = fake_profiler(calls)

    def resizing(name: str, res: tuple[int, int]) -> tuple[list[Option], Backbone]:
        options, backbone = profiler(name, res)
        if name == "big_a.x":
            options = [replace(options[0], build_kwargs=(("img_size", (240, 240)),))]
        return options, backbone

    front = search(COARSE, read_catalog(TABLE), top=1, latency=False, profiler=resizing)
    assert front.options[0].backbone == "tie_c.x"  # the next most accurate (2.5 G, 10 M)
    assert (front.summary.profiled, front.summary.resized) == (2, 1)
    assert "1 resize their input" in front.summary.text()
    built_for_224 = replace(front.options[0], build_kwargs=(("img_size", 224),))
    same = search(COARSE, read_catalog(TABLE), top=1, latency=False,
                  profiler=lambda n, r: ([built_for_224], Backbone(n)))  # fmt: skip
    assert same.summary.resized == 0  # built for the level's own size: kept


def test_latency_decides_the_choice_only() -> None:
    timed: list[str] = []

    def timer(option: Option, device: str, budget_s: float | None) -> float:
        timed.append(option.backbone)
        return option.profile.macs / 1e10  # 10 GMACs per second, every net

    COST["resnet18"] = (1.0, 11.7, 32)  # the calibration net (1 G -> 100 ms)
    try:
        front = search(COARSE, read_catalog(TABLE), budget_ms=300, top=3, timer=timer,
                       profiler=fake_profiler([]))  # fmt: skip
    finally:
        del COST["resnet18"]
    # big_a (15 G: 1 s even at 1.5 x 10 G/s) is skipped untimed; tie_c (2.5 G, 250 ms) is
    # timed and fits: the choice. mid_b's bound 3.6 G >= 2.5: off the front. small_d and
    # tiny_e join the front on their MACs, untimed.
    assert timed == ["resnet18", "tie_c.x"]
    assert [o.backbone for o in front.options] == ["tie_c.x", "small_d.x", "tiny_e.x"]
    assert [o.latency_s for o in front.options] == [pytest.approx(0.25), None, None]
    assert any(n.startswith("latency decides the choice only: the other 2 front option(s)")
               and "archcalc bench small_d.x --res 224x224" in n for n in front.notes)  # fmt: skip
