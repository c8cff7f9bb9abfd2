"""The public API in one place: exports, one argument style, deprecated names that still work,
and ``suggest`` (named backbones) beside ``search_backbones`` (the zoo search), each flag
honoured by both."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.errors import InvalidArgumentError

#: One reparameterizable architecture (MobileOne-S0, 2.08 M params; timm results-imagenet.csv).
TABLE = (
    "arch,tag,top1,top5,eval_size,crop_pct,train_size,params_m,gmacs\n"
    "mobileone_s0,apple_in1k,71.398,89.864,224,0.875,224,2.08,0.28\n"
)
MODEL = "mobileone_s0"


def test_every_public_name_resolves_and_import_stays_light() -> None:
    for name in archcalc.__all__:
        assert getattr(archcalc, name) is not None, name
    for name in ("search_backbones", "bench", "TimingSettings", "SizeRange", "MergeSummary",
                 "Option", "Level", "ProgressCallback"):  # fmt: skip
        assert name in archcalc.__all__
    code = "import sys, archcalc; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def fast_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Named backbones profiled at the level's size only (the flags are what is tested)."""
    monkeypatch.setattr("archcalc.recommend.named.CANDIDATE_SIDES", (224,))


def both_paths(tmp_path: Path, **kwargs: Any) -> tuple[archcalc.Suggestion, archcalc.Suggestion]:
    table = tmp_path / "top1.csv"
    table.write_text(TABLE)
    named = archcalc.suggest("coarse", [MODEL], **kwargs)
    searched = archcalc.search_backbones("coarse", catalog=table, **kwargs)
    return named, searched


@pytest.mark.usefixtures("fast_named")
def test_gpu_memory_counts_training_step_macs_on_both_paths(tmp_path: Path) -> None:
    for s in both_paths(tmp_path, latency=False, gpu_memory=24):
        # a training step is the forward plus a backward of about twice its MACs
        assert s.chosen.train_macs is not None
        assert 2 * s.chosen.profile.macs < s.chosen.train_macs < 4 * s.chosen.profile.macs
        assert s.train_batches  # the largest training batch for 24 GiB
    for s in both_paths(tmp_path, latency=False):
        assert s.chosen.train_macs is None  # no GPU size: no backward traced


@pytest.mark.usefixtures("fast_named")
def test_progress_is_called_on_both_paths(tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []
    both_paths(tmp_path, latency=False, progress=lambda *a: calls.append(a))
    whats = [what for _, _, what in calls]
    # named: "profiling mobileone_s0"; the search names the weight: mobileone_s0.apple_in1k
    assert [w for w in whats if w.startswith(f"profiling {MODEL}")] == [
        f"profiling {MODEL}",
        f"profiling {MODEL}.apple_in1k",
    ]
    assert all(isinstance(done, int) for done, _, _ in calls)


@pytest.mark.usefixtures("fast_named")
def test_latency_is_measured_or_not_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed: list[Any] = []

    def fake(profile: Any, build_kwargs: Any, settings: Any) -> SimpleNamespace:
        timed.append(settings.device)
        return SimpleNamespace(median_s=0.004)

    monkeypatch.setattr("archcalc.recommend.evaluate.measure_profiled", fake)
    for s in both_paths(tmp_path, latency=True):
        assert s.chosen.latency_s == 0.004
    assert timed and set(timed) == {"cpu"}
    timed.clear()
    for s in both_paths(tmp_path, latency=False):
        assert s.chosen.latency_s is None
    assert timed == []


@pytest.mark.slow
@pytest.mark.usefixtures("fast_named")
def test_reparameterize_profiles_the_fused_form_on_both_paths(tmp_path: Path) -> None:
    for plain, fused in zip(
        both_paths(tmp_path, latency=False),
        both_paths(tmp_path, latency=False, reparameterize=True),
        strict=True,
    ):
        assert not plain.chosen.profile.reparameterized
        assert fused.chosen.profile.reparameterized
        # fusing folds each block's parallel branches into one conv: fewer parameters
        assert fused.chosen.profile.params < plain.chosen.profile.params


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"top": 3}, "top"), ({"family": "resnet*"}, "family"), ({"catalog": "x.csv"}, "catalog"),
     ({"top": 3, "family": "r*"}, "top/family")],
)  # fmt: skip
def test_search_arguments_with_named_backbones_raise_at_once(
    kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=f"^{named} appl"):
        archcalc.suggest("coarse", ["resnet18"], **kwargs)


@pytest.mark.parametrize("kwargs", [{"epoch_images": 1000}, {"precision": "amp"}])
def test_training_batch_arguments_without_a_gpu_size_raise_at_once(kwargs: dict[str, Any]) -> None:
    for entry in (archcalc.suggest, archcalc.search_backbones):
        with pytest.raises(InvalidArgumentError, match="add --gpu-memory GiB"):
            entry("coarse", latency=False, **kwargs)


def test_the_cli_refuses_search_arguments_with_named_backbones_in_one_line() -> None:
    args = ["suggest", "--task", "coarse", "--backbone", "resnet18", "--family", "r*"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("archcalc: error: family applies to the backbone search")


def test_old_keywords_warn_and_still_work() -> None:
    with (
        pytest.warns(DeprecationWarning, match=r"suggest\(measure_latency=...\)"),
        pytest.raises(InvalidArgumentError, match="unknown task"),
    ):  # accepted, then checked
        archcalc.suggest("no-such-task", measure_latency=False)
    with pytest.warns(DeprecationWarning, match=r"size_range\(low=...\)"):
        found = archcalc.size_range("resnet18", low=200, max_resolution=260)
    # resnet18 (stride 32) aligned sides between 200 and 260: 224 = 7 x 32 and 256 = 8 x 32
    assert [s for s, _, _ in found.sizes] == [224, 256]
    with pytest.raises(TypeError, match="both low= and min_resolution="):
        archcalc.size_range("resnet18", low=200, min_resolution=200)
    with (
        pytest.warns(DeprecationWarning, match=r'suggest\(task, "auto"\)'),
        pytest.raises(InvalidArgumentError, match="top"),
    ):  # handed to search_backbones
        archcalc.suggest("coarse", "auto", top=0, latency=False)
    with (
        pytest.warns(DeprecationWarning, match="progress_callback"),
        pytest.raises(InvalidArgumentError, match="at least one resolution"),
    ):
        archcalc.run_sweep(["resnet18"], [], out="unused.jsonl", progress_callback=print)


def test_old_timing_knobs_become_timing_settings() -> None:
    from archcalc.timing.measure import TimingSettings, timing_settings

    with pytest.warns(DeprecationWarning, match=r"measure\(threads=, min_run_time=\)"):
        spec = timing_settings(None, {"threads": 1, "min_run_time": 0.5}, "measure")
    assert spec == TimingSettings(threads=1, min_run_time_s=0.5).checked()
    with pytest.raises(TypeError, match="unexpected keyword argument 'traced'"):
        timing_settings(None, {"traced": None}, "measure")


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [("archcalc.timing.scale", "archcalc.profiling.scale", "scale"),
     ("archcalc.recommend.suggest", "archcalc.recommend.named", "suggest"),
     ("archcalc.cache", "archcalc.cli.result_cache", "cached"),
     ("archcalc.core.fields", "archcalc.core.receptive.tracker", "FieldTracker")],
)  # fmt: skip
def test_old_module_paths_warn_and_reach_the_new_module(
    old: str, new: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"module {old} is deprecated"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_scaling_prints_a_table() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        s = archcalc.scale("resnet18", 96, 288, steps=3)
    text = str(s)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["res", "k", "x"]
    # resnet18 (stride 32): 96 / 32 = 3, the 224 anchor 224 / 32 = 7 and 288 / 32 = 9
    assert [line.split()[:2] for line in lines[2:5]] == [
        ["96x96", "3x3"],
        ["224x224", "7x7"],
        ["288x288", "9x9"],
    ]
    assert "MACs ~" in text
