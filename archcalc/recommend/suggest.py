"""``archcalc.suggest``: profile backbones at candidate sizes, time the rows that matter, decide.

Steps: resolve the task level; profile each backbone (built once on the meta device) at the
candidate sizes, plus the remedies the k rule asks for at the level's size (an output stride
the backbone accepts, the smallest aligned larger input, the nearest aligned sizes, and the
largest input keeping k <= 9 where the level's size gives a larger map); measure the latency of
the few rows the decision depends on; hand everything to the pure recommender, with the GPU
sizes for the largest training batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from archcalc.checks import check_limit, check_positive
from archcalc.core.build import Built
from archcalc.core.devices import check_device
from archcalc.errors import ArchcalcError, InvalidArgumentError
from archcalc.formatting import size
from archcalc.profiling.prepare import prepare
from archcalc.recommend.batch import check_gpu_memory, check_precision
from archcalc.recommend.decide import (
    AUTO_BACKBONES,
    CANDIDATE_SIDES,
    DEFAULT_BACKBONES,
    Option,
    Suggestion,
    rank,
    recommend,
    violations,
)
from archcalc.recommend.kmax import above_window, k_window_side
from archcalc.recommend.levels import LEVELS, Level, find_level, load_levels
from archcalc.recommend.rules import K_MIN, Backbone
from archcalc.results import Pair, Profile
from archcalc.timing.measure import measure

__all__ = ["MIN_RUN_TIME_S", "OUTPUT_STRIDES", "suggest"]

#: Timed-run length per measured row: short, since only a few rows decide and the median of
#: at least 10 runs (archcalc.timing.measure) is stable enough to compare with a budget.
MIN_RUN_TIME_S = 0.2
#: Output strides tried, in order, when the level's size gives k < 3 (timm: dilation).
OUTPUT_STRIDES = (16, 8)

Key = tuple[str, Pair, int | None]


def suggest(
    task: str,
    backbones: str | Sequence[str] | None = None,
    *,
    device: str = "cpu",
    budget_ms: float | None = None,
    max_gmacs: float | None = None,
    measure_latency: bool = True,
    levels: str | os.PathLike[str] | Sequence[Level] | None = None,
    training: bool = True,
    gpu_memory: float | Sequence[float] | None = None,
    precision: str = "fp32",
    epoch_images: int | None = None,
) -> Suggestion:
    """Recommend an input size (and output stride) for ``task`` on the given backbones.

    Args:
        task: a level name or alias (coarse, fine-grained, region, ...).
        backbones: timm names, ``"auto"`` for the ranked candidate set; default resnet18 and
            mobilenetv3_large_100.
        device: where latency is measured.
        budget_ms: largest median latency at batch 1 on ``device``.
        max_gmacs: largest cost in MACs / 1e9.
        measure_latency: False for static numbers only.
        levels: a levels file (TOML/JSON/YAML) or a sequence of ``Level``.
        training: include the level's training start (domain notes section 5).
        gpu_memory: GPU size(s) in GiB: the largest training batch that fits each.
        precision: ``fp32`` or ``amp`` (saved activations in half precision).
        epoch_images: images per epoch for the epoch cost (default: the training start's
            ``data_images``, 3,000).

    Returns:
        The ``Suggestion``: chosen option, reasons, warnings, pipeline, training start,
        batches per GPU, k <= 9 alternatives and every profiled alternative.

    Example:
        >>> s = suggest("fine-grained", "resnet18", measure_latency=False, gpu_memory=24)
        >>> s.resolution, s.train_batches[0].batch_size  # doctest: +SKIP
    """
    level = find_level(task, _level_table(levels))
    gpus = check_gpu_memory(gpu_memory)
    precision = check_precision(precision)
    check_positive("epoch_images", epoch_images, optional=True)
    names, auto = _backbone_names(backbones)
    budget_ms = check_limit("budget_ms", budget_ms)
    max_gmacs = check_limit("max_gmacs", max_gmacs)
    if budget_ms is not None and not measure_latency:
        raise InvalidArgumentError(
            "budget_ms needs latency measurement: drop --no-latency, or use --max-gmacs"
        )
    dev = check_device(device, allow_meta=False)
    infos: list[Backbone] = []
    options: list[Option] = []
    notes: list[str] = []
    for name in names:
        info, found, skipped = _profile_backbone(name, level)
        infos.append(info)
        options += found
        notes += skipped
    if measure_latency and options:
        order = [b.name for b in infos]
        options = _timed(options, rank(options, level, order), dev, budget_ms, max_gmacs)
    return recommend(
        level,
        options,
        infos,
        budget_ms=budget_ms,
        max_gmacs=max_gmacs,
        device=dev,
        auto=auto,
        notes=notes,
        training=training,
        gpu_memory=gpus,
        precision=precision,
        epoch_images=epoch_images,
    )


def _level_table(levels: str | os.PathLike[str] | Sequence[Level] | None) -> tuple[Level, ...]:
    if levels is None:
        return LEVELS
    if isinstance(levels, str | os.PathLike):
        return load_levels(levels)
    if all(isinstance(lv, Level) for lv in levels):
        return tuple(levels)
    raise InvalidArgumentError("levels must be a file path or a sequence of Level")


def _backbone_names(backbones: str | Sequence[str] | None) -> tuple[list[str], bool]:
    """The names to try, in order of preference (``auto`` expands to the ranked set)."""
    asked = [backbones] if isinstance(backbones, str) else list(backbones or DEFAULT_BACKBONES)
    if not asked or not all(isinstance(b, str) and b.strip() for b in asked):
        raise InvalidArgumentError(f"backbones must be timm model names, got {backbones!r}")
    auto = any(b.strip().lower() == "auto" for b in asked)
    names: list[str] = []
    for b in asked:
        names += list(AUTO_BACKBONES) if b.strip().lower() == "auto" else [b.strip()]
    return list(dict.fromkeys(names)), auto


def train_macs_of(profile: Profile) -> int | None:
    """Forward + backward MACs of one image at ``profile``'s size, None when not available.

    MERGE POINT (issue 11): return ``profile.train_macs`` once ``Profile`` carries it; until
    then the training-step cost reads "not available".
    """
    del profile
    return None


def _profile_at(name: str, res: Pair, stride: int | None, reuse: Built | None) -> Option:
    """Profile one size through ``prepare`` (reusing one meta build where the arch allows)."""
    profile = prepare(name, res, output_stride=stride, reuse=reuse).profile
    return Option(profile, train_macs=train_macs_of(profile))


def _profile_backbone(name: str, level: Level) -> tuple[Backbone, list[Option], list[str]]:
    """Every candidate size at the default stride, then the remedies the level's size needs."""
    built = prepare(name, level.resolution, trace=False).built
    sides = {(s, s) for s in CANDIDATE_SIDES} | {level.resolution}
    found: dict[Pair, Option] = {}
    skipped: list[str] = []
    for res in sorted(sides, key=lambda r: (r[0] * r[1], r)):
        try:
            found[res] = _profile_at(name, res, None, built)
        except ArchcalcError as e:
            skipped.append(f"skipped {built.name} at {size(res)}: {e}")
    options = list(found.values())
    base = found.get(level.resolution)
    note = None
    if base is not None and min(base.profile.final_map) < K_MIN:
        strided, note = _stride_remedies(name, level.resolution)
        options += strided
        stride = base.profile.global_stride
        options += _extra_sizes(built, name, [(K_MIN * stride[0], K_MIN * stride[1])], found)
    elif base is not None and not base.profile.aligned:
        near = [r for r in (base.profile.aligned_below, base.profile.aligned_above) if r]
        options += _extra_sizes(built, name, near, found)
    if base is not None and above_window(base.profile):
        options += _extra_sizes(built, name, [k_window_side(base.profile)], found)
    return Backbone.from_cfg(built.name, built.pretrained_cfg, note), options, skipped


def _extra_sizes(
    built: Built, name: str, sizes: Sequence[Pair], found: dict[Pair, Option]
) -> list[Option]:
    """Profiles at the sizes not profiled yet (ones that fail are left out)."""
    out = []
    for res in sizes:
        if res in found:
            continue
        try:
            out.append(_profile_at(name, res, None, built))
        except ArchcalcError:
            continue
    return out


def _stride_remedies(name: str, res: Pair) -> tuple[list[Option], str | None]:
    """Profiles at ``res`` with output_stride 16, then 8 until k >= 3; or why none applies."""
    out: list[Option] = []
    for stride in OUTPUT_STRIDES:
        try:
            option = _profile_at(name, res, stride, None)
        except ArchcalcError:
            why = f"{name} does not accept output_stride={stride} (timm)" if not out else None
            return out, why
        if max(option.profile.global_stride) > stride:
            return out, f"{name} ignores output_stride={stride}"
        out.append(option)
        if min(option.profile.final_map) >= K_MIN:
            break
    return out, None


def _timed(
    options: Sequence[Option],
    ranked: Sequence[Option],
    device: str,
    budget_ms: float | None,
    max_gmacs: float | None,
) -> list[Option]:
    """Measure the rows that decide: each backbone's best row, then (with a latency budget)
    the ranked rows until one fits. A row is skipped when a cheaper row of the same backbone
    and output stride already missed the budget (latency grows with MACs)."""
    latency: dict[Key, float] = {}
    firsts = list({o.backbone: o for o in reversed(ranked)}.values())
    wanted = [o for o in firsts if not violations(o, None, max_gmacs)]
    for o in wanted:
        latency[o.key] = _latency(o, device)
    if budget_ms is None:
        best = next((o for o in ranked if not violations(o, None, max_gmacs)), None)
        if best is not None and best.key not in latency:
            latency[best.key] = _latency(best, device)
    else:
        for o in ranked:
            if violations(o, None, max_gmacs) or _pruned(o, options, latency, budget_ms):
                continue
            if o.key not in latency:
                latency[o.key] = _latency(o, device)
            if latency[o.key] * 1e3 <= budget_ms:
                break
    return [replace(o, latency_s=latency.get(o.key)) for o in options]


def _pruned(
    option: Option, options: Sequence[Option], latency: dict[Key, float], budget_ms: float
) -> bool:
    """True when a row of the same backbone and stride with no more MACs missed the budget."""
    return any(
        o.backbone == option.backbone
        and o.profile.output_stride == option.profile.output_stride
        and o.profile.macs <= option.profile.macs
        and latency.get(o.key, 0.0) * 1e3 > budget_ms
        for o in options
    )


def _latency(option: Option, device: str) -> float:
    """Median latency (seconds) at batch 1 of one row, its model prepared as for its profile."""
    p = option.profile
    result = measure(
        p.model,
        p.resolution,
        device=device,
        batch_size=1,
        output_stride=p.output_stride,
        min_run_time=MIN_RUN_TIME_S,
    )
    return float(result.median_s)
