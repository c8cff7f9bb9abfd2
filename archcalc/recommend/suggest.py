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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from archcalc.checks import check_limit, check_positive
from archcalc.core.build import Built
from archcalc.core.devices import check_device
from archcalc.errors import ArchcalcError, InvalidArgumentError
from archcalc.formatting import size
from archcalc.growth import GrowthLaw, fit_growth
from archcalc.profiling.prepare import prepare
from archcalc.progress import ProgressCallback, report_progress
from archcalc.recommend.auto import search
from archcalc.recommend.batch import check_gpu_memory, check_precision
from archcalc.recommend.catalog import load_catalog
from archcalc.recommend.decide import (
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
from archcalc.recommend.profiles import latency_s, profile_at, stride_remedies
from archcalc.recommend.rules import K_MIN, Backbone
from archcalc.results import Pair

__all__ = ["suggest"]

Key = tuple[str, Pair, int | None]


def suggest(
    task: str,
    backbones: str | Sequence[str] | None = None,
    *,
    device: str = "cpu",
    budget_ms: float | None = None,
    max_gmacs: float | None = None,
    max_params: float | None = None,
    measure_latency: bool = True,
    levels: str | os.PathLike[str] | Sequence[Level] | None = None,
    top: int = 5,
    family: str | None = None,
    catalog: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    reparameterize: bool = False,
    training: bool = True,
    gpu_memory: float | Sequence[float] | None = None,
    precision: str = "fp32",
    epoch_images: int | None = None,
    timer: Callable[..., float] | None = None,
) -> Suggestion:
    """Recommend an input size (and output stride) for ``task``, and with ``"auto"`` the backbone.

    Args:
        task: a level name or alias (coarse, fine-grained, region, ...).
        backbones: timm names in order of preference (default resnet18 and
            mobilenetv3_large_100, the proven baselines), or ``"auto"``: the most accurate
            architecture of timm's published ImageNet table that fits (``recommend.auto``).
        device: where latency is measured; ``measure_latency`` False skips it.
        budget_ms, max_gmacs, max_params: median latency at batch 1 (ms), MACs / 1e9,
            parameters / 1e6.
        levels: a levels file or table (``recommend.levels``).
        top, family, catalog: ``auto`` only: front options to show, fnmatch pattern(s) on
            the architecture, and an accuracy table of the packaged table's columns.
        training: include the level's training start (domain notes section 5).
        gpu_memory: GPU size(s) in GiB: the largest training batch that fits each (the
            profiles then also count one training step's MACs).
        precision: ``fp32`` or ``amp`` (saved activations in half precision).
        epoch_images: images per epoch for the epoch cost (default: the training start's
            ``data_images``, 3,000).
        timer: ``auto`` only: what gives an option's latency in seconds instead of measuring
            it (``archcalc.latency.model.predicted_timer``: predicted on a target).
        progress: called before each backbone is profiled and each row is timed
            (``archcalc.progress``).
        reparameterize: profile and time the fused deploy form of re-parameterizable
            backbones (timm's ``reparameterize_model``; slower: built on the CPU).

    Returns:
        A ``Suggestion`` (``to_dict()`` is the README's JSON).

    Example:
        >>> suggest("fine-grained", "auto", max_gmacs=5, measure_latency=False).backbone
    """
    level = find_level(task, _level_table(levels))
    gpus = check_gpu_memory(gpu_memory)
    precision = check_precision(precision)
    check_positive("epoch_images", epoch_images, optional=True)
    names, auto = _backbone_names(backbones)
    if timer is not None and not auto:
        raise InvalidArgumentError("a predicted-latency timer (--target) needs --backbone auto")
    limits = {
        "budget_ms": check_limit("budget_ms", budget_ms),
        "max_gmacs": check_limit("max_gmacs", max_gmacs),
        "max_params": check_limit("max_params", max_params),
    }
    if limits["budget_ms"] is not None and not measure_latency:
        raise InvalidArgumentError(
            "budget_ms needs latency measurement: drop --no-latency, or use --max-gmacs"
        )
    check_positive("top", top)
    dev = check_device(device, allow_meta=False)
    checklist = {
        "training": training,
        "gpu_memory": gpus,
        "precision": precision,
        "epoch_images": epoch_images,
    }
    if auto:
        front = search(
            level,
            load_catalog(catalog),
            top=top,
            family=family,
            device=dev,
            measure_latency=measure_latency,
            **({"timer": timer} if timer is not None else {}),
            **limits,
        )
        return recommend(
            level,
            front.options,
            front.backbones,
            device=dev,
            search=front.summary,
            notes=front.notes,
            growth=_growth_laws(front.options),
            **checklist,
            **limits,
        )
    build = {"reparameterize": reparameterize, "train": bool(gpus)}
    options, infos, notes = _profile_named(names, level, progress, build)
    if measure_latency and options:
        order = [b.name for b in infos]
        ranked = rank(options, level, order)
        static = (limits["max_gmacs"], limits["max_params"])
        options = _timed(options, ranked, dev, limits["budget_ms"], static, progress)
    growth = _growth_laws(options)
    return recommend(
        level, options, infos, device=dev, notes=notes, growth=growth, **checklist, **limits
    )


def _growth_laws(options: Sequence[Option]) -> dict[str, GrowthLaw]:
    """Each backbone's MACs ~ a*r^2 + b*r^4, fitted to its square rows at the default stride
    (the candidate sizes it was profiled at anyway; no extra profile)."""
    rows: dict[str, dict[int, int]] = {}
    for o in options:
        p = o.profile
        if p.output_stride is None and p.height == p.width:
            rows.setdefault(o.backbone, {})[p.height] = p.macs
    return {
        name: fit_growth(list(by_side), list(by_side.values()))
        for name, by_side in rows.items()
        if len(by_side) > 1
    }


def _profile_named(
    names: Sequence[str], level: Level, progress: ProgressCallback | None, build: Mapping[str, bool]
) -> tuple[list[Option], list[Backbone], list[str]]:
    """Each named backbone at every candidate size (and remedies), with skipped-size notes."""
    infos: list[Backbone] = []
    options: list[Option] = []
    notes: list[str] = []
    for i, name in enumerate(names):
        report_progress(progress, i, len(names), f"profiling {name}")
        info, found, skipped = _profile_backbone(name, level, build)
        infos.append(info)
        options += found
        notes += skipped
    return options, infos, notes


def _level_table(levels: str | os.PathLike[str] | Sequence[Level] | None) -> tuple[Level, ...]:
    if levels is None:
        return LEVELS
    if isinstance(levels, str | os.PathLike):
        return load_levels(levels)
    if all(isinstance(lv, Level) for lv in levels):
        return tuple(levels)
    raise InvalidArgumentError("levels must be a file path or a sequence of Level")


def _backbone_names(backbones: str | Sequence[str] | None) -> tuple[list[str], bool]:
    """The names to try, in order of preference; ``auto`` (alone) asks for the search."""
    asked = [backbones] if isinstance(backbones, str) else list(backbones or DEFAULT_BACKBONES)
    if not asked or not all(isinstance(b, str) and b.strip() for b in asked):
        raise InvalidArgumentError(f"backbones must be timm model names, got {backbones!r}")
    names = list(dict.fromkeys(b.strip() for b in asked))
    if any(b.lower() == "auto" for b in names):
        if len(names) > 1:
            raise InvalidArgumentError(
                "--backbone auto searches every architecture: give it alone, or name backbones"
            )
        return [], True
    return names, False


def _profile_backbone(
    name: str, level: Level, build: Mapping[str, bool]
) -> tuple[Backbone, list[Option], list[str]]:
    """Every candidate size at the default stride, then the remedies the level's size needs."""
    built = prepare(name, level.resolution, trace=False).built
    sides = {(s, s) for s in CANDIDATE_SIDES} | {level.resolution}
    found: dict[Pair, Option] = {}
    skipped: list[str] = []
    for res in sorted(sides, key=lambda r: (r[0] * r[1], r)):
        try:
            found[res] = profile_at(name, res, None, built, build)
        except ArchcalcError as e:
            skipped.append(f"skipped {built.name} at {size(res)}: {e}")
    options = list(found.values())
    base = found.get(level.resolution)
    note = None
    if base is not None and min(base.profile.final_map) < K_MIN:
        strided, note = stride_remedies(name, level.resolution, build)
        options += strided
        stride = base.profile.global_stride
        options += _extra_sizes(built, name, [(K_MIN * stride[0], K_MIN * stride[1])], found, build)
    elif base is not None and not base.profile.aligned:
        near = [r for r in (base.profile.aligned_below, base.profile.aligned_above) if r]
        options += _extra_sizes(built, name, near, found, build)
    if base is not None and above_window(base.profile):
        options += _extra_sizes(built, name, [k_window_side(base.profile)], found, build)
    return Backbone.from_cfg(built.name, built.pretrained_cfg, note), options, skipped


def _extra_sizes(
    built: Built,
    name: str,
    sizes: Sequence[Pair],
    found: dict[Pair, Option],
    build: Mapping[str, bool],
) -> list[Option]:
    """Profiles at the sizes not profiled yet (ones that fail are left out)."""
    out = []
    for res in sizes:
        if res in found:
            continue
        try:
            out.append(profile_at(name, res, None, built, build))
        except ArchcalcError:
            continue
    return out


def _timed(
    options: Sequence[Option],
    ranked: Sequence[Option],
    device: str,
    budget_ms: float | None,
    static: tuple[float | None, float | None],
    progress: ProgressCallback | None = None,
) -> list[Option]:
    """Measure the rows that decide: each backbone's best row, then (with a latency budget)
    the ranked rows until one fits. A row is skipped when a cheaper row of the same backbone
    and output stride already missed the budget (latency grows with MACs). ``static``:
    (max_gmacs, max_params)."""
    latency: dict[Key, float] = {}

    def timed(o: Option) -> float:
        where = f"timing {o.backbone} at {size(o.profile.resolution)}"
        report_progress(progress, len(latency), None, where)
        return latency_s(o, device)

    firsts = list({o.backbone: o for o in reversed(ranked)}.values())
    wanted = [o for o in firsts if not violations(o, None, *static)]
    for o in wanted:
        latency[o.key] = timed(o)
    if budget_ms is None:
        best = next((o for o in ranked if not violations(o, None, *static)), None)
        if best is not None and best.key not in latency:
            latency[best.key] = timed(best)
    else:
        for o in ranked:
            if violations(o, None, *static) or _pruned(o, options, latency, budget_ms):
                continue
            if o.key not in latency:
                latency[o.key] = timed(o)
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
