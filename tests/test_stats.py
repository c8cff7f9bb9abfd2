"""Latency statistics, stopping rules, batch search and the Timing JSON (pure: no torch)."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archcalc.core.memory import needed_bytes
from archcalc.results import Environment, Memory
from archcalc.timing.stats import (
    MAX_BATCH,
    MAX_SAMPLES,
    MIN_SAMPLES,
    BenchReport,
    BenchRow,
    MaxBatch,
    Timing,
    iqr,
    is_stable,
    percentile,
    search_max_batch,
    timed_runs_done,
    warmup_done,
)

ONE_TO_TEN = [float(v) for v in range(10, 0, -1)]  # unsorted on purpose


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [
        # position = q * (n - 1), linear between the two neighbouring order statistics
        (ONE_TO_TEN, 0.5, 5.5),  # 4.5 -> 5 + 0.5 * (6 - 5)
        (ONE_TO_TEN, 0.1, 1.9),  # 0.9 -> 1 + 0.9 * (2 - 1)
        (ONE_TO_TEN, 0.9, 9.1),  # 8.1 -> 9 + 0.1 * (10 - 9)
        (ONE_TO_TEN, 0.25, 3.25),  # 2.25
        (ONE_TO_TEN, 0.75, 7.75),  # 6.75
        (ONE_TO_TEN, 0.0, 1.0),
        (ONE_TO_TEN, 1.0, 10.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.1, 1.4),  # 0.4 -> 1 + 0.4
        ([3.0], 0.9, 3.0),  # one sample is every percentile
        ([2.0, 4.0], 0.5, 3.0),
    ],
)
def test_percentile_known_samples(samples: list[float], q: float, expected: float) -> None:
    assert percentile(samples, q) == pytest.approx(expected)


def test_iqr_of_one_to_ten() -> None:
    assert iqr(ONE_TO_TEN) == pytest.approx(7.75 - 3.25)


def test_percentile_of_nothing_raises() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=50))
def test_percentiles_match_statistics_inclusive(samples: list[float]) -> None:
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    assert percentile(samples, 0.1) == pytest.approx(deciles[0], abs=1e-12)
    assert percentile(samples, 0.5) == pytest.approx(statistics.median(samples), abs=1e-12)
    assert percentile(samples, 0.9) == pytest.approx(deciles[8], abs=1e-12)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([1.0] * 6, True),
        ([2.0, 2.0, 2.0, 1.0, 1.0, 1.0], False),  # still getting faster: 50 % drop
        ([1.0, 1.0, 1.0, 1.04, 1.04, 1.04], True),  # 4 % apart, within 5 %
        ([1.0, 1.0, 1.0, 1.06, 1.06, 1.06], False),  # 6 % apart
        ([1.0] * 5, False),  # two windows of 3 need 6 runs
        ([9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], True),  # only the last two windows count
    ],
)
def test_is_stable(times: list[float], expected: bool) -> None:
    assert is_stable(times) is expected


@pytest.mark.parametrize(
    ("times", "elapsed_s", "max_s", "expected"),
    [
        ([0.1] * 6, 0.6, 3.0, True),  # stable, enough runs and time
        ([0.01] * 6, 0.06, 3.0, False),  # stable but under the 0.3 s minimum
        ([2.0, 2.0], 4.0, 3.0, False),  # past max_s but fewer than 3 runs
        ([2.0, 1.0, 3.0], 6.0, 3.0, True),  # unstable, at least 3 runs, max_s spent
        ([0.5, 0.1, 0.5, 0.1, 0.5, 0.1], 1.8, 3.0, False),  # unstable, time left
    ],
)
def test_warmup_done(times: list[float], elapsed_s: float, max_s: float, expected: bool) -> None:
    assert warmup_done(times, elapsed_s, max_s) is expected


@pytest.mark.parametrize(
    ("count", "elapsed_s", "expected"),
    [
        (MIN_SAMPLES - 1, 5.0, False),  # time spent, too few samples
        (MIN_SAMPLES, 0.5, False),  # enough samples, time left
        (MIN_SAMPLES, 1.0, True),
        (MAX_SAMPLES, 0.1, True),  # the cap
    ],
)
def test_timed_runs_done(count: int, elapsed_s: float, expected: bool) -> None:
    assert timed_runs_done(count, elapsed_s, 1.0) is expected


@pytest.mark.parametrize(
    ("count", "above", "expected"),
    [
        (5, 5, False),  # 5 of 10 over the budget: the other 5 could still pull the median under
        (6, 6, True),  # 6 of the first 10 over: sorted, the 5th and 6th are over
        (9, 5, False),
        (10, 6, True),
        (14, 7, False),  # past 10 samples, half is not a majority
        (15, 8, True),
    ],
)
def test_timed_runs_stop_once_the_median_is_over_a_budget(
    count: int, above: int, expected: bool
) -> None:
    # min_run_time of 1 h: only the budget rule can end these runs
    assert timed_runs_done(count, 0.0, 3600.0, above) is expected


def test_fewer_least_samples() -> None:
    assert timed_runs_done(5, 1.0, 1.0, least=5) is True
    assert timed_runs_done(4, 1.0, 1.0, least=5) is False
    assert timed_runs_done(3, 0.0, 3600.0, above=3, least=5) is True  # 3 of 5 over a budget
    assert timed_runs_done(2, 0.0, 3600.0, above=2, least=5) is False


@pytest.mark.parametrize("largest", [1, 2, 3, 37, 64, 65, 1000, MAX_BATCH - 1])
def test_search_max_batch_finds_the_boundary(largest: int) -> None:
    tried: list[int] = []

    def fits(batch: int) -> bool:
        tried.append(batch)
        return batch <= largest

    assert search_max_batch(fits) == largest
    # doubling up to the first failure, then bisecting: about 2 * log2(largest) + 2 tries
    assert len(tried) <= 2 * math.ceil(math.log2(largest + 1)) + 2


def test_search_max_batch_limits() -> None:
    assert search_max_batch(lambda b: False) == 0
    assert search_max_batch(lambda b: True) == MAX_BATCH
    assert search_max_batch(lambda b: True, limit=100) == 100
    assert search_max_batch(lambda b: b <= 70, limit=100) == 70


def test_needed_bytes_adds_weights_input_and_peak() -> None:
    memory = Memory(1000, 10, 5000, 3000, 0, 0, 0)
    assert needed_bytes(memory, 200) == 1000 + 10 + 200 + 3000


ENV = Environment("0.1.0", "2.x", "1.x", "cpu (x86_64)", "float32", 4)
# sorted: .009 .010 .010 .010 .011 .011 .012 .012 .013 .020
SAMPLES = (0.010, 0.012, 0.011, 0.013, 0.020, 0.009, 0.010, 0.011, 0.012, 0.010)


def make_timing(samples: tuple[float, ...] = SAMPLES, batch_size: int = 4) -> Timing:
    return Timing(
        model="resnet18",
        batch_size=batch_size,
        channels=3,
        height=224,
        width=224,
        device="cpu",
        channels_last=False,
        compiled=False,
        compile_time_s=None,
        min_run_time_s=1.0,
        warmup_runs=12,
        warmup_s=0.4,
        warmup_stable=True,
        samples_s=samples,
        peak_memory_bytes=123_456,
        memory_method="rss_increase",
        environment=ENV,
    )


def test_timing_statistics_from_known_samples() -> None:
    t = make_timing()
    assert t.runs == 10
    assert t.median_s == pytest.approx(0.011)  # (0.011 + 0.011) / 2
    assert t.p10_s == pytest.approx(0.0099)  # position 0.9: .009 + 0.9 * .001
    assert t.p90_s == pytest.approx(0.0137)  # position 8.1: .013 + 0.1 * .007
    assert t.iqr_s == pytest.approx(0.012 - 0.010)  # p75 (pos 6.75) - p25 (pos 2.25)
    assert t.mean_s == pytest.approx(0.118 / 10)
    assert t.images_per_s == pytest.approx(4 / 0.011)  # batch / median


def test_timing_json_round_trip() -> None:
    t = make_timing()
    data = json.loads(json.dumps(t.to_dict()))
    assert Timing.from_dict(data) == t
    assert list(data)[:3] == ["schema_version", "model", "input"]
    assert {"median_s", "p10_s", "p90_s", "iqr_s", "mean_s", "images_per_s", "runs"} <= set(data)
    assert data["samples_s"] == list(SAMPLES)
    assert data["environment"]["threads"] == 4


def test_bench_report_json_marks_out_of_memory_rows() -> None:
    rows = (
        BenchRow(224, 224, 1, 1_800_000_000, make_timing(batch_size=1)),
        BenchRow(224, 224, 4096, 7_372_800_000_000, None, "resnet18 ...: out of memory"),
    )
    found = (MaxBatch(224, 224, 310, "host_estimate", MAX_BATCH, 20 * 2**30),)
    report = BenchReport(model="resnet18", rows=rows, max_batches=found)
    data = json.loads(json.dumps(report.to_dict()))
    assert [r["status"] for r in data["rows"]] == ["ok", "out_of_memory"]
    assert data["rows"][1]["timing"] is None
    assert data["rows"][1]["input"] == {"batch_size": 4096, "height": 224, "width": 224}
    assert data["max_batch"][0]["batch_size"] == 310


@pytest.mark.parametrize(
    ("samples", "stable", "warnings"),
    [
        # p10-p90 = 0.0137 - 0.0099 = 0.0038 = 34.5% of the 0.011 median > 20%
        (SAMPLES, True, ["wide_spread"]),
        # ten samples 0.010 .. 0.0109: p10 0.01009, p90 0.01081, spread 0.00072 / 0.01045 = 6.9%
        (tuple(0.010 + i * 0.0001 for i in range(10)), True, []),
        (tuple(0.010 + i * 0.0001 for i in range(10)), False, ["unstable_warmup"]),
    ],
)
def test_timing_verdicts_are_in_its_json(
    samples: tuple[float, ...], stable: bool, warnings: list[str]
) -> None:
    t = dataclasses.replace(make_timing(samples), warmup_stable=stable)
    data = json.loads(json.dumps(t.to_dict()))
    assert data["warnings"] == warnings
    assert len(t.warning_notes()) == len(warnings)
    assert Timing.from_dict(data) == t  # derived, so ignored on the way back


def test_timing_prints_its_bench_row_and_notes() -> None:
    t = make_timing()
    lines = str(t).splitlines()
    # median 11.00 ms, p10-p90 9.90-13.70 ms, batch 4 / 0.011 s = 363.6 images/s, 10 runs
    assert lines[2].split() == ["resnet18", "224x224", "4", "11.00", "9.90-13.70", "363.6",
                                "0.1", "10"]  # fmt: skip
    assert any("wide spread (p10-p90 is 35% of the median)" in line for line in lines)
    assert repr(t) == (
        "Timing(model='resnet18', resolution=(224, 224), batch_size=4, device='cpu', "
        "median_s=0.011, runs=10, warnings=('wide_spread',))"
    )
    assert t._repr_markdown_().startswith("| model")
