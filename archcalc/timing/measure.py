"""``archcalc.measure``: the latency of a real forward on CPU or CUDA, measured with care.

Method: real weights (random init, never downloaded), ``eval()``, ``torch.inference_mode()``,
an explicit thread count (default: every core this process may use), Python's GC paused
(as ``timeit`` does); warm-up until the timings are stable; then one sample per iteration
until ``min_run_time`` is spent and at least 10 samples exist. On CUDA each iteration is
timed with CUDA events and synchronised, ``cudnn.benchmark`` is on for the measurement only,
and float16/bfloat16 run under ``torch.autocast`` (on CPU too). Every setting is restored.

Why not ``torch.utils.benchmark.Timer``: its ``blocked_autorange``/``adaptive_autorange``
time *blocks* of ``number_per_run`` calls, sized until the timer overhead is below 1e-4 of a
block (a 0.1 ms forward gets blocks of 100 calls), and store block means, so their samples
are per-iteration only for slow models; its warm-up is that block sizing, not a stability
check, and it tracks no memory. ``benchmarks/latency_agreement.py`` checks this loop against
``Timer`` on the same module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from archcalc.checks import check_dtype, check_positive
from archcalc.core.build import Built
from archcalc.core.devices import check_device, environment
from archcalc.core.geometry import parse_resolution
from archcalc.core.memory import out_of_memory_as_error
from archcalc.errors import InsufficientMemoryError, InvalidArgumentError, TraceError
from archcalc.formatting import size
from archcalc.profiling.prepare import build_model, build_on_device, prepare
from archcalc.results import Pair, Profile
from archcalc.timing.session import MemoryProbe, gc_paused, session
from archcalc.timing.stats import (
    MIN_SAMPLES,
    Timing,
    is_stable,
    timed_runs_done,
    warmup_done,
)

__all__ = [
    "TimingSettings",
    "autocast_args",
    "default_threads",
    "measure",
    "measure_built",
    "measure_profiled",
    "probe_batch",
]

#: Warm-up gives up waiting for stable timings after max(this, min_run_time) seconds.
WARMUP_MAX_S = 3.0


@dataclass(frozen=True)
class TimingSettings:
    """How a forward is timed: written once, passed from ``measure`` and ``bench`` down to the
    timed loop (the way ``SweepSettings`` says how a sweep profiles).

    Attributes:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: ``float32``, or ``float16``/``bfloat16`` under ``torch.autocast``.
        channels_last: NHWC weights and input.
        compile: ``torch.compile`` first (its time reported apart).
        threads: CPU threads (None: every core this process may use).
        min_run_time_s: seconds of timed runs (at least ``min_samples`` runs).
        warmup_max_s: warm-up stops waiting for stable timings after max(this,
            ``min_run_time_s``) seconds (at least 3 runs and 0.3 s are always spent).
        stop_above_s: a budget check: timed runs stop once more than half of the samples, and
            of the first ``min_samples``, exceed it; their median (returned) then does too.
        min_samples: the fewest timed runs.

    Example:
        >>> archcalc.measure("resnet18", 224, settings=TimingSettings(threads=1))  # doctest: +SKIP
    """

    device: str = "cpu"
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None
    min_run_time_s: float = 1.0
    warmup_max_s: float = WARMUP_MAX_S
    stop_above_s: float | None = None
    min_samples: int = MIN_SAMPLES

    def checked(self) -> TimingSettings:
        """These settings validated, the device normalised and ``threads`` resolved.

        Raises:
            InvalidArgumentError: an unknown dtype, a non-positive time, thread or sample count.
            DeviceUnavailableError: a device this machine does not have.
        """
        check_dtype(self.dtype)
        for name in ("min_run_time_s", "warmup_max_s", "stop_above_s"):
            value = getattr(self, name)
            bad = isinstance(value, bool) or not isinstance(value, int | float)
            if (value is not None or name == "min_run_time_s") and (
                bad or not 0 < value < float("inf")
            ):
                raise InvalidArgumentError(
                    f"{name.removesuffix('_s')} must be a positive number of seconds, got {value!r}"
                )
        check_positive("threads", self.threads, optional=True)
        check_positive("min_samples", self.min_samples)
        return replace(
            self,
            device=check_device(self.device, allow_meta=False),
            channels_last=bool(self.channels_last),
            compile=bool(self.compile),
            threads=self.threads or default_threads(),
            min_run_time_s=float(self.min_run_time_s),
            warmup_max_s=float(self.warmup_max_s),
            stop_above_s=None if self.stop_above_s is None else float(self.stop_above_s),
        )


def default_threads() -> int:
    """Every core this process may run on (its CPU affinity), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def measure(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int] = 224,
    *,
    settings: TimingSettings | None = None,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    reparameterize: bool = False,
) -> Timing:
    """Measure the forward latency of ``model`` (timm name or module) at ``resolution``.

    The model is prepared as for ``profile`` (same build, same lifted arguments); one whose
    profile says it cannot fit in the available host RAM is refused up front. A user module
    the tracer cannot read is still timed (without that check).

    Args:
        model: timm name (random weights, never downloaded) or ``nn.Module``.
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        settings: how to time (``TimingSettings``: device, dtype, threads, run time...).
        batch_size, in_chans, output_stride: the input and the build.
        reparameterize: time the fused deploy form (timm's ``reparameterize_model``).

    Returns:
        A ``Timing``: raw per-iteration samples and their median, p10/p90, IQR, mean (s).

    Raises:
        InvalidArgumentError: a bad setting.
        DeviceUnavailableError: no such device.
        InsufficientMemoryError: the model does not fit.
        InvalidResolutionError: a size the model cannot run at.

    Example:
        >>> archcalc.measure("resnet18", 224, settings=TimingSettings(threads=1)).median_s
        ... # doctest: +SKIP
        0.0235
    """
    spec = (settings or TimingSettings()).checked()
    options = {"batch_size": batch_size, "in_chans": in_chans, "output_stride": output_stride}
    try:
        ready = prepare(
            model, resolution, device=spec.device, reparameterize=reparameterize, **options
        )
        built, res = ready.built, ready.resolution
    except TraceError:
        if isinstance(model, str):
            raise
        res = parse_resolution(resolution)  # a module the tracer cannot read is still timed
        built = build_model(model, res, device=spec.device, in_chans=in_chans)
    return measure_built(built, res, spec, batch_size=batch_size, in_chans=in_chans)


def measure_profiled(
    profile: Profile, build_kwargs: Mapping[str, Any], settings: TimingSettings
) -> Timing:
    """The latency of a timm model already profiled (``profile`` and the lifted ``build_kwargs``
    of its ``prepare``): built on the device, not traced again. A fused profile is prepared
    again (fusing needs real weights)."""
    spec = settings.checked()
    p = profile
    if p.reparameterized:
        options = {"in_chans": p.channels, "output_stride": p.output_stride}
        ready = prepare(p.model, p.resolution, device=spec.device, reparameterize=True, **options)
        built = ready.built
    else:
        built = build_on_device(p.model, p, build_kwargs, spec.device)
    return measure_built(built, p.resolution, spec, batch_size=p.batch_size, in_chans=p.channels)


def measure_built(
    built: Built, resolution: Pair, spec: TimingSettings, *, batch_size: int = 1, in_chans: int = 3
) -> Timing:
    """Measure an already built model (lets a sweep reuse one build across batch sizes)."""
    what = f"{built.name} at {size(resolution)}, batch {batch_size}"
    with out_of_memory_as_error(spec.device, what), _session(built.module, spec):
        return _measure_in_session(built, resolution, spec, batch_size, in_chans)


def probe_batch(
    built: Built, resolution: Pair, spec: TimingSettings, batch_size: int, in_chans: int = 3
) -> bool:
    """Whether two forwards at ``batch_size`` fit on the device (out of memory caught cleanly)."""
    what = f"{built.name} at {size(resolution)}, batch {batch_size}"
    try:
        with out_of_memory_as_error(spec.device, what), _session(built.module, spec):
            _two_forwards(built.module, spec, batch_size, in_chans, resolution)
    except InsufficientMemoryError:
        return False
    return True


def _two_forwards(
    module: nn.Module, spec: TimingSettings, batch_size: int, in_chans: int, resolution: Pair
) -> None:
    """Allocate and run in this frame, so an out-of-memory frees everything once it unwinds."""
    step = _step(module, _input(spec, batch_size, in_chans, resolution), spec)
    step()
    step()  # the second call: cudnn.benchmark picks its algorithms (and workspaces) on the first
    _synchronize(spec.device)


def _measure_in_session(
    built: Built, resolution: Pair, spec: TimingSettings, batch_size: int, in_chans: int
) -> Timing:
    """Compile (timed apart), warm up, time; the caller holds every setting."""
    step = _step(built.module, _input(spec, batch_size, in_chans, resolution), spec)
    compile_time_s = _first_call_s(step, spec.device) if spec.compile else None
    clock = make_clock(spec.device)
    probe = MemoryProbe(spec.device)
    with gc_paused():
        probe.start()
        warmup = _warm_up(step, clock, max(spec.warmup_max_s, spec.min_run_time_s))
        samples = _timed_runs(step, clock, spec)
        peak_bytes, method = probe.stop()
    return Timing(
        model=built.name,
        batch_size=batch_size,
        channels=in_chans,
        height=resolution[0],
        width=resolution[1],
        device=spec.device,
        channels_last=spec.channels_last,
        compiled=spec.compile,
        compile_time_s=compile_time_s,
        min_run_time_s=spec.min_run_time_s,
        warmup_runs=len(warmup[0]),
        warmup_s=warmup[1],
        warmup_stable=is_stable(warmup[0]),
        samples_s=samples,
        peak_memory_bytes=peak_bytes,
        memory_method=method,
        environment=environment(spec.device, dtype=spec.dtype, threads=spec.threads),
    )


def _session(module: nn.Module, spec: TimingSettings) -> Any:
    return session(module, spec.device, spec.threads, spec.channels_last)


def _input(spec: TimingSettings, batch_size: int, in_chans: int, resolution: Pair) -> torch.Tensor:
    x = torch.randn(batch_size, in_chans, *resolution, device=spec.device)
    return x.contiguous(memory_format=torch.channels_last) if spec.channels_last else x


def autocast_args(device: str, dtype: str) -> tuple[str, torch.dtype] | None:
    """``(device_type, dtype)`` for ``torch.autocast``; None for float32 (no autocast)."""
    if dtype == "float32":
        return None
    return torch.device(device).type, getattr(torch, dtype)


def _step(module: nn.Module, x: torch.Tensor, spec: TimingSettings) -> Callable[[], Any]:
    """One forward, under autocast per call for float16/bfloat16 (as inference code does it)."""
    fn = torch.compile(module) if spec.compile else module
    cast = autocast_args(spec.device, spec.dtype)
    if cast is None:
        return lambda: fn(x)

    def step() -> Any:
        with torch.autocast(cast[0], dtype=cast[1]):
            return fn(x)

    return step


def _first_call_s(step: Callable[[], Any], device: str) -> float:
    """Wall time of the first call: for a compiled step, compilation plus one forward."""
    begin = time.perf_counter()
    step()
    _synchronize(device)
    return time.perf_counter() - begin


class WallClock:
    """CPU timing: ``perf_counter`` around the call (CPU ops finish before they return)."""

    def start(self) -> None:
        self._begin = time.perf_counter()

    def stop(self) -> float:
        return time.perf_counter() - self._begin


class CudaClock:
    """CUDA timing: events around the call, then wait for the end event (one sample per call)."""

    def __init__(self) -> None:
        self._begin = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._begin.record()

    def stop(self) -> float:
        self._end.record()
        self._end.synchronize()
        return float(self._begin.elapsed_time(self._end)) / 1e3  # elapsed_time is in ms


def make_clock(device: str) -> WallClock | CudaClock:
    return CudaClock() if device.startswith("cuda") else WallClock()


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _timed_call(step: Callable[[], Any], clock: WallClock | CudaClock) -> float:
    clock.start()
    step()
    return clock.stop()


def _warm_up(
    step: Callable[[], Any], clock: WallClock | CudaClock, max_s: float
) -> tuple[list[float], float]:
    """Run untimed-for-the-report iterations until ``warmup_done``; return their times and span."""
    times: list[float] = []
    begin = time.perf_counter()
    while not warmup_done(times, time.perf_counter() - begin, max_s):
        times.append(_timed_call(step, clock))
    return times, time.perf_counter() - begin


def _timed_runs(
    step: Callable[[], Any], clock: WallClock | CudaClock, spec: TimingSettings
) -> tuple[float, ...]:
    samples: list[float] = []
    above = 0  # samples over ``stop_above_s`` (a budget check stops once they decide the median)
    limit, least = spec.stop_above_s, spec.min_samples
    begin = time.perf_counter()
    while not timed_runs_done(
        len(samples), time.perf_counter() - begin, spec.min_run_time_s, above, least
    ):
        samples.append(_timed_call(step, clock))
        above += limit is not None and samples[-1] > limit
    return tuple(samples)
