"""``archcalc bench``: rows per (resolution, batch), OOM rows, max batch, CLI output."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from archcalc.cli import main
from archcalc.core import memory
from archcalc.profiling.prepare import prepare
from archcalc.report.tables import billions
from archcalc.timing import bench as bench_module
from archcalc.timing import measure as timing
from archcalc.timing.bench import bench
from archcalc.timing.measure import TimingSettings
from archcalc.timing.stats import MIN_SAMPLES

FAST = TimingSettings(threads=1, min_run_time_s=1e-6)
#: Every test here checks what bench reports, not how long a measurement warms up.
pytestmark = pytest.mark.usefixtures("brief_warmup")


def tiny() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1))


def test_one_row_per_resolution_and_batch_with_profile_macs() -> None:
    model = tiny()
    report = bench(model, [16, "24x16"], [1, 3], settings=FAST)
    got = [(r.height, r.width, r.batch_size) for r in report.rows]
    assert got == [(16, 16, 1), (16, 16, 3), (24, 16, 1), (24, 16, 3)]
    assert all(r.timing is not None and r.timing.runs == MIN_SAMPLES for r in report.rows)
    # MACs per row come from the profile at that batch: conv3x3 (8x3x9) + conv1x1 (8x8) per
    # output pixel; 16x16 -> 8x8 map: 64 x (216 + 64) = 17,920 per image
    assert [r.macs for r in report.rows[:2]] == [17_920, 3 * 17_920]
    # 24x16 -> 12x8 map (stride 2, padding 1): 96 x (216 + 64) = 26,880 per image
    assert [r.macs for r in report.rows[2:]] == [26_880, 3 * 26_880]


def test_out_of_memory_row_is_reported_and_the_others_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = timing._measure_in_session

    def oom_at_batch_2(built: Any, res: Any, spec: Any, batch_size: int, *rest: Any) -> Any:
        if batch_size == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")
        return real(built, res, spec, batch_size, *rest)

    monkeypatch.setattr(timing, "_measure_in_session", oom_at_batch_2)
    report = bench(tiny(), [16], [1, 2, 4], settings=FAST)
    assert [r.timing is not None for r in report.rows] == [True, False, True]
    assert "batch 2: out of memory on cpu (CUDA out of memory" in str(report.rows[1].error)


def test_row_too_big_for_host_is_refused_from_the_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # input of batch 64 at 128x128: 64 x 3 x 128 x 128 x 4 B = 12 MiB > a 10 MiB budget
    monkeypatch.setattr(memory, "available_host_bytes", lambda: int(10 * 2**20 / 0.9))
    report = bench(tiny(), [128], [1, 64], settings=FAST)
    assert report.rows[0].timing is not None and report.rows[1].timing is None
    assert "needs about" in str(report.rows[1].error)


def test_cpu_max_batch_from_the_memory_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    available = 64 * 2**20
    monkeypatch.setattr(memory, "available_host_bytes", lambda: available)
    report = bench(tiny(), [32], [1], find_max_batch=True, settings=FAST)
    # weights: conv3x3 8x3x9 + 8 biases = 224, conv1x1 8x8 + 8 = 72 -> 296 floats = 1,184 B
    fixed = 4 * (224 + 72)
    # per image: the input 3x32x32 floats = 12,288 B, plus the activation peak: the input
    # (12,288 B) and two 8x16x16 maps (conv out and ReLU out, 8,192 B each) alive together
    per_image = 12_288 + (12_288 + 2 * 8_192)
    expected = (int(0.9 * available) - fixed) // per_image  # largest b: fixed + b x per_image
    (found,) = report.max_batches
    assert (found.batch_size, found.method) == (expected, "host_estimate")


def test_cuda_max_batch_searches_with_real_forwards(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA branch, driven on CPU: probe_batch (tested in test_timing) faked to fit <= 100."""
    tried: list[int] = []

    def probe(built: Any, res: Any, spec: Any, batch: int, in_chans: int) -> bool:
        tried.append(batch)
        return batch <= 100

    monkeypatch.setattr(bench_module, "probe_batch", probe)
    spec = timing.TimingSettings(threads=1, min_run_time_s=1e-6).checked()
    cuda_spec = spec.__class__(**{**spec.__dict__, "device": "cuda:0"})
    built = prepare(tiny(), (8, 8), device="cpu").built
    found = bench_module._max_batch(built, lambda: built, (8, 8), cuda_spec, 3)
    assert (found.batch_size, found.method) == (100, "cuda_oom_search")
    assert tried[:8] == [1, 2, 4, 8, 16, 32, 64, 128]  # doubling, then bisecting 64..128


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_cli_bench_table() -> None:
    args = ["--res", "32", "--batch-size", "1", "--batch-size", "2", "--threads", "1"]
    code, out, _ = run("bench", "resnet18", *args, "--min-time", "0.000001")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["res", "batch", "median", "(ms)"]
    assert [line.split()[:2] for line in lines[2:4]] == [["32x32", "1"], ["32x32", "2"]]
    # resnet18: 1,814,073,344 MACs at 224 (timm/torchvision tables), of which the fc layer is
    # 512 x 1000 = 512,000. At 32 every conv map is 1/7 of its side at 224 (16..1 vs 112..7),
    # so conv MACs scale by 1/49: 1,813,561,344 / 49 + 512,000 = 37,523,456 per image
    macs = [billions(37_523_456), billions(2 * 37_523_456)]
    assert macs == ["0.038", "0.075"]
    assert [line.split()[-2:] for line in lines[2:4]] == [[macs[0], "10"], [macs[1], "10"]]
    notes = out.replace("\n  ", " ")  # wrapped at 100 columns
    assert "Latency: resnet18 on cpu" in notes and "1 CPU thread(s)" in notes


def test_cli_bench_json() -> None:
    code, out, _ = run(
        "bench",
        "resnet18",
        "--res",
        "32",
        "--threads",
        "1",
        "--min-time",
        "1e-6",
        "--format",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["model"] == "resnet18" and data["max_batch"] == []
    (row,) = data["rows"]
    assert row["status"] == "ok" and row["timing"]["runs"] == 10
    assert row["timing"]["input"] == {"batch_size": 1, "channels": 3, "height": 32, "width": 32}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cli_bench_cuda_without_gpu_is_one_line_exit_2() -> None:
    code, out, err = run("bench", "resnet18", "--device", "cuda")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "archcalc: error: no CUDA device is visible (asked for 'cuda'); use --device cpu"
    ]


@pytest.mark.slow
def test_cli_inspect_latency_column() -> None:
    code, out, _ = run("inspect", "resnet18", "--res", "32", "--latency", "--device", "cpu")
    assert code == 0
    lines = out.splitlines()  # the 100-column table may split: the latency ends the last part
    header = next(i for i, line in enumerate(lines) if line.split()[-2:] == ["median", "(ms)"])
    assert float(lines[header + 2].split()[-1]) > 0
    assert "Latency: resnet18 on cpu" in out
