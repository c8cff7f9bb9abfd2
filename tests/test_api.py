"""The public API in one place: every export resolves and is typed (for type checkers too), no
public callable takes over 12 parameters, and ``suggest`` (named backbones) beside
``search_backbones`` (the zoo search), each flag honoured by both."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import main
from archcalc.errors import InvalidArgumentError
from archcalc.serialize import Serialized

#: One reparameterizable architecture (MobileOne-S0, 2.08 M params; timm results-imagenet.csv).
TABLE = (
    "arch,tag,top1,top5,eval_size,crop_pct,train_size,params_m,gmacs\n"
    "mobileone_s0,apple_in1k,71.398,89.864,224,0.875,224,2.08,0.28\n"
)
MODEL = "mobileone_s0"
#: The most parameters a public function, method or constructor may take (issue 27).
MAX_PARAMETERS = 12


def test_every_public_name_resolves_and_import_stays_light() -> None:
    for name in archcalc.__all__:
        assert getattr(archcalc, name) is not None, name
    for name in ("search_backbones", "bench", "TimingSettings", "SizeRange", "MergeSummary",
                 "Option", "Level", "ProgressCallback", "Budgets", "TrainBatch",
                 "SearchScope"):  # fmt: skip
        assert name in archcalc.__all__
    code = "import sys, archcalc; print('torch' in sys.modules, len(sys.meta_path))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    bare = subprocess.run(
        [sys.executable, "-c", "import sys; print(len(sys.meta_path))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # no torch, and no import hook of archcalc's own on sys.meta_path
    assert out.stdout.split() == ["False", bare.stdout.strip()]


def type_checking_imports() -> dict[str, str]:
    """Name -> module of the ``if TYPE_CHECKING:`` imports of ``archcalc/__init__.py``."""
    tree = ast.parse(Path(archcalc.__file__).read_text())
    blocks = [
        node for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    ]  # fmt: skip
    assert len(blocks) == 1
    return {
        alias.asname or alias.name: str(node.module)
        for node in blocks[0].body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_type_checkers_see_every_lazy_name() -> None:
    """Each lazily exported name is imported under TYPE_CHECKING from the module it is loaded
    from at run time, so a type checker sees the real object, not ``Any``."""
    lazy = archcalc._LAZY
    assert set(lazy) == set(archcalc.__all__) - {"__version__"}
    assert type_checking_imports() == lazy


def public_objects() -> Iterator[tuple[str, Any]]:
    """Every object of ``archcalc.__all__``; for a class also its public methods."""
    for name in archcalc.__all__:
        obj = getattr(archcalc, name)
        yield name, obj
        if inspect.isclass(obj):
            for attr in dir(obj):
                member = getattr(obj, attr)
                own = getattr(member, "__module__", None) or ""
                if not attr.startswith("_") and callable(member) and own.startswith("archcalc"):
                    yield f"{name}.{attr}", member


def public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Functions, methods and the constructors a caller builds (a result, ``Serialized``, is
    built by archcalc and read: its constructor is its JSON fields, not an API to call)."""
    for name, obj in public_objects():
        if inspect.isclass(obj) and issubclass(obj, Serialized | BaseException):
            continue
        if inspect.isroutine(obj) or inspect.isclass(obj):
            yield name, obj


def parameters(func: Callable[..., Any]) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(func).parameters.values() if p.name not in ("self", "cls")]


def test_the_walk_finds_functions_methods_and_constructors() -> None:
    names = dict(public_callables())
    for name in ("suggest", "search_backbones", "scale", "Budgets", "TimingSettings", "Level",
                 "Suggestion.to_dict", "Scaling.from_dict", "TimingSettings.checked"):  # fmt: skip
        assert name in names, name
    assert "Profile" not in names  # a result: built by archcalc, 26 JSON fields


def test_no_public_callable_takes_more_than_12_parameters() -> None:
    counts = {name: len(parameters(func)) for name, func in public_callables()}
    assert {n: c for n, c in counts.items() if c > MAX_PARAMETERS} == {}


def test_every_public_function_and_method_is_fully_typed() -> None:
    checked = 0
    for name, obj in public_objects():
        if inspect.isclass(obj):
            if not issubclass(obj, BaseException):
                typing.get_type_hints(obj)  # every field resolves
            continue
        if not inspect.isroutine(obj):
            continue
        untyped = [p.name for p in parameters(obj) if p.annotation is inspect.Parameter.empty]
        assert untyped == [], name
        assert inspect.signature(obj).return_annotation is not inspect.Signature.empty, name
        typing.get_type_hints(obj)  # the annotations name real objects
        checked += 1
    assert checked > 20


@pytest.fixture
def fast_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Named backbones profiled at the level's size only (the flags are what is tested)."""
    monkeypatch.setattr("archcalc.recommend.named.CANDIDATE_SIDES", (224,))


def both_paths(tmp_path: Path, **kwargs: Any) -> tuple[archcalc.Suggestion, archcalc.Suggestion]:
    table = tmp_path / "top1.csv"
    table.write_text(TABLE)
    named = archcalc.suggest("coarse", [MODEL], **kwargs)
    scope = archcalc.SearchScope(catalog=table)
    searched = archcalc.search_backbones("coarse", scope=scope, **kwargs)
    return named, searched


@pytest.mark.usefixtures("fast_named")
def test_gpu_memory_counts_training_step_macs_on_both_paths(tmp_path: Path) -> None:
    for s in both_paths(tmp_path, latency=False, train_batch=archcalc.TrainBatch(24)):
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


def test_suggest_points_auto_to_search_backbones() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^backbone \"auto\" is the zoo search: call "):
        archcalc.suggest("coarse", "auto", latency=False)


@pytest.mark.parametrize("kwargs", [{"gpu_memory": ()}, {"gpu_memory": (), "dtype": "float16"}])
def test_a_training_batch_without_a_gpu_size_raises_at_once(kwargs: dict[str, Any]) -> None:
    batch = archcalc.TrainBatch(**kwargs)
    for entry in (archcalc.suggest, archcalc.search_backbones):
        with pytest.raises(InvalidArgumentError, match="add --gpu-memory GiB"):
            entry("coarse", latency=False, train_batch=batch)


@pytest.mark.parametrize("flags", [("--dtype", "bfloat16"), ("--epoch-images", "1000")])
def test_the_cli_refuses_training_batch_flags_without_a_gpu_size(flags: tuple[str, str]) -> None:
    result = CliRunner().invoke(main, ["suggest", "--task", "coarse", "--no-latency", *flags])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "archcalc: error: dtype and epoch_images size the training batch of gpu_memory: "
        "add --gpu-memory GiB, or drop them\n"
    )


def test_the_cli_refuses_search_arguments_with_named_backbones_in_one_line() -> None:
    args = ["suggest", "--task", "coarse", "--backbone", "resnet18", "--family", "r*"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("archcalc: error: family applies to the backbone search")


def test_scaling_prints_a_table() -> None:
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
