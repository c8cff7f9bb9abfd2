"""Latency data without torch: statistics of raw samples, the stopping rules, the Timing report.

Like ``torch.utils.benchmark.Measurement``, a :class:`Timing` keeps the raw per-iteration
samples (seconds) and derives median, percentiles, IQR and mean from them, so the spread is
always available. Percentiles interpolate linearly between order statistics (numpy's default,
``statistics.quantiles(method="inclusive")``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archcalc.display import Summarised, Summary
from archcalc.formatting import billions, mebibytes, milliseconds, size
from archcalc.results import SCHEMA_VERSION, Environment
from archcalc.serialize import Serialized, json_field

__all__ = [
    "BENCH_HEADERS",
    "MAX_BATCH",
    "MAX_SAMPLES",
    "MIN_SAMPLES",
    "TIMING_HEADERS",
    "WIDE_SPREAD",
    "BenchReport",
    "BenchRow",
    "MaxBatch",
    "Timing",
    "bench_notes",
    "bench_rows",
    "iqr",
    "is_stable",
    "memory_note",
    "percentile",
    "search_max_batch",
    "timed_runs_done",
    "timing_cells",
    "timing_note",
    "warmup_done",
]

#: Timed runs go on until ``min_run_time`` is spent and at least this many samples exist.
MIN_SAMPLES = 10
#: ... or until this many samples exist (a microsecond model would otherwise store millions).
MAX_SAMPLES = 10_000
#: Warm-up: at least this many runs and this much time, then until the timings are stable.
WARMUP_MIN_RUNS = 3
WARMUP_MIN_S = 0.3
#: Stable: the median of the last WINDOW runs is within TOLERANCE of the WINDOW runs before.
WARMUP_WINDOW = 3
WARMUP_TOLERANCE = 0.05
#: A spread is wide when p10-p90 exceeds this fraction of the median (a busy machine, a noisy
#: clock): ``Timing.warnings`` then holds ``wide_spread``.
WIDE_SPREAD = 0.2
#: Largest batch ``search_max_batch`` tries (it stops doubling there).
MAX_BATCH = 65_536


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1, in whole percents) of ``statistics.quantiles(method=
    "inclusive")``: linear between order statistics; one sample is every percentile."""
    if not samples:
        raise ValueError("percentile of no samples")
    if len(samples) == 1:
        return float(samples[0])
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return [min(samples), *cuts, max(samples)][round(q * 100)]


def iqr(samples: Sequence[float]) -> float:
    """Interquartile range: 75th minus 25th percentile."""
    return percentile(samples, 0.75) - percentile(samples, 0.25)


def is_stable(times: Sequence[float], window: int = WARMUP_WINDOW) -> bool:
    """True when the median of the last ``window`` runs is within tolerance of the window before."""
    if len(times) < 2 * window:
        return False
    last = statistics.median(times[-window:])
    before = statistics.median(times[-2 * window : -window])
    return abs(last - before) <= WARMUP_TOLERANCE * before


def warmup_done(times: Sequence[float], elapsed_s: float, max_s: float) -> bool:
    """Warm-up ends after a few runs and a few hundred ms, once stable or ``max_s`` is spent."""
    if len(times) < WARMUP_MIN_RUNS or elapsed_s < WARMUP_MIN_S:
        return False
    return is_stable(times) or elapsed_s >= max_s


def timed_runs_done(
    count: int, elapsed_s: float, min_run_time_s: float, above: int = 0, least: int = MIN_SAMPLES
) -> bool:
    """Timed runs end once ``min_run_time_s`` is spent with ``least`` samples (or at the cap),
    or (a budget check's early stop) once ``above``, the samples over a budget, are more than
    half of them and of ``least``: their median is over the budget, and would stay over it
    however the rest of the first ``least`` fell."""
    if 2 * above > max(count, least):
        return True
    return count >= MAX_SAMPLES or (count >= least and elapsed_s >= min_run_time_s)


def search_max_batch(fits: Callable[[int], bool], limit: int = MAX_BATCH) -> int:
    """Largest batch in 1..limit for which ``fits`` holds: double until it fails, then bisect.

    Assumes ``fits`` is monotone (a batch that fits means every smaller one fits); 0 if even a
    batch of 1 does not fit.
    """
    if not fits(1):
        return 0
    good = 1
    while good < limit:
        trial = min(2 * good, limit)
        if not fits(trial):
            return _bisect(fits, good, trial)
        good = trial
    return good


def _bisect(fits: Callable[[int], bool], good: int, bad: int) -> int:
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if fits(middle) else (good, middle)
    return good


@dataclass(frozen=True, kw_only=True)
class Timing(Summarised, Serialized):
    """Measured latency of one model at one input size and batch, with the settings used.

    ``samples_s`` are per-iteration wall times (CUDA: event time, synchronised every
    iteration). ``peak_memory_bytes`` is ``torch.cuda.max_memory_allocated`` over warm-up and
    timed runs on CUDA (weights included); on CPU it is the growth of the process's peak
    resident memory over the same region (an estimate: weights excluded, allocator caching
    included); None when it could not be observed. ``memory_method`` says which.
    ``warnings`` are the verdicts on the measurement a script can act on; ``str()`` (and
    Jupyter) show the ``archcalc bench`` row and its notes. Statistics (``median_s``,
    ``p10_s``, ...) are derived from the samples; ``to_dict()`` is the JSON of
    docs/schemas.md.

    Examples:
        >>> settings = archcalc.TimingSettings(min_run_time_s=0.5)
        >>> t = archcalc.measure("resnet18", 224, settings=settings)
        >>> t.runs >= 10, t.warnings  # () when the median can be trusted
        (True, ())
    """

    schema_version: int = SCHEMA_VERSION
    model: str
    batch_size: int = json_field(group="input")
    channels: int = json_field(group="input")
    height: int = json_field(group="input")
    width: int = json_field(group="input")
    device: str
    channels_last: bool
    compiled: bool
    compile_time_s: float | None
    min_run_time_s: float
    warmup_runs: int = json_field(group="warmup", name="runs")
    warmup_s: float = json_field(group="warmup", name="time_s")
    warmup_stable: bool = json_field(
        then=("runs", "median_s", "p10_s", "p90_s", "iqr_s", "mean_s", "images_per_s", "warnings")
    )
    peak_memory_bytes: int | None
    memory_method: str
    samples_s: tuple[float, ...]
    environment: Environment

    @property
    def runs(self) -> int:
        return len(self.samples_s)

    @property
    def median_s(self) -> float:
        return percentile(self.samples_s, 0.5)

    @property
    def p10_s(self) -> float:
        return percentile(self.samples_s, 0.1)

    @property
    def p90_s(self) -> float:
        return percentile(self.samples_s, 0.9)

    @property
    def iqr_s(self) -> float:
        return iqr(self.samples_s)

    @property
    def mean_s(self) -> float:
        return statistics.fmean(self.samples_s)

    @property
    def images_per_s(self) -> float:
        """Throughput: batch size / median latency."""
        return self.batch_size / self.median_s

    @property
    def spread(self) -> float:
        """The p10-p90 range as a fraction of the median."""
        return (self.p90_s - self.p10_s) / self.median_s

    @property
    def warnings(self) -> tuple[str, ...]:
        """``unstable_warmup``: timings still drifted when warm-up gave up; ``wide_spread``:
        p10-p90 is above ``WIDE_SPREAD`` of the median. Empty when the median can be trusted."""
        unstable = () if self.warmup_stable else ("unstable_warmup",)
        return unstable + (("wide_spread",) if self.spread > WIDE_SPREAD else ())

    def warning_notes(self) -> list[str]:
        """Each of ``warnings`` as a sentence with its figures (the table's notes)."""
        where = f"batch {self.batch_size} x {size((self.height, self.width))}"
        text = {
            "unstable_warmup": f"{where}: timings were still drifting after {self.warmup_runs} "
            f"warm-up runs ({self.warmup_s:.1f} s); read the median with care.",
            "wide_spread": f"{where}: wide spread (p10-p90 is {100 * self.spread:.0f}% of the "
            "median): the machine is busy or the clock is noisy.",
        }
        return [text[w] for w in self.warnings]

    def __repr__(self) -> str:
        return (
            f"Timing(model={self.model!r}, resolution={(self.height, self.width)}, "
            f"batch_size={self.batch_size}, device={self.device!r}, "
            f"median_s={self.median_s:.6g}, runs={self.runs}, warnings={self.warnings})"
        )

    def _summary(self) -> Summary:
        notes = [timing_note(self.model, self), memory_note(self), *self.warning_notes()]
        return TIMING_HEADERS, [[self.model, *timing_cells(self), str(self.runs)]], notes


TIMING_HEADERS = (
    "model", "res", "batch", "median (ms)", "p10-p90 (ms)", "images/s", "peak mem (MiB)", "runs",
)  # fmt: skip


def timing_cells(t: Timing) -> list[str]:
    """Resolution, batch, median, p10-p90, throughput and peak memory of one timing."""
    spread = f"{milliseconds(t.p10_s)}-{milliseconds(t.p90_s)}"
    peak = "-" if t.peak_memory_bytes is None else mebibytes(t.peak_memory_bytes)
    res = size((t.height, t.width))
    return [res, str(t.batch_size), milliseconds(t.median_s), spread, f"{t.images_per_s:.1f}", peak]


def timing_note(model: str, t: Timing) -> str:
    """How the latency was measured: device, dtype, threads, torch, statistic."""
    env = t.environment
    where = f"{env.device} ({t.device})" if t.device.startswith("cuda") else env.device
    extras = (", channels_last" if t.channels_last else "") + (
        f", compiled in {t.compile_time_s:.1f} s" if t.compile_time_s is not None else ""
    )
    return (
        f"Latency: {model} on {where}, {env.dtype}, {env.threads} CPU thread(s), torch "
        f"{env.torch}{extras}; median (and p10-p90) of per-iteration times after warm-up."
    )


def memory_note(t: Timing) -> str:
    """What the peak-memory column means for this timing's ``memory_method``."""
    memory = {
        "cuda_max_allocated": "torch.cuda.max_memory_allocated (weights included)",
        "rss_increase": "growth of the process's peak resident memory while running "
        "(an estimate; weights excluded)",
    }.get(t.memory_method, "not observable here")
    return f"peak mem: {memory}."


@dataclass(frozen=True)
class BenchRow(Serialized):
    """One (resolution, batch) of a sweep: the timing, or why there is none (out of memory)."""

    height: int = json_field(group="input")
    width: int = json_field(group="input")
    batch_size: int = json_field(group="input")
    macs: int = json_field(then=("status",))
    timing: Timing | None
    error: str | None = None

    @property
    def status(self) -> str:
        """``ok`` when timed, ``out_of_memory`` when the batch did not fit."""
        return "ok" if self.timing is not None else "out_of_memory"


@dataclass(frozen=True)
class MaxBatch(Serialized):
    """The largest batch that fits at one resolution and how it was found.

    ``method`` is ``cuda_oom_search`` (forwards tried, out-of-memory caught) or
    ``host_estimate`` (CPU: the profile's memory estimate against available RAM).
    """

    height: int
    width: int
    batch_size: int
    method: str
    limit: int
    budget_bytes: int | None


@dataclass(frozen=True, kw_only=True)
class BenchReport(Summarised, Serialized):
    """All rows of ``archcalc bench`` for one model, and the max-batch results if asked;
    ``str()`` (and Jupyter) shows the CLI's table and notes.

    Example:
        >>> settings = archcalc.TimingSettings(threads=1)
        >>> report = archcalc.bench("resnet18", [224], [1, 8], settings=settings)
        >>> [(row.height, row.batch_size) for row in report.rows]
        [(224, 1), (224, 8)]
    """

    schema_version: int = SCHEMA_VERSION
    model: str
    rows: tuple[BenchRow, ...]
    max_batches: tuple[MaxBatch, ...] = json_field(default=(), name="max_batch")

    def _summary(self) -> Summary:
        return BENCH_HEADERS, bench_rows(self), bench_notes(self)


BENCH_HEADERS = (
    "res",
    "batch",
    "median (ms)",
    "p10-p90 (ms)",
    "images/s",
    "peak mem (MiB)",
    "GMACs",
    "runs",
)


def bench_rows(report: BenchReport) -> list[list[str]]:
    """One row per (resolution, batch): latency, spread, throughput, memory, MACs."""
    rows = []
    for row in report.rows:
        t = row.timing
        if t is None:
            res = size((row.height, row.width))
            cells = [res, str(row.batch_size), "out of memory", "-", "-", "-"]
            rows.append([*cells, billions(row.macs), "-"])
            continue
        rows.append([*timing_cells(t), billions(row.macs), str(t.runs)])
    return rows


def bench_notes(report: BenchReport) -> list[str]:
    """Footnotes: what ran where, what the memory column means, warnings, max batch."""
    timings = [r.timing for r in report.rows if r.timing is not None]
    notes = [r.error for r in report.rows if r.error]
    if timings:
        units = f"MACs at the row's batch (FLOPs = 2 x MACs); {memory_note(timings[0])}"
        notes[:0] = [timing_note(report.model, timings[0]), units]
    notes += [n for t in timings for n in t.warning_notes()]
    notes += [_max_batch_note(m) for m in report.max_batches]
    return notes


def _max_batch_note(m: MaxBatch) -> str:
    where = f"largest batch at {size((m.height, m.width))}"
    found = "none (batch 1 does not fit)" if m.batch_size == 0 else str(m.batch_size)
    if m.batch_size >= m.limit:
        found = f"at least {m.limit} (the search stops there)"
    if m.method == "cuda_oom_search":
        return f"{where}: {found} (forwards tried, doubling then bisecting, out-of-memory caught)."
    return (
        f"{where}: {found} (estimated, not run: weights + batch x per-image input and peak "
        f"activations within {mebibytes(m.budget_bytes or 0)} MiB, 90% of available RAM)."
    )
