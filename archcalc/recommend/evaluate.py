"""One suggestion option profiled (meta device) or timed: the steps both searches share.

``suggest`` on named backbones and the ``--backbone auto`` search both profile an option
through ``prepare`` (the one way a model is built), try the output-stride remedies when a
size ends below k = 3, and time a row with a short ``measure`` run.
"""

from __future__ import annotations

from collections.abc import Mapping

from archcalc.core.build import Built
from archcalc.errors import ArchcalcError
from archcalc.profiling.prepare import Ready, fused, trace_model
from archcalc.recommend.rules import K_MIN
from archcalc.recommend.suggestion import Option
from archcalc.results import Pair
from archcalc.timing.measure import TimingSettings, measure_profiled

__all__ = [
    "MIN_RUN_TIME_S",
    "OUTPUT_STRIDES",
    "ROW_SAMPLES",
    "WARMUP_MAX_S",
    "latency_s",
    "option_of",
    "profile_at",
    "stride_remedies",
]

#: Timed-run length per measured row: short, since only a few rows decide and the median of
#: ``ROW_SAMPLES`` runs is enough to compare with a budget (``archcalc bench`` is the careful
#: measurement: 10 runs and more, after a warm-up until stable).
MIN_RUN_TIME_S = 0.2
ROW_SAMPLES = 5
#: A row's warm-up stops waiting for stable timings at its minimum (3 runs and 0.3 s): the
#: first run pays the one-off costs, and the median of the timed runs absorbs a slow one.
WARMUP_MAX_S = 0.3
#: Output strides tried, in order, when the level's size gives k < 3 (timm: dilation).
OUTPUT_STRIDES = (16, 8)


def profile_at(
    name: str,
    res: Pair,
    stride: int | None,
    reuse: Built | None,
    build: Mapping[str, bool] | None = None,
) -> Option:
    """Profile one size through ``prepare``'s steps (reusing one meta build where the arch
    allows); ``build``: ``reparameterize`` (the fused deploy form) and ``train`` (also count
    one training step's MACs, carried on the option as ``train_macs``)."""
    build = build or {}
    train = bool(build.get("train"))
    ready = trace_model(name, res, output_stride=stride, reuse=reuse, train=train)
    if build.get("reparameterize"):
        ready = fused(name, ready, train=train)
    return option_of(ready)


def option_of(ready: Ready) -> Option:
    """A row from a prepared model: its profile, training-step MACs (None unless traced with
    ``train``) and the lifted constructor arguments a timing rebuilds it with."""
    kwargs = tuple(ready.build_kwargs.items())
    return Option(ready.profile, train_macs=ready.profile.train_macs, build_kwargs=kwargs)


def stride_remedies(
    name: str, res: Pair, build: Mapping[str, bool] | None = None
) -> tuple[list[Option], str | None]:
    """Profiles at ``res`` with output_stride 16, then 8 until k >= 3; or why none applies."""
    out: list[Option] = []
    for stride in OUTPUT_STRIDES:
        try:
            option = profile_at(name, res, stride, None, build)
        except ArchcalcError:
            why = f"{name} does not accept output_stride={stride} (timm)" if not out else None
            return out, why
        if max(option.profile.global_stride) > stride:
            return out, f"{name} ignores output_stride={stride}"
        out.append(option)
        if min(option.profile.final_map) >= K_MIN:
            break
    return out, None


def latency_s(option: Option, device: str, budget_s: float | None = None) -> float:
    """Median latency (seconds) at batch 1 of one row, its model prepared as for its profile
    (built again on ``device``, not traced again); with ``budget_s``, timing stops once the
    median is sure to exceed it (the median of the runs so far, over the budget, is returned)."""
    settings = TimingSettings(
        device=device,
        min_run_time_s=MIN_RUN_TIME_S,
        warmup_max_s=WARMUP_MAX_S,
        stop_above_s=budget_s,
        min_samples=ROW_SAMPLES,
    )  # timed in the form it was profiled in (fused or not), at batch 1
    return float(measure_profiled(option.profile, dict(option.build_kwargs), settings).median_s)
