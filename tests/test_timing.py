"""``archcalc.measure`` on CPU with tiny modules; the CUDA logic with fakes, then for real."""

from __future__ import annotations

import gc
import math
import time
from typing import Any

import pytest
import torch
from torch import nn

import archcalc
from archcalc.core import build as build_module
from archcalc.core import memory
from archcalc.errors import (
    DeviceUnavailableError,
    InsufficientMemoryError,
    InvalidArgumentError,
    TraceError,
)
from archcalc.profiling import prepare as prepare_module
from archcalc.profiling.prepare import prepare
from archcalc.timing import measure as timing
from archcalc.timing.stats import MIN_SAMPLES, WARMUP_MIN_RUNS, WARMUP_MIN_S, warmup_done


def fast(**changes: Any) -> archcalc.TimingSettings:
    """One thread and a 1 us run time: exactly MIN_SAMPLES timed runs (``changes`` on top)."""
    return archcalc.TimingSettings(**{"threads": 1, "min_run_time_s": 1e-6, **changes})


FAST = fast()


def tiny() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip


class Spy(nn.Module):
    """Records the state torch is in while the measured forward runs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: list[dict[str, Any]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(
            {
                "threads": torch.get_num_threads(),
                "inference": torch.is_inference_mode_enabled(),
                "training": self.training,
                "nhwc": x.is_contiguous(memory_format=torch.channels_last),
                "weight_nhwc": self.conv.weight.is_contiguous(memory_format=torch.channels_last),
                "autocast": torch.is_autocast_enabled("cpu"),
                "autocast_dtype": torch.get_autocast_dtype("cpu"),
                "gc": gc.isenabled(),
                "shape": tuple(x.shape),
            }
        )
        return self.conv(x)


def test_tiny_model_on_cpu_gives_finite_positive_samples() -> None:
    t = archcalc.measure(tiny(), 32, batch_size=2, settings=FAST)
    assert t.runs == MIN_SAMPLES == len(t.samples_s)
    assert all(s > 0 and math.isfinite(s) for s in t.samples_s)
    assert 0 < t.p10_s <= t.median_s <= t.p90_s
    assert t.images_per_s == pytest.approx(2 / t.median_s)
    assert t.warmup_runs >= 3 and t.warmup_s >= 0.3  # the warm-up minimum
    assert (t.model, t.device, t.height, t.width, t.batch_size) == ("Sequential", "cpu", 32, 32, 2)
    env = t.environment
    assert (env.dtype, env.threads, env.torch) == ("float32", 1, torch.__version__)
    assert t.memory_method in {"rss_increase", "unavailable"}


@pytest.mark.usefixtures("brief_warmup")
def test_module_the_tracer_cannot_read_is_still_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    def untraceable(*args: Any, **kwargs: Any) -> Any:
        raise TraceError("Sequential at 32x32: no output reads as a feature map")

    monkeypatch.setattr(prepare_module, "profile_built", untraceable)
    assert (
        archcalc.measure(tiny(), 32, settings=FAST).runs == MIN_SAMPLES
    )  # no memory check, still timed
    # a timm name that fails to trace is a real error: not measured but refused (its size
    # rules hold, so the sizes tried around it, traced unpatched, name the nearest that run)
    with pytest.raises(archcalc.InvalidResolutionError, match=r"nearest valid \(tried\): 64x64"):
        archcalc.measure("resnet18", 32, settings=FAST)


@pytest.mark.usefixtures("brief_warmup")
def test_longer_min_run_time_gives_more_samples() -> None:
    t = archcalc.measure(tiny(), 16, settings=fast(min_run_time_s=0.2))
    assert t.runs > MIN_SAMPLES
    assert sum(t.samples_s) <= 0.2 + max(t.samples_s)  # stops once min_run_time is spent


@pytest.mark.usefixtures("brief_warmup")
def test_budget_check_stops_once_the_median_is_over() -> None:
    # a 1 ns budget: every sample is over it, so six of them decide the median of ten
    t = archcalc.measure(tiny(), 16, settings=fast(min_run_time_s=10.0, stop_above_s=1e-9))
    assert t.runs == MIN_SAMPLES // 2 + 1 and t.median_s > 1e-9
    # a 1 h budget: no sample is over, so the runs go on as usual
    assert archcalc.measure(tiny(), 16, settings=fast(stop_above_s=3600.0)).runs == MIN_SAMPLES


@pytest.mark.usefixtures("brief_warmup")
def test_fewer_samples_when_asked() -> None:
    assert archcalc.measure(tiny(), 16, settings=fast(min_samples=3)).runs == 3


def test_short_warmup_keeps_its_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    # the rule: never before 3 runs and 0.3 s, then stop at once when the cap (here below the
    # minimum) is spent, even though the timings never settle
    never = [1.0, 2.0, 4.0, 8.0]  # doubling: never stable
    assert not warmup_done(never[:2], elapsed_s=WARMUP_MIN_S, max_s=1e-3)  # too few runs
    assert not warmup_done(never[:3], elapsed_s=0.9 * WARMUP_MIN_S, max_s=1e-3)  # too soon
    assert warmup_done(never[:3], elapsed_s=WARMUP_MIN_S, max_s=1e-3)  # the minimum, no more
    assert not warmup_done(never, elapsed_s=WARMUP_MIN_S, max_s=3.0)  # the cap, not yet spent
    monkeypatch.setattr(archcalc.timing.stats, "is_stable", lambda times: False)  # never settles
    t = archcalc.measure(tiny(), 16, settings=fast(warmup_max_s=1e-3))
    assert t.warmup_runs >= WARMUP_MIN_RUNS and t.warmup_s >= WARMUP_MIN_S


@pytest.mark.usefixtures("brief_warmup")
def test_settings_applied_inside_and_restored_after() -> None:
    model = Spy()
    model.train()
    torch.set_num_threads(1)
    before = (torch.get_num_threads(), torch.backends.cudnn.benchmark, gc.isenabled())
    archcalc.measure(model, 16, settings=fast(threads=2, channels_last=True))
    inside = model.seen[-1]
    assert inside["threads"] == 2 and inside["inference"] and not inside["training"]
    assert inside["nhwc"] and inside["weight_nhwc"] and not inside["gc"]
    assert not inside["autocast"]
    assert (torch.get_num_threads(), torch.backends.cudnn.benchmark, gc.isenabled()) == before
    assert model.training and model.conv.training  # train mode restored
    assert model.conv.weight.is_contiguous() and model.conv.weight.device.type == "cpu"


@pytest.mark.usefixtures("brief_warmup")
def test_mixed_train_eval_modes_are_restored() -> None:
    model = tiny().train()
    model[1].eval()  # a frozen BatchNorm inside a training model
    archcalc.measure(model, 16, settings=FAST)
    assert [m.training for m in model] == [True, False, True, True, True, True, True]


@pytest.mark.usefixtures("brief_warmup")
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_dtypes_run_under_cpu_autocast(dtype: str) -> None:
    model = Spy()
    t = archcalc.measure(model, 16, settings=fast(dtype=dtype))
    assert model.seen[-1]["autocast"] and model.seen[-1]["autocast_dtype"] == getattr(torch, dtype)
    assert t.environment.dtype == dtype
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize(
    ("device", "dtype", "expected"),
    [
        ("cpu", "float32", None),
        ("cuda:0", "float32", None),
        ("cuda:0", "float16", ("cuda", torch.float16)),
        ("cuda:1", "bfloat16", ("cuda", torch.bfloat16)),
        ("cpu", "bfloat16", ("cpu", torch.bfloat16)),
    ],
)
def test_autocast_args(device: str, dtype: str, expected: Any) -> None:
    assert timing.autocast_args(device, dtype) == expected


def test_compile_time_is_reported_apart_from_the_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_first_call(module: nn.Module) -> Any:
        calls: list[int] = []

        def compiled(x: torch.Tensor) -> torch.Tensor:
            if not calls:
                time.sleep(0.2)  # stands in for compilation
            calls.append(1)
            return module(x)

        return compiled

    monkeypatch.setattr(torch, "compile", slow_first_call)
    t = archcalc.measure(tiny(), 16, settings=fast(compile=True))
    assert t.compiled and t.compile_time_s is not None and t.compile_time_s >= 0.2
    assert max(t.samples_s) < 0.2


@pytest.mark.usefixtures("brief_warmup")
def test_input_shape_follows_batch_resolution_and_channels() -> None:
    model = Spy()
    model.conv = nn.Conv2d(1, 4, 3)
    archcalc.measure(model, "40x24", batch_size=3, in_chans=1, settings=FAST)
    assert model.seen[-1]["shape"] == (3, 1, 40, 24)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"dtype": "fp8"}, "dtype must be one of float32, float16, bfloat16, got 'fp8'"),
        ({"min_run_time_s": 0}, "min_run_time must be a positive number"),
        ({"min_run_time_s": float("nan")}, "min_run_time"),
        ({"min_run_time_s": float("inf")}, "min_run_time"),
        ({"min_run_time_s": True}, "min_run_time"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"stop_above_s": 0}, "stop_above must be a positive number"),
        ({"min_samples": 0}, "min_samples must be a positive integer"),
        ({"warmup_max_s": float("nan")}, "warmup_max must be a positive number"),
        ({"device": "meta"}, "unknown device 'meta'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        archcalc.measure(tiny(), 16, settings=archcalc.TimingSettings(**settings))


def test_bad_batch_size_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="batch_size must be a positive integer"):
        archcalc.measure(tiny(), 16, batch_size=0, settings=FAST)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_refused_before_any_work() -> None:
    with pytest.raises(DeviceUnavailableError, match="no CUDA device is visible"):
        archcalc.measure("resnet18", settings=archcalc.TimingSettings(device="cuda"))


def test_meta_weights_are_refused() -> None:
    with torch.device("meta"):
        model = tiny()
    with pytest.raises(InvalidArgumentError, match="meta device"):
        archcalc.measure(model, 16, settings=FAST)


def test_too_big_for_host_memory_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    def build_on_meta_only(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("device") != "meta":
            pytest.fail("built on a real device anyway")
        return build_module.build(*args, **kwargs)

    monkeypatch.setattr(memory, "available_host_bytes", lambda: 1024 * 1024)  # 1 MiB free
    monkeypatch.setattr(prepare_module, "build", build_on_meta_only)
    # input alone: 64 x 3 x 256 x 256 x 4 B = 48.0 MiB
    with pytest.raises(InsufficientMemoryError, match=r"batch 64 needs about .* input 48\.0 MiB"):
        archcalc.measure(tiny(), 256, batch_size=64, settings=FAST)


def test_out_of_memory_while_measuring_is_an_archcalc_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def oom(*args: Any) -> Any:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(timing, "_measure_in_session", oom)
    model = tiny().train()
    with pytest.raises(InsufficientMemoryError, match="Sequential at 16x16, batch 1: out of mem"):
        archcalc.measure(model, 16, settings=FAST)
    assert model.training  # settings restored on the way out


def test_probe_batch_catches_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    real_input = timing._input

    def input_or_oom(spec: Any, batch_size: int, *args: Any) -> torch.Tensor:
        if batch_size > 5:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_input(spec, batch_size, *args)

    monkeypatch.setattr(timing, "_input", input_or_oom)
    built = prepare(tiny(), (16, 16), device="cpu").built
    spec = timing.TimingSettings(threads=1).checked()
    assert [timing.probe_batch(built, (16, 16), spec, b) for b in (1, 5, 6, 64)] == [
        True, True, False, False,
    ]  # fmt: skip


def fake_event_class(log: list[str]) -> type:
    """A stand-in for torch.cuda.Event that logs its calls; elapsed_time in ms like CUDA's."""

    class FakeEvent:
        def __init__(self, enable_timing: bool = False) -> None:
            self.name = "end" if log else "begin"
            log.append(f"new {self.name} timing={enable_timing}")

        def record(self) -> None:
            log.append(f"record {self.name}")

        def synchronize(self) -> None:
            log.append(f"synchronize {self.name}")

        def elapsed_time(self, end: FakeEvent) -> float:
            log.append(f"elapsed {self.name}->{end.name}")
            return 12.5

    return FakeEvent


def test_cuda_clock_records_events_and_waits_for_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "Event", fake_event_class(log))
    clock = timing.make_clock("cuda:0")
    clock.start()
    assert clock.stop() == pytest.approx(0.0125)  # 12.5 ms
    assert log == [
        "new begin timing=True", "new end timing=True",
        "record begin", "record end", "synchronize end", "elapsed begin->end",
    ]  # fmt: skip
    assert isinstance(timing.make_clock("cpu"), timing.WallClock)


@pytest.mark.cuda
def test_the_cuda_marker_runs_a_test_only_with_a_device() -> None:
    assert torch.cuda.is_available()  # conftest skips this test everywhere else


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_real_cuda_measurement(dtype: str) -> None:
    before = torch.backends.cudnn.benchmark
    model = tiny()
    t = archcalc.measure(model, 64, batch_size=4, settings=fast(device="cuda", dtype=dtype))
    assert t.runs == MIN_SAMPLES and t.median_s > 0 and math.isfinite(t.median_s)
    assert t.device == "cuda:0" and t.memory_method == "cuda_max_allocated"
    assert t.peak_memory_bytes is not None and t.peak_memory_bytes > 0
    assert torch.backends.cudnn.benchmark == before
    assert next(model.parameters()).device.type == "cpu"  # a user module goes back home


@pytest.mark.cuda
def test_real_cuda_cudnn_benchmark_on_inside() -> None:
    class CudnnSpy(nn.Module):
        seen: bool | None = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            CudnnSpy.seen = torch.backends.cudnn.benchmark
            return x * 2

    archcalc.measure(CudnnSpy(), 16, settings=fast(device="cuda"))
    assert CudnnSpy.seen is True
