"""``archcalc.suggest``: the input size for a task on named backbones.

Steps: check the request (``recommend.request``); profile each backbone (built once on the
meta device) at the candidate sizes, plus the remedies the k rule asks for at the level's size
(an output stride the backbone accepts, the smallest aligned larger input, the nearest aligned
sizes, and the largest input keeping k <= 9 where the level's size gives a larger map); measure
the latency of the few rows the decision depends on; hand everything to the pure recommender,
with the GPU sizes for the largest training batch. The zoo search is ``search_backbones``
(``recommend.search``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from archcalc.core.build import Built
from archcalc.datasets.stats import DatasetStats
from archcalc.errors import ArchcalcError, InvalidArgumentError
from archcalc.formatting import size
from archcalc.profiling.prepare import build_model
from archcalc.progress import ProgressCallback, report_progress
from archcalc.recommend.decide import CANDIDATE_SIDES, rank, recommend, violations
from archcalc.recommend.evaluate import latency_s, profile_at, stride_remedies
from archcalc.recommend.kmax import above_window, k_window_side
from archcalc.recommend.levels import Level
from archcalc.recommend.request import (
    Budgets,
    Levels,
    TrainBatch,
    backbone_names,
    check_request,
    growth_laws,
)
from archcalc.recommend.rules import K_MIN, Backbone
from archcalc.recommend.suggestion import Option, Suggestion
from archcalc.results import Pair

__all__ = ["suggest"]

Key = tuple[str, Pair, int | None]


def suggest(
    task: str,
    backbones: str | Sequence[str] | None = None,
    *,
    device: str = "cpu",
    budgets: Budgets | None = None,
    latency: bool = True,
    levels: Levels = None,
    progress: ProgressCallback | None = None,
    reparameterize: bool = False,
    training: bool = True,
    train_batch: TrainBatch | None = None,
    data: str | os.PathLike[str] | DatasetStats | None = None,
) -> Suggestion:
    """Recommend an input size (and output stride) for ``task`` on the named ``backbones``.

    Each backbone is profiled (meta device) at the candidate sizes and the remedies the k rule
    asks for; the rows that decide are timed; the pure recommender chooses. To search every
    architecture of timm's accuracy table instead, call ``search_backbones``.

    Args:
        task: a level name or alias (coarse, fine-grained, region, ...).
        backbones: timm names in order of preference (default resnet18 and
            mobilenetv3_large_100, the proven baselines).
        device: where latency is measured.
        budgets: what the choice may cost (``Budgets``: latency, MACs, parameters).
        latency: measure the latency of the rows that decide (False: static numbers only).
        levels: a levels file or a table of ``Level`` (``recommend.levels``).
        progress: ``progress(done, total, what)`` before each backbone is profiled and each
            row is timed (``archcalc.progress``).
        reparameterize: profile and time the fused deploy form of re-parameterizable
            backbones (timm's ``reparameterize_model``; slower: built on the CPU).
        training: include the level's training start (rules §5).
        train_batch: the largest training batch per GPU size and the epoch cost
            (``TrainBatch``; the profiles then also count one training step's MACs).
        data: a data set (a path ``archcalc.describe_data`` reads, or its ``DatasetStats``):
            the level's size is measured from the pixels its objects get (rules §6,
            ``Suggestion.data``); without it the level's own size applies.

    Returns:
        A ``Suggestion`` (``to_dict()``: the JSON of docs/schemas.md).

    Raises:
        InvalidArgumentError: a bad argument, or ``"auto"`` (the search is
            ``search_backbones``).
        UnknownModelError: a name timm does not list.

    Example:
        >>> archcalc.suggest("region", ["resnet18"], latency=False).resolution
        (48, 48)
    """
    names, search = backbone_names(backbones)
    if search:
        raise InvalidArgumentError(
            'backbone "auto" is the zoo search: call search_backbones(task), or name backbones'
        )
    request = check_request(
        task,
        levels=levels,
        device=device,
        latency=latency,
        budgets=budgets,
        training=training,
        train_batch=train_batch,
        reparameterize=reparameterize,
        data=data,
    )
    level, limits = request.level, request.limits
    options, infos, notes = _profile_named(names, level, progress, request.build)
    if request.latency and options:
        ranked = rank(options, level, [b.name for b in infos])
        static = (limits["max_gmacs"], limits["max_params"])
        options = _timed(options, ranked, request.device, limits["budget_ms"], static, progress)
    return recommend(
        level,
        options,
        infos,
        device=request.device,
        notes=notes,
        growth=growth_laws(options),
        data=request.data,
        **request.checklist,
        **limits,
    )


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


def _profile_backbone(
    name: str, level: Level, build: Mapping[str, bool]
) -> tuple[Backbone, list[Option], list[str]]:
    """Every candidate size at the default stride, then the remedies the level's size needs."""
    built = build_model(name, level.resolution)
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
