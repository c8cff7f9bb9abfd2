"""Sweeps: profile many models at many resolutions, resumably, one isolated worker per model.

``run_sweep(models, resolutions, out="results.jsonl")`` appends one JSON line per (model,
resolution) to ``out``: ``Profile.to_dict()`` plus ``"status": "ok"``, or an error line (model,
convention, input, ``"status": "error"`` and ``"error": {kind, type, reason}``). Pairs already
in ``out`` are skipped, so rerunning a killed sweep finishes it (a torn last line is cut and
redone). Each model runs in a worker process (``archcalc.sweep.workers``): a crash, hang or
memory blow-up is recorded as that model's error and the sweep goes on.

The work done per model is a *profiler*: an importable ``"module:function"`` taking a
``ModelTask`` and yielding one line (dict) per resolution. The default,
``archcalc.sweep.run:profile_task``, builds each architecture once on the meta device and reuses
it across resolutions unless its input size is a constructor argument; other tools (and tests)
plug in their own."""

from __future__ import annotations

import fnmatch
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archcalc.checks import check_convention, check_input_size, check_positive, is_test_model
from archcalc.core.geometry import parse_resolution
from archcalc.deprecation import warn_deprecated
from archcalc.errors import InvalidArgumentError, UnknownModelError, first_line
from archcalc.formatting import GIB, size
from archcalc.progress import ProgressCallback, report_progress
from archcalc.results import Identity, Pair
from archcalc.serialize import Serialized, json_field
from archcalc.sweep.jsonl import append_lines, repair
from archcalc.sweep.shards import Shard, shard_models
from archcalc.sweep.workers import Done, Failure, Item, run_isolated

__all__ = [
    "DEFAULT_PROFILER",
    "ErrorLine",
    "ModelTask",
    "Progress",
    "SweepSettings",
    "SweepSummary",
    "error_line",
    "expand_models",
    "line_key",
    "profile_task",
    "run_sweep",
]

DEFAULT_PROFILER = "archcalc.sweep.run:profile_task"
#: Modules each worker imports before its first task (their import time is not a timeout).
PRELOAD = ("archcalc.profiling.prepare", "timm")
_WILDCARDS = "*?["


@dataclass(frozen=True)
class SweepSettings:
    """What every (model, resolution) is profiled with; part of each line's identity.

    Example:
        >>> settings = archcalc.SweepSettings(latency=True, device="cpu")
        >>> archcalc.run_sweep(["resnet18"], [224], out="s.jsonl", settings=settings)
        ... # doctest: +SKIP
    """

    convention: str = "core"
    batch_size: int = 1
    in_chans: int = 3
    latency: bool = False
    device: str = "cpu"
    #: A ``DeviceProfile``: each ok line also gets a PREDICTED ``prediction`` on it
    #: (``archcalc.predict``; not part of a line's identity: a rerun keeps lines predicted for
    #: another).
    target: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class ModelTask:
    """One worker task: a model and the resolutions still missing for it."""

    model: str
    resolutions: tuple[Pair, ...]
    settings: SweepSettings


@dataclass(frozen=True)
class Progress:
    """What the deprecated ``progress_callback`` got after each line: pairs done so far (of
    ``total``). ``progress(done, total, what)`` replaces it (``archcalc.progress``)."""

    done: int
    total: int
    errors: int
    line: dict[str, Any]


@dataclass(frozen=True)
class SweepSummary(Serialized):
    """What a sweep did: pairs skipped (already in the file), written ok / error, wall time,
    the peak resident memory of each worker process (bytes, by pid), and how many unreadable
    lines of the file were moved to ``<out>.rejected`` before appending.

    Example:
        >>> archcalc.run_sweep(["resnet18"], [48, 224], out="s.jsonl").ok  # doctest: +SKIP
        2
    """

    out: str
    models: int
    resolutions: int
    pairs: int
    skipped: int
    ok: int
    errors: int
    errors_by_kind: dict[str, int]
    wall_s: float
    worker_peak_rss_bytes: dict[int, int] = json_field(
        default_factory=dict, skip=True, then=("workers", "max_worker_peak_rss_bytes")
    )
    rejected_lines: int = 0

    @property
    def workers(self) -> int:
        """How many worker processes ran."""
        return len(self.worker_peak_rss_bytes)

    @property
    def max_worker_peak_rss_bytes(self) -> int | None:
        """The largest peak resident memory of one worker (None when no worker reported)."""
        return max(self.worker_peak_rss_bytes.values(), default=None)


def line_key(line: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two lines the same result: model, convention, batch, channels, height, width."""
    inp = line.get("input") or {}
    return (
        line.get("model"),
        line.get("convention"),
        inp.get("batch_size"),
        inp.get("channels"),
        inp.get("height"),
        inp.get("width"),
    )


def _task_key(model: str, res: Pair, settings: SweepSettings) -> tuple[Any, ...]:
    return (model, settings.convention, settings.batch_size, settings.in_chans, *res)


@dataclass(frozen=True, kw_only=True)
class ErrorLine(Identity):
    """The sweep line of a pair that failed: a profile's identity keys, ``status`` ``error``
    and the failure (``kind``, ``type``, ``reason``)."""

    status: str = "error"
    error: Failure


def error_line(model: str, res: Pair, settings: SweepSettings, failure: Failure) -> dict[str, Any]:
    """The line recorded when ``model`` at ``res`` failed (same identity keys as a profile)."""
    return ErrorLine(
        model=model, convention=settings.convention, batch_size=settings.batch_size,
        channels=settings.in_chans, height=res[0], width=res[1], error=failure,
    ).to_dict()  # fmt: skip


def expand_models(patterns: Iterable[str], *, include_test: bool = False) -> list[str]:
    """timm names and wildcards (``resnet*``, ``'*'``) -> unique architecture names, in order.

    A plain name must be a timm model (``arch`` or ``arch.tag``); a pattern must match one.
    Wildcards leave timm's ``test_*`` toy architectures out unless ``include_test``; a name
    given in full is kept.

    Args:
        patterns: names and ``fnmatch`` patterns, one each (blank ones and ``# comments``,
            as in a models file, are left out).
        include_test: keep the ``test_*`` architectures a wildcard matches.

    Returns:
        The names, each once, in the order given (a pattern's matches in timm's order).

    Raises:
        UnknownModelError: a name timm does not list, or a pattern that matches none.
        InvalidArgumentError: no name at all.

    Example:
        >>> archcalc.expand_models(["resnet18", "mobilenetv3_small_0*"])
        ['resnet18', 'mobilenetv3_small_050', 'mobilenetv3_small_075']
    """
    import timm

    from archcalc.core.build import resolve_name

    names: list[str] = []
    for pattern in (p.strip() for p in patterns):
        if not pattern or pattern.startswith("#"):
            continue
        if any(c in pattern for c in _WILDCARDS):
            found = [n for n in timm.list_models() if fnmatch.fnmatchcase(n, pattern)]
            kept = [n for n in found if include_test or not is_test_model(n)]
            if not kept:
                what = "no timm model"
                if found:
                    what = "only timm's test_* models (add --include-test)"
                raise UnknownModelError(f"pattern {pattern!r} matches {what}")
            found = kept
            names.extend(found)
        else:
            names.append(resolve_name(pattern))
    if not names:
        raise InvalidArgumentError(
            "no model name given (only blank lines or # comments): e.g. --models 'resnet*'"
        )
    return list(dict.fromkeys(names))


def profile_task(task: ModelTask) -> Iterator[dict[str, Any]]:
    """Default profiler: one line per resolution, each model prepared as ``profile`` prepares
    it (one meta build reused across sizes unless img_size is a constructor argument)."""
    from archcalc.profiling.prepare import trace_model

    settings = task.settings
    built = None
    for res in task.resolutions:
        start = time.perf_counter()
        try:
            check_input_size(res, settings.batch_size, settings.in_chans)
            ready = trace_model(
                task.model,
                res,
                batch_size=settings.batch_size,
                in_chans=settings.in_chans,
                convention=settings.convention,
                reuse=built,
            )
            built = ready.built
            line = {**ready.profile.to_dict(), "status": "ok", "error": None}
            if settings.target is not None:
                line["prediction"] = _prediction(task.model, res, settings)
            if settings.latency:
                line |= _latency(task.model, res, settings)
        except Exception as e:  # noqa: BLE001 - any failure of one size is that size's result
            failure = Failure("exception", type(e).__name__, first_line(e, whole=True))
            line = error_line(task.model, res, settings, failure)
        line["model"] = task.model
        line["profile_s"] = time.perf_counter() - start
        yield line


def _prediction(model: str, res: Pair, settings: SweepSettings) -> dict[str, Any]:
    """The PREDICTED ``prediction`` object of one size on ``settings.target``
    (``archcalc.predict``: the same answer as every other command gives)."""
    from archcalc.timing.predict.api import predict

    target, batch, chans = settings.target, settings.batch_size, settings.in_chans
    return predict(model, res, target=target, batch_size=batch, in_chans=chans).to_dict()


def _latency(model: str, res: Pair, settings: SweepSettings) -> dict[str, Any]:
    """Measured latency (``archcalc.timing.measure``): the median in seconds plus the summary."""
    from archcalc.timing.measure import TimingSettings, measure

    timing = measure(
        model, res, settings=TimingSettings(device=settings.device),
        batch_size=settings.batch_size, in_chans=settings.in_chans,
    )  # fmt: skip
    summary = {k: v for k, v in timing.to_dict().items() if k != "samples_s"}
    return {"latency_s": timing.median_s, "latency": summary}


def _check(
    resolutions: Sequence[Any],
    settings: SweepSettings,
    jobs: int,
    timeout_s: float | None,
    max_rss_bytes: int | None,
) -> tuple[Pair, ...]:
    """Validate everything before the first worker starts; return the parsed resolutions."""
    check_convention(settings.convention)
    check_positive("jobs", jobs)
    check_positive("max_rss_bytes", max_rss_bytes, optional=True)
    check_positive("batch_size", settings.batch_size)
    check_positive("in_chans", settings.in_chans)
    if timeout_s is not None and not timeout_s > 0:
        raise InvalidArgumentError(f"timeout must be positive seconds, got {timeout_s!r}")
    if settings.latency:
        from archcalc.core.devices import check_device

        check_device(settings.device, allow_meta=False)
    res = tuple(dict.fromkeys(parse_resolution(r) for r in resolutions))
    if not res:
        raise InvalidArgumentError("give at least one resolution (--res 224)")
    return res


def run_sweep(
    models: Sequence[str],
    resolutions: Sequence[int | str | Pair],
    *,
    out: str | Path,
    settings: SweepSettings | None = None,
    jobs: int = 2,
    timeout_s: float | None = 300.0,
    max_rss_bytes: int | None = 4 * GIB,
    shard: Shard | None = None,
    profiler: str = DEFAULT_PROFILER,
    progress: ProgressCallback | None = None,
    progress_callback: Callable[[Progress], None] | None = None,
) -> SweepSummary:
    """Profile every model (already expanded names) at every resolution into ``out`` (JSONL).

    Each model runs in its own worker process: a crash, hang or memory blow-up is that model's
    error line and the sweep goes on. Rerunning resumes: pairs already in ``out`` are skipped.

    Args:
        models: timm names (``expand_models`` turns patterns into names).
        resolutions: sizes, each ``224``, ``"448x320"`` or ``(448, 320)``.
        out: the JSON Lines file (appended to; one line per (model, resolution)).
        settings: what every pair is profiled with (``SweepSettings``; latency on its device).
        jobs: worker processes at once.
        timeout_s, max_rss_bytes: per-model limits (None: none).
        shard: ``(i, n)`` keeps the i-th of n shards of the model list.
        profiler: the ``"module:function"`` each worker runs per model.
        progress: ``progress(done, total, what)`` after each line (``archcalc.progress``).
        progress_callback: deprecated: ``callback(Progress)`` after each line.

    Returns:
        A ``SweepSummary``: pairs skipped, ok and in error (by kind), wall time, peak memory.

    Raises:
        InvalidArgumentError: a bad setting, no resolution, or an unreadable ``out``.

    Example:
        >>> run_sweep(["resnet18"], [224, 448], out="zoo.jsonl").ok  # doctest: +SKIP
        2
    """
    if progress_callback is not None:
        warn_deprecated("run_sweep(progress_callback=)", "progress=(done, total, what)")
    settings = settings or SweepSettings()
    res = _check(resolutions, settings, jobs, timeout_s, max_rss_bytes)
    names = shard_models(models, shard)
    tasks, rejected = _plan(names, res, settings, Path(out))
    pairs = len(names) * len(res)
    todo = sum(len(t.resolutions) for t, _ in tasks)
    start = time.monotonic()
    tally: Counter[str] = Counter()
    peaks: dict[int, int] = {}
    events = run_isolated(
        tasks, profiler, jobs=jobs, timeout_s=timeout_s, max_rss_bytes=max_rss_bytes,
        preload=PRELOAD if profiler == DEFAULT_PROFILER else (),
    )  # fmt: skip
    with append_lines(out) as write:
        for line in _lines(events, peaks):
            write(line)
            tally["ok" if line.get("status") == "ok" else _kind(line)] += 1
            errors = sum(n for k, n in tally.items() if k != "ok")
            what = f"{line.get('model')} at {_size_of(line)}: {errors} errors"
            report_progress(progress, sum(tally.values()), todo, what)
            if progress_callback is not None:
                progress_callback(Progress(sum(tally.values()), todo, errors, line))
    return SweepSummary(
        out=str(out),
        models=len(names),
        resolutions=len(res),
        pairs=pairs,
        skipped=pairs - todo,
        ok=tally.pop("ok", 0),
        errors=sum(tally.values()),
        errors_by_kind=dict(tally),
        wall_s=time.monotonic() - start,
        worker_peak_rss_bytes=peaks,
        rejected_lines=rejected,
    )


def _plan(
    names: Sequence[str], res: tuple[Pair, ...], settings: SweepSettings, out: Path
) -> tuple[list[tuple[ModelTask, ModelTask]], int]:
    """Repair ``out`` (a torn last line; unreadable lines moved to ``<out>.rejected``) and list
    the tasks for the pairs it does not hold; also return how many lines were moved."""
    if out.suffix == ".gz":
        raise InvalidArgumentError(f"cannot append to a compressed file: {out}; use .jsonl")
    contents = repair(out)
    done = {line_key(line) for line in contents.records}
    tasks = []
    for model in names:
        missing = tuple(r for r in res if _task_key(model, r, settings) not in done)
        if missing:
            task = ModelTask(model, missing, settings)
            tasks.append((task, task))
    return tasks, contents.bad_lines


def _kind(line: dict[str, Any]) -> str:
    return str((line.get("error") or {}).get("kind", "exception"))


def _lines(events: Iterator[Item | Done], peaks: dict[int, int]) -> Iterator[dict[str, Any]]:
    """Worker events -> lines: profiler output as is, error lines for pairs a failure lost."""
    seen: defaultdict[ModelTask, set[Pair]] = defaultdict(set)
    for event in events:
        task: ModelTask = event.task
        if isinstance(event, Item):
            line = event.value
            inp = line.get("input") or {}
            seen[task].add((inp.get("height"), inp.get("width")))
            yield line
            continue
        if event.peak_rss_bytes is not None:
            peaks[event.worker_pid] = max(peaks.get(event.worker_pid, 0), event.peak_rss_bytes)
        got = seen.pop(task, set())
        for res in task.resolutions:
            if res not in got:
                failure = event.failure or Failure("exception", "MissingResult", "no line yielded")
                yield error_line(task.model, res, task.settings, failure)


def _size_of(line: dict[str, Any]) -> str:
    """A line's input size as ``HxW`` (``?`` where the line has none)."""
    inp = line.get("input") or {}
    height, width = inp.get("height"), inp.get("width")
    return size((height, width)) if height and width else "?"
