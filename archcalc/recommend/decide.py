"""The recommender: a pure decision over profiles and latencies (no torch, no timm).

Given the profiled options (backbone x input size x output stride, with latency where it was
measured), it applies the sizing rules of docs/rules.md: the task level fixes the input size
(§1), the final k x k map should sit in the 3-9 window (§3; above it, the options that keep
k <= 9 are shown or chosen by the level's ``k_max_policy``), budgets are respected, the
input pipeline follows the backbone's own crop fraction and normalisation (§4), and
the training start (§5) comes with the largest training batch per GPU size asked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from archcalc.errors import InvalidArgumentError
from archcalc.formatting import billions, millions, milliseconds, size, stride_text
from archcalc.growth import GrowthLaw
from archcalc.recommend.batch import batch_fits
from archcalc.recommend.data_size import DataSize, data_lines
from archcalc.recommend.kmax import KAlternative, above_window, k_alternatives, k_policy_reason
from archcalc.recommend.levels import LEVELS, Level
from archcalc.recommend.rules import (
    K_MIN,
    Backbone,
    Pipeline,
    field_lines,
    level_verdict,
    pipeline_for,
)
from archcalc.recommend.search_front import SearchSummary, auto_reason, fixres_reason
from archcalc.recommend.suggestion import Option, Suggestion, find_option
from archcalc.results import Pair, Profile

__all__ = [
    "CANDIDATE_SIDES",
    "DEFAULT_BACKBONES",
    "rank",
    "recommend",
    "violations",
]

#: Input sides every suggestion profiles (the alternatives table), besides the level's own.
CANDIDATE_SIDES = (48, 96, 160, 224, 320, 448)
#: The baselines the sizing rules recommend starting from (§2, docs/rules.md).
DEFAULT_BACKBONES = ("resnet18", "mobilenetv3_large_100")


def _distance(resolution: Pair, target: Pair) -> float:
    """How far a size is from the level's, in octaves summed over both axes."""
    return sum(abs(math.log2(r / t)) for r, t in zip(resolution, target, strict=True))


def rank(options: Sequence[Option], level: Level, preference: Sequence[str]) -> list[Option]:
    """Best first: closest to the level's size, then k verdict, backbone preference, MACs.

    With the level's ``k_max_policy`` ``prefer-k9``, maps above 9 x 9 come after all others.
    """
    order = {name: i for i, name in enumerate(preference)}
    prefer_k9 = level.k_max_policy == "prefer-k9"

    def key(o: Option) -> tuple[bool, float, int, int, int, int]:
        distance = round(_distance(o.profile.resolution, level.resolution), 9)
        pref = order.get(o.backbone, len(order))
        late = prefer_k9 and above_window(o.profile)
        return (
            late,
            distance,
            level_verdict(o.profile, level).rank,
            pref,
            o.profile.macs,
            o.profile.output_stride or 0,
        )

    return sorted(options, key=key)


def violations(
    option: Option,
    budget_ms: float | None,
    max_gmacs: float | None,
    max_params: float | None = None,
) -> list[str]:
    """The budgets ``option`` breaks, each with its cost (empty when it fits).

    ``max_gmacs``: MACs / 1e9; ``max_params``: parameters / 1e6; ``budget_ms``: latency."""
    out = []
    if max_gmacs is not None and option.profile.macs > max_gmacs * 1e9:
        out.append(f"max_gmacs={max_gmacs:g} ({billions(option.profile.macs)} GMACs)")
    if max_params is not None and option.profile.params > max_params * 1e6:
        out.append(f"max_params={max_params:g} ({millions(option.profile.params)} M params)")
    if budget_ms is not None:
        if option.latency_s is None:
            out.append(f"budget_ms={budget_ms:g} (latency not measured)")
        elif option.latency_s * 1e3 > budget_ms:
            out.append(f"budget_ms={budget_ms:g} ({milliseconds(option.latency_s)} ms)")
    return out


def _overshoot(
    option: Option, budget_ms: float | None, max_gmacs: float | None, max_params: float | None
) -> float:
    """The worst cost / limit ratio over the budgets (inf when latency is needed but missing)."""
    ratios = [0.0]
    if max_gmacs is not None:
        ratios.append(option.profile.macs / (max_gmacs * 1e9))
    if max_params is not None:
        ratios.append(option.profile.params / (max_params * 1e6))
    if budget_ms is not None:
        lat = option.latency_s
        ratios.append(math.inf if lat is None else lat * 1e3 / budget_ms)
    return max(ratios)


def _choose(
    ranked: Sequence[Option],
    budget_ms: float | None,
    max_gmacs: float | None,
    max_params: float | None,
) -> tuple[Option, list[str]]:
    """The best-ranked option within budgets, with a warning naming what binds if it is not
    the ideal one; when nothing fits, the option closest to fitting."""
    ideal = ranked[0]
    limits = (budget_ms, max_gmacs, max_params)
    fitting = [o for o in ranked if not violations(o, *limits)]
    if fitting and fitting[0] is ideal:
        return ideal, []
    binding = "; ".join(violations(ideal, *limits))
    where = f"{ideal.backbone} at {size(ideal.profile.resolution)}"
    if fitting:
        return fitting[0], [f"budget binds: {binding} excludes {where}, the ideal option"]
    closest = min(ranked, key=lambda o: _overshoot(o, *limits))
    cost = "; ".join(violations(closest, *limits))
    return closest, [
        f"nothing fits the budget: {binding} excludes {where}, the ideal option; the closest "
        f"is {closest.backbone} at {size(closest.profile.resolution)}: {cost}"
    ]


def _stride_remedy(chosen: Option, options: Sequence[Option]) -> Option | None:
    """The cheapest output_stride option at the same size that reaches k >= 3."""
    fixes = [
        o
        for o in options
        if o.backbone == chosen.backbone
        and o.profile.resolution == chosen.profile.resolution
        and o.profile.output_stride is not None
        and min(o.profile.final_map) >= K_MIN
    ]
    return min(fixes, key=lambda o: o.profile.macs, default=None)


def _area_macs(o: Option) -> tuple[int, int]:
    return (o.profile.height * o.profile.width, o.profile.macs)


def _input_remedy(chosen: Option, options: Sequence[Option]) -> Option | None:
    """The smallest aligned larger input, at the default stride, that reaches k >= 3."""
    res = chosen.profile.resolution
    fixes = [
        o
        for o in options
        if o.backbone == chosen.backbone
        and o.profile.output_stride is None
        and o.profile.aligned
        and min(o.profile.final_map) >= K_MIN
        and o.profile.resolution != res
        and all(a >= b for a, b in zip(o.profile.resolution, res, strict=True))
    ]
    return min(fixes, key=_area_macs, default=None)


def _describe(o: Option) -> str:
    """``96x96 -> 3x3, 0.334 GMACs`` (with the output stride when it was changed)."""
    p = o.profile
    os = "" if p.output_stride is None else f" with output_stride={p.output_stride}"
    return f"{size(p.resolution)}{os} -> {size(p.final_map)}, {billions(p.macs)} GMACs"


def _k_formula(p: Profile) -> str:
    """``k = ceil(448 / 32) = 14`` (per axis when they differ) where the map follows that rule."""
    sides = list(zip(p.resolution, p.global_stride, p.final_map, strict=True))
    if not all(-(-side // stride) == k for side, stride, k in sides):
        return ""
    axes = sides[:1] if p.height == p.width and len(set(p.global_stride)) == 1 else sides
    terms = " x ".join(f"ceil({side} / {stride})" for side, stride, _ in axes)
    return f" (k = {terms} = {size(p.final_map) if len(axes) == 2 else p.final_map[0]})"


def _k_lines(
    chosen: Option, options: Sequence[Option], level: Level, info: Backbone
) -> tuple[list[str], list[str]]:
    """Warnings and reasons from the k rule, with the remedies' numbers when k is too small."""
    p = chosen.profile
    where = f"{chosen.backbone} at {size(p.resolution)}"
    verdict = level_verdict(p, level)
    reason = (
        f"final map: {chosen.backbone}'s global stride is {stride_text(p.global_stride)}, so "
        f"{size(p.resolution)} ends at {size(p.final_map)}{_k_formula(p)}; {verdict.note}"
    )
    warnings: list[str] = []
    bigger = _input_remedy(chosen, options)
    larger = f"a larger input: {_describe(bigger)}" if bigger else None
    base = find_option(options, chosen.backbone, p.resolution, None)
    if (
        p.output_stride is not None
        and base is not None
        and level_verdict(base.profile, level).rank == 2
    ):
        warnings.append(
            f"{where} ends at {size(base.profile.final_map)} with its default global stride "
            f"{stride_text(base.profile.global_stride)}: too small (k < {K_MIN}); adopted "
            f"output_stride={p.output_stride} (timm dilates the last stages instead of "
            f"striding): {size(p.final_map)} for {billions(p.macs)} GMACs instead of "
            f"{billions(base.profile.macs)}"
        )
        bigger = _input_remedy(base, options)
        if bigger:
            reason += f"; the other remedy is a larger input: {_describe(bigger)}"
    elif verdict.status == "too-small":
        fix = _stride_remedy(chosen, options)
        stride = f"output_stride: {_describe(fix)}" if fix else None
        remedies = " or ".join(r for r in (stride, larger) if r) or "a larger input"
        why = f" ({info.output_stride_note})" if info.output_stride_note and not fix else ""
        warnings.append(
            f"{where} ends at {size(p.final_map)}: too small (k < {K_MIN}); use {remedies}{why}"
        )
    elif verdict.status == "large":
        warnings.append(f"{where}: {verdict.note}")
    return warnings, [reason]


def _alignment(chosen: Option, options: Sequence[Option]) -> list[str]:
    """A warning with the nearest aligned sizes when the input is not a multiple of the stride."""
    p = chosen.profile
    if p.aligned or min(p.final_map) < K_MIN:
        return []
    near = []
    for res in (p.aligned_below, p.aligned_above):
        if res is None:
            continue
        o = find_option(options, chosen.backbone, res, p.output_stride)
        near.append(_describe(o) if o else size(res))
    return [
        f"{size(p.resolution)} is not a multiple of {chosen.backbone}'s global stride "
        f"{stride_text(p.global_stride)}; nearest aligned: " + " and ".join(near)
    ]


def _level_reason(level: Level, chosen: Option, data: DataSize | None = None) -> str:
    """Why this input size: the level's rule (or the data set's, rules §6), and the fallback
    when a budget moved it."""
    example = f" ({level.example})" if level.example else ""
    signal = f"the signal lives in {level.signal}, so " if level.signal else ""
    source = (
        "rules §1: coarse 224, fine-grained 448, region 48"
        if (level.name, level.resolution) in {(lv.name, lv.resolution) for lv in LEVELS}
        else "from your levels table"
    )
    text = f"task level {level.name}{example}: {signal}{size(level.resolution)} suits it ({source})"
    if data is not None:
        text = (
            f"task level {level.name}{example}: {size(level.resolution)}"
            f"{' tiles' if data.tiles else ''}, sized from your data "
            f"set {data.path} (rules §6) instead of the level's fixed {size(data.level_resolution)}"
        )
    if chosen.profile.resolution != level.resolution:
        text += f"; {size(chosen.profile.resolution)} is the closest size that fits the budget"
    return text


def _backbone_reason(
    chosen: Option, preference: Sequence[str], search: SearchSummary | None
) -> str:
    """Why this backbone: the accuracy search's pick, asked for, or first in the order given."""
    if search is not None and chosen.accuracy is not None:
        return auto_reason(chosen.backbone, chosen.accuracy, search)
    if len(preference) > 1:
        return (
            f"backbone: {chosen.backbone}, the first in the order {', '.join(preference)} "
            "among the options closest to the level's size with k in the window (rules §2: "
            "start from a proven baseline; its result is the one to beat)"
        )
    return (
        f"backbone: {chosen.backbone}, as asked (rules §2: a proven baseline is the result to beat)"
    )


def _cost_reason(
    chosen: Option,
    basis: str,
    budget_ms: float | None,
    max_gmacs: float | None,
    max_params: float | None,
) -> str:
    """The chosen option's cost, and the budgets it meets."""
    p = chosen.profile
    latency = (
        "latency not measured"
        if chosen.latency_s is None
        else f"{milliseconds(chosen.latency_s)} ms {basis}"
    )
    text = (
        f"cost: {billions(p.macs)} GMACs ({billions(p.flops)} GFLOPs) at batch 1, "
        f"{millions(p.params)} M params, {latency}"
    )
    limits = [
        f"{name}={value:g}"
        for name, value in (
            ("max_gmacs", max_gmacs),
            ("max_params", max_params),
            ("budget_ms", budget_ms),
        )
        if value is not None
    ]
    if limits and not violations(chosen, budget_ms, max_gmacs, max_params):
        text += f"; within {' and '.join(limits)}"
    return text


def _growth_reason(chosen: Option, law: GrowthLaw) -> str:
    """How the chosen backbone's MACs grow with the side (the law fitted to its rows), and
    what global attention weighs at this size."""
    side = chosen.profile.height
    fit = (
        f"growth: {chosen.backbone}'s MACs fit {law.quadratic:.3g} r^2 + {law.quartic:.3g} r^4 "
        f"over {law.low}..{law.high} px"
    )
    doubling = law.macs(2 * side) / law.macs(side) if law.macs(side) > 0 else 0.0
    if law.quadratic_only:
        return f"{fit}: quadratic, no global attention; doubling the side costs {doubling:.1f}x"
    return (
        f"{fit}: global attention (the r^4 part) is {100 * law.quartic_share(side):.1f}% of the "
        f"cost at {side} and {100 * law.quartic_share(2 * side):.1f}% at {2 * side}; doubling "
        f"the side costs {doubling:.1f}x, more than the 4x of a CNN"
    )


def _pipeline_reason(pipe: Pipeline, info: Backbone) -> str:
    return (
        f"input pipeline: train: resize to {size(pipe.train_resize)}, random crop "
        f"{size(pipe.train_crop)}; eval: resize to {size(pipe.eval_resize)}, centre crop "
        f"{size(pipe.eval_crop)} (resize = floor(crop / crop_pct), crop_pct {pipe.crop_pct:g} "
        f"from {info.name}'s pretrained_cfg); horizontal flips: {pipe.flip}; normalise with "
        "the backbone's mean/std (rules §4)"
    )


def _k_window(
    level: Level, chosen: Option, options: Sequence[Option]
) -> tuple[tuple[KAlternative, ...], list[str]]:
    """The k <= 9 options and the reason for the policy applied, where the map is above 9.

    The reference is the chosen option, or, when ``prefer-k9`` moved the choice, the
    chosen backbone's option at the level's size.
    """
    reference = chosen
    if not above_window(chosen.profile) and level.k_max_policy == "prefer-k9":
        at_level = find_option(
            options, chosen.backbone, level.resolution, chosen.profile.output_stride
        )
        reference = at_level if at_level and above_window(at_level.profile) else chosen
    alternatives = k_alternatives(reference.profile, [o.profile for o in options])
    reason = k_policy_reason(level, chosen.profile, reference.profile, alternatives)
    return alternatives, [reason] if reason else []


def _table(options: Sequence[Option], preference: Sequence[str]) -> tuple[Option, ...]:
    """The alternatives table's order: backbone preference, then area, size, output stride."""
    order = {name: i for i, name in enumerate(preference)}
    return tuple(
        sorted(
            options,
            key=lambda o: (
                order.get(o.backbone, len(order)),
                o.profile.height * o.profile.width,
                o.profile.resolution,
                o.profile.output_stride or 0,
            ),
        )
    )


def recommend(
    level: Level,
    options: Sequence[Option],
    backbones: Sequence[Backbone],
    *,
    budget_ms: float | None = None,
    max_gmacs: float | None = None,
    max_params: float | None = None,
    device: str = "cpu",
    search: SearchSummary | None = None,
    notes: Sequence[str] = (),
    growth: Mapping[str, GrowthLaw] | None = None,
    training: bool = True,
    gpu_memory: Sequence[float] = (),
    dtype: str = "float32",
    epoch_images: int | None = None,
    latency_basis: str | None = None,
    data: DataSize | None = None,
) -> Suggestion:
    """Choose among ``options`` for ``level`` (backbones in order of preference) and explain.

    ``search``: how ``--backbone auto`` found the options (they then carry their accuracy,
    most accurate first); ``notes`` are extra warnings from the caller (e.g. sizes a backbone
    could not be built at); with no option at all they are the reasons, so the refusal carries
    them; ``growth`` the law each backbone's MACs follow (``archcalc.growth.fit_growth``).
    ``training``: include the level's training start; ``gpu_memory`` (GiB), ``dtype``
    and ``epoch_images`` (default: the training start's ``data_images``): the largest
    training batch of the chosen option per GPU size and the cost of one epoch.
    ``latency_basis``: what the options' latencies are when they were not measured on
    ``device`` (a prediction says so, with its target and batch). ``data``: how the data set
    sized the level (rules §6; ``level`` is already at that size): its reasons and warnings.
    """
    if not options:
        why = f": {'; '.join(notes)}" if notes else ""
        raise InvalidArgumentError(f"no backbone could be profiled at any candidate size{why}")
    preference = [b.name for b in backbones]
    ranked = rank(options, level, preference)
    chosen, warnings = _choose(ranked, budget_ms, max_gmacs, max_params)
    info = {b.name: b for b in backbones}.get(chosen.backbone, Backbone(chosen.backbone))
    k_warnings, k_reasons = _k_lines(chosen, options, level, info)
    where = f"{chosen.backbone} at {size(chosen.profile.resolution)}"
    rf_warnings, rf_reasons = field_lines(chosen.profile, where)
    k_options, policy = _k_window(level, chosen, options)
    pipe = pipeline_for(chosen.profile.resolution, info, level)
    law = (growth or {}).get(chosen.backbone)
    data_warnings: list[str] = []
    data_reasons: list[str] = []
    if data is not None:
        upsampled = find_option(options, chosen.backbone, data.wanted, None)
        data_warnings, data_reasons = data_lines(data, chosen, upsampled, law)
    reasons = [
        _level_reason(level, chosen, data),
        *data_reasons,
        *k_reasons,
        *rf_reasons,
        *policy,
        _backbone_reason(chosen, preference, search),
        _cost_reason(
            chosen,
            latency_basis or f"median latency at batch 1 on {device}",
            budget_ms,
            max_gmacs,
            max_params,
        ),
        *([_growth_reason(chosen, law)] if law is not None else []),
        _pipeline_reason(pipe, info),
    ]
    if chosen.accuracy is not None:
        reasons += fixres_reason(chosen.backbone, chosen.accuracy, chosen.profile.resolution)
    images = level.training.data_images if epoch_images is None else epoch_images
    fits = batch_fits(
        chosen.profile, gpu_memory, dtype, epoch_images=images, train_macs=chosen.train_macs
    )
    return Suggestion(
        level=level,
        chosen=chosen,
        warnings=tuple(
            [
                *warnings,
                *data_warnings,
                *k_warnings,
                *rf_warnings,
                *_alignment(chosen, options),
                *notes,
            ]
        ),
        reasons=tuple(reasons),
        pipeline=pipe,
        alternatives=_table(options, preference),
        device=device,
        latency_basis=latency_basis,
        growth=law,
        search=search,
        training=level.training if training else None,
        train_batches=fits,
        k_alternatives=k_options,
        data=data,
    )
