"""Sweeps: isolation (raise, hang, os._exit, memory), resume after a torn line or kill -9,
sharding, merging, and the default profiler on tiny timm models.

Failing workers come from ``tests/sweep_fakes.py`` (``profiler="sweep_fakes:fake_profiler"``):
the behaviour is chosen by the model name, so no test-only branch exists in archcalc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from archcalc.errors import InvalidArgumentError, UnknownModelError, WorkerCrashError
from archcalc.sweep.jsonl import read_jsonl, repair
from archcalc.sweep.merge import merge_results
from archcalc.sweep.run import (
    ModelTask,
    SweepSettings,
    expand_models,
    line_key,
    profile_task,
    run_sweep,
)
from archcalc.sweep.shards import parse_shard, shard_models
from archcalc.sweep.workers import Failure

TESTS = Path(__file__).resolve().parent
FAKE = "sweep_fakes:fake_profiler"
RES = (48, 224, 448)


def _pairs(path: Path) -> Counter[tuple[str, int]]:
    """(model, height) -> how many lines the file holds for it."""
    return Counter((r["model"], r["input"]["height"]) for r in read_jsonl(path).records)


def _by_pair(path: Path) -> dict[tuple[str, int], dict]:
    return {(r["model"], r["input"]["height"]): r for r in read_jsonl(path).records}


@pytest.mark.slow
def test_failures_are_recorded_and_the_sweep_completes(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    models = ["ok1", "raise1", "hang1", "exit1", "grow1", "ok2"]
    summary = run_sweep(
        models, RES, out=out, jobs=2, timeout_s=3, max_rss_bytes=300 * 2**20, profiler=FAKE
    )
    assert _pairs(out) == Counter({(m, r): 1 for m in models for r in RES})
    lines = _by_pair(out)
    expected = {  # model -> (status at 48, 224, 448), error kind and type where failed
        "ok1": ("ok", "ok", "ok"),
        "ok2": ("ok", "ok", "ok"),
        "raise1": ("exception RuntimeError",) * 3,
        "hang1": ("timeout TimeoutError",) * 3,
        "exit1": ("ok", "crash WorkerCrash", "crash WorkerCrash"),  # exits after its 1st size
        "grow1": ("memory MemoryError",) * 3,
    }
    for model, statuses in expected.items():
        for res, want in zip(RES, statuses, strict=True):
            line = lines[(model, res)]
            got = (
                "ok"
                if line["status"] == "ok"
                else f"{line['error']['kind']} {line['error']['type']}"
            )
            assert got == want, (model, res)
    assert lines[("raise1", 48)]["error"]["reason"] == "boom in raise1 second line"  # one line
    assert lines[("exit1", 224)]["error"]["reason"] == "worker exited with status 3"
    assert (summary.ok, summary.errors, summary.skipped) == (7, 11, 0)
    assert summary.errors_by_kind == {"exception": 3, "timeout": 3, "crash": 2, "memory": 3}


def test_resume_after_a_torn_last_line(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    models = [f"ok{i}" for i in range(5)]
    run_sweep(models, RES, out=out, jobs=2, profiler=FAKE)
    data = out.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 40  # 40 bytes into a line: a torn line
    out.write_bytes(data[:cut])
    whole = data[:cut].count(b"\n")
    summary = run_sweep(models, RES, out=out, jobs=2, profiler=FAKE)
    assert summary.skipped == whole  # only the pairs whose line was complete were kept
    assert summary.ok == 15 - whole
    assert _pairs(out) == Counter({(m, r): 1 for m in models for r in RES})
    assert out.read_bytes().endswith(b"\n") and read_jsonl(out).bad_lines == 0


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path: Path) -> None:
    """Kill a running sweep process with SIGKILL mid-way, rerun: every pair exactly once."""
    out = tmp_path / "s.jsonl"
    models = [f"slow{i}" for i in range(12)]
    code = (
        "import sys; from archcalc.sweep.run import run_sweep; "
        f"run_sweep({models!r}, {RES!r}, out={str(out)!r}, jobs=2, profiler={FAKE!r})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(read_jsonl(out).records) < 8:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = len(read_jsonl(out).records)
    assert 8 <= before < 36
    summary = run_sweep(models, RES, out=out, jobs=2, profiler=FAKE)
    assert summary.skipped == before
    assert _pairs(out) == Counter({(m, r): 1 for m in models for r in RES})


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20])
def test_shards_partition_the_list(count: int) -> None:
    models = [f"m{i:02d}" for i in range(17)] + ["m03"]  # a duplicate is swept once
    shards = [shard_models(list(reversed(models)), (i, count)) for i in range(count)]
    union = [m for s in shards for m in s]
    assert sorted(union) == sorted(set(models))  # union = all, and no model twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # round robin: balanced
    assert shards == [shard_models(models, (i, count)) for i in range(count)]  # order-free


@pytest.mark.parametrize(
    ("text", "count", "environ", "expected"),
    [
        ("2/4", None, {}, (2, 4)),
        (" 0 / 1 ", None, {}, (0, 1)),
        ("auto", None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"}, (3, 4)),
        # --array=1-8: ids start at SLURM_ARRAY_TASK_MIN=1, so id 5 is the fifth shard (4)
        ("auto", None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1",
                        "SLURM_ARRAY_TASK_COUNT": "8"}, (4, 8)),
        # --array=0-12:4 -> ids 0, 4, 8, 12: id 8 is the third shard (2) of 4
        ("auto", None, {"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_STEP": "4",
                        "SLURM_ARRAY_TASK_COUNT": "4"}, (2, 4)),
        ("auto", 6, {"JOB_COMPLETION_INDEX": "5"}, (5, 6)),
        (None, None, {}, None),
    ],
)  # fmt: skip
def test_parse_shard(text: str | None, count: int | None, environ: dict, expected: object) -> None:
    assert parse_shard(text, count=count, environ=environ) == expected


@pytest.mark.parametrize(
    ("text", "count", "environ"),
    [("4/4", None, {}), ("1-4", None, {}), ("auto", None, {}),
     ("auto", None, {"JOB_COMPLETION_INDEX": "0"}), ("auto", 2, {"JOB_COMPLETION_INDEX": "x"})],
)  # fmt: skip
def test_parse_shard_rejects(text: str, count: int | None, environ: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_shard(text, count=count, environ=environ)


def _line(model: str, res: int, status: str = "ok") -> dict:
    inp = {"batch_size": 1, "channels": 3, "height": res, "width": res}
    return {"model": model, "convention": "core", "input": inp, "status": status}


def test_merge_removes_duplicates_and_prefers_ok(tmp_path: Path) -> None:
    a, b, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "all.jsonl"
    a.write_text(
        "".join(
            json.dumps(x) + "\n"
            for x in [_line("m1", 48), _line("m2", 48, "error"), _line("m3", 48)]
        )
    )
    b_lines = [_line("m1", 48), _line("m2", 48), _line("m4", 48)]
    b.write_text("".join(json.dumps(x) + "\n" for x in b_lines) + '{"torn')
    summary = merge_results([a, b], out)
    lines = read_jsonl(out).records
    assert sorted(line_key(x) for x in lines) == sorted(line_key(_line(m, 48)) for m in
                                                        ["m1", "m2", "m3", "m4"])  # fmt: skip
    assert {x["model"]: x["status"] for x in lines}["m2"] == "ok"
    assert (summary.read, summary.written, summary.duplicates, summary.bad_lines) == (6, 4, 2, 1)


def test_repair_cuts_a_torn_tail_and_drops_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c": ')
    assert repair(path).torn_tail
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'
    path.write_text('{"a": 1}\nnot json\n[1]\n{"b": 2}\n')
    assert repair(path).bad_lines == 2
    assert [r for r in read_jsonl(path).records] == [{"a": 1}, {"b": 2}]


@pytest.mark.slow
def test_default_profiler_on_tiny_models(tmp_path: Path) -> None:
    """resnet10t (stride 32, reused across sizes) and test_vit (img_size is an argument:
    rebuilt per size, patch 16): k = ceil(side / stride)."""
    out = tmp_path / "s.jsonl"
    summary = run_sweep(["resnet10t", "test_vit"], [64, 96], out=out, jobs=1, timeout_s=120)
    lines = _by_pair(out)
    assert summary.ok == 4, [x.get("error") for x in lines.values()]
    expected = {
        ("resnet10t", 64): 2,
        ("resnet10t", 96): 3,
        ("test_vit", 64): 4,
        ("test_vit", 96): 6,
    }
    assert {k: v["final_map"][0] for k, v in lines.items()} == expected
    from archcalc.profiling.prepare import profile

    direct = profile("resnet10t", 96).to_dict()
    assert {k: v for k, v in lines[("resnet10t", 96)].items() if k in direct} == direct
    # and both match timm's published table: resnet10t has 5.44 M params (to 2 decimals)
    assert round(lines[("resnet10t", 96)]["params"] / 1e6, 2) == 5.44


def test_latency_lines_use_the_timing_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """--latency adds latency_s (the Timing's median) and its summary without raw samples."""
    import types

    calls = []

    from archcalc.timing.measure import TimingSettings

    class FakeTiming:
        median_s = 0.0125

        def to_dict(self) -> dict:
            return {"median_s": self.median_s, "samples_s": [0.0125] * 3}

    def measure(
        model: str,
        res: tuple[int, int],
        *,
        settings: TimingSettings,
        batch_size: int,
        in_chans: int,
    ) -> FakeTiming:
        calls.append((model, res, settings.device, batch_size, in_chans))
        return FakeTiming()

    fake = types.SimpleNamespace(measure=measure, TimingSettings=TimingSettings)
    monkeypatch.setitem(sys.modules, "archcalc.timing.measure", fake)
    settings = SweepSettings(latency=True, device="cpu", batch_size=2)
    (line,) = profile_task(ModelTask("resnet10t", ((64, 64),), settings))
    assert line["status"] == "ok" and line["latency_s"] == 0.0125
    assert line["latency"] == {"median_s": 0.0125} and line["input"]["batch_size"] == 2
    assert calls == [("resnet10t", (64, 64), "cpu", 2, 3)]


def test_a_refused_size_carries_its_nearest_valid_sizes_as_a_field() -> None:
    # convnext_atto: stem 4x4/4 then three 2x2/2 downsamples: 24 -> 6 -> 3 -> 1 -> 0; 32 runs
    (line,) = profile_task(ModelTask("convnext_atto", ((24, 24),), SweepSettings()))
    error = line["error"]
    assert (line["status"], error["type"], error["nearest"]) == (
        "error", "InvalidResolutionError", [[32, 32]],
    )  # fmt: skip
    assert error["reason"].endswith("nearest valid: 32x32")
    # any other failure names none
    assert Failure.of(RuntimeError("boom")).to_dict() == {
        "kind": "exception", "type": "RuntimeError", "reason": "boom", "nearest": [],
    }  # fmt: skip


def test_expand_models() -> None:
    names = expand_models(["resnet1*", "resnet18", "test_vit"])
    assert "resnet18" in names and "resnet10t" in names and names[-1] == "test_vit"
    assert len(names) == len(set(names))
    with pytest.raises(UnknownModelError, match="closest"):
        expand_models(["resnet181"])
    with pytest.raises(UnknownModelError, match="matches no"):
        expand_models(["nosuchnet*"])


def test_wildcards_leave_out_test_models() -> None:
    import timm

    everything = timm.list_models()
    toys = [n for n in everything if n.startswith("test_")]
    assert toys  # timm ships some (test_vit, test_convnext...)
    assert expand_models(["*"]) == [n for n in everything if not n.startswith("test_")]
    assert expand_models(["*"], include_test=True) == everything
    assert expand_models(["test_*"], include_test=True) == toys
    with pytest.raises(UnknownModelError, match=r"test_\* models \(add --include-test\)"):
        expand_models(["test_*"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``archcalc ARGS`` in-process (click's ``CliRunner``): exit code, stdout, stderr. The
    sweep's spawned workers inherit ``sys.path``, so they find the fake profilers."""
    from click.testing import CliRunner

    from archcalc.cli import main

    result = CliRunner().invoke(main, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_cli_sweep_and_merge(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    common = ["--models", "ok1", "--models", "raise1", "--models", "ok2", "--res", "32",
              "--profiler", FAKE]  # fmt: skip
    first = _cli("sweep", *common, "--shard", "0/2", "--out", str(a))
    second = _cli("sweep", *common, "--shard", "1/2", "--out", str(b))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "2 models x 1 resolutions = 2 pairs; 1 ok, 1 errors (exception: 1)" in first.stderr
    merged = _cli("merge", str(a), str(b), str(a), "-o", str(tmp_path / "all.jsonl"))
    assert "3 results from 5 lines (2 duplicates dropped)" in merged.stderr
    bad = _cli("sweep", *common, "--shard", "2/2", "--out", str(a))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "out of range" in bad.stderr


def test_a_worker_that_dies_while_starting_is_its_own_error(tmp_path: Path) -> None:
    out = tmp_path / "crash.jsonl"
    with pytest.raises(WorkerCrashError, match="died while starting: worker exited with status 7"):
        run_sweep(["net"], [32], out=out, profiler="crashing_worker:profiler", jobs=1)
    crashed = _cli("sweep", "--models", "net", "--res", "32", "--out", str(out),
                   "--profiler", "crashing_worker:profiler")  # fmt: skip
    assert crashed.returncode == 2 and crashed.stderr.count("\n") == 1
    assert crashed.stderr.startswith("archcalc: error: worker died while starting")
