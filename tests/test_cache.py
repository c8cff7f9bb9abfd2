"""The result cache: repeated static questions answered from disk without torch, keys that
change with every argument and version, corrupt files and concurrent writers survived."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.cli import result_cache as cache


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.exists() else []


def test_value_round_trips_and_a_second_call_does_not_compute(private_cache: Path) -> None:
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"macs": 1_814_073_344}

    first = cache.cached("t", {"model": "resnet18"}, compute, dict)
    second = cache.cached("t", {"model": "resnet18"}, compute, dict)
    assert first == second == {"macs": 1_814_073_344} and len(calls) == 1
    assert len(entries(private_cache)) == 1
    cache.cached("t", {"model": "resnet18"}, compute, dict, enabled=False)
    assert len(calls) == 2  # disabled: computed again, and nothing new written
    assert len(entries(private_cache)) == 1


def test_key_changes_with_arguments_versions_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    base = cache._key("inspect", {"model": "resnet18", "res": [224, 224]})
    assert base != cache._key("inspect", {"model": "resnet18", "res": [448, 448]})
    assert base != cache._key("sizes", {"model": "resnet18", "res": [224, 224]})
    real = cache.fingerprint()
    for name in ("torch", "timm", "archcalc_source"):
        monkeypatch.setattr(cache, "fingerprint", lambda n=name: {**real, n: "changed"})
        assert cache._key("inspect", {"model": "resnet18", "res": [224, 224]}) != base


def test_versions_are_read_without_importing_torch_or_timm() -> None:
    code = (
        "import sys; from archcalc.cli.result_cache import fingerprint; f = fingerprint(); "
        "print(f['torch'] is not None, f['timm'] is not None, 'torch' in sys.modules, "
        "'timm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False", "False"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated mid-write
        lambda text: "\x00\xff garbage",  # not JSON
        lambda text: text.replace("1814073344", "999"),  # the value edited: checksum fails
        lambda text: json.dumps({"key": "another", "value": 1}),  # a different key's entry
    ],
)
def test_a_corrupt_entry_is_a_miss_and_is_rewritten(private_cache: Path, damage: Any) -> None:
    cache.cached("t", {"m": 1}, lambda: {"macs": 1_814_073_344}, dict)
    (path,) = entries(private_cache)
    path.write_text(damage(path.read_text()))
    assert cache.cached("t", {"m": 1}, lambda: {"macs": 1_814_073_344}, dict) == {
        "macs": 1_814_073_344
    }
    assert json.loads(path.read_text())["value"] == {"macs": 1_814_073_344}


def test_an_unreadable_value_is_recomputed(private_cache: Path) -> None:
    cache.cached("t", {"m": 1}, lambda: {"wrong": 1}, lambda v: v)
    assert cache.cached("t", {"m": 1}, lambda: {"macs": 7}, lambda v: v["macs"]) == 7


def _writer(folder: str, index: int) -> None:
    import os

    os.environ["XDG_CACHE_HOME"] = folder
    for _ in range(50):
        cache._store(cache.cache_dir() / "same.json", "k", {"writer": index, "pad": "x" * 20_000})


@pytest.mark.slow
def test_concurrent_writers_leave_one_complete_entry(private_cache: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(str(private_cache.parent), i)) for i in range(4)
    ]
    for w in workers:
        w.start()
    for _ in range(200):  # read while they write: every read is whole or a miss
        value = cache._load(private_cache / "same.json", "k")
        assert value is None or value["pad"] == "x" * 20_000
    for w in workers:
        w.join()
    assert cache._load(private_cache / "same.json", "k")["writer"] in range(4)
    assert [p.name for p in private_cache.iterdir()] == ["same.json"]  # no temporary file left


def test_unwritable_cache_does_not_break_a_command(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_cache.parent.mkdir(parents=True, exist_ok=True)
    private_cache.write_text("a file where the folder should be")
    assert cache.cached("t", {"m": 1}, lambda: [1], list) == [1]


@pytest.mark.slow
def test_repeated_inspect_is_answered_without_torch(private_cache: Path) -> None:
    args = ["inspect", "resnet18", "--res", "224", "--format", "json"]
    code = (
        "import sys; from archcalc.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'timm' in sys.modules, file=sys.stderr)"
    )
    first = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert first.stderr.split() == ["True", "True"] and len(entries(private_cache)) == 1
    second = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert second.stderr.split() == ["False", "False"]
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert json.loads(second.stdout)[0]["macs"] == 1_814_073_344  # torchvision: 1.814 GMACs


def test_no_cache_and_cache_commands(private_cache: Path) -> None:
    assert run("sizes", "resnet18", "--min", "200", "--max", "260", "--no-cache")[0] == 0
    assert entries(private_cache) == []
    code, out, _ = run("sizes", "resnet18", "--min", "200", "--max", "260")
    assert code == 0 and len(entries(private_cache)) == 1
    # 224 / 32 = 7 and 256 / 32 = 8: the aligned sides between 200 and 260
    assert [line.split()[:2] for line in out.splitlines()[2:4]] == [
        ["224x224", "7x7"],
        ["256x256", "8x8"],
    ]
    assert run("sizes", "resnet18", "--min", "200", "--max", "260")[1] == out  # from the cache
    code, out, _ = run("cache", "info")
    assert code == 0 and f"{private_cache}: 1 entries" in out and "torch" in out
    assert run("cache", "clear")[1].strip().endswith("removed 1 entries")
    assert entries(private_cache) == []


def test_suggest_caches_only_without_latency(
    private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["suggest", "--task", "coarse", "--backbone", "resnet18", "--format", "json"]
    code, first, _ = run(*args, "--no-latency")
    assert code == 0 and len(entries(private_cache)) == 1
    from archcalc.recommend import evaluate as profiles
    from archcalc.recommend import named as module

    monkeypatch.setattr(profiles, "measure_profiled", lambda *a, **k: pytest.fail("must not time"))
    assert run(*args, "--no-latency")[1] == first
    monkeypatch.setattr(module, "latency_s", lambda option, device: 0.0125)
    code, timed, _ = run(*args)
    assert code == 0 and json.loads(timed)["latency_ms"] == 12.5
    assert len(entries(private_cache)) == 1  # the measured answer was not stored
