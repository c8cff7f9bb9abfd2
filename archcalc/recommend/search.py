"""``search_backbones`` (``suggest --backbone auto``): the most accurate backbone that fits, found
with few profiles.

Every architecture in the accuracy table (``catalog``) is a candidate, with its most accurate
weight. Candidates are walked most accurate first. One is excluded without a profile when a
lower bound on its cost (``search_front.param_bound``, ``search_front.mac_bound``) already
breaks a budget, or already costs as much as a more accurate option found before it: it cannot
be on the accuracy-cost front. The rest are profiled on the meta device at the level's size
(with the output-stride remedies when k < 3); an option that keeps k in the window and fits
the budgets joins the front. The first one is the choice; the walk stops after ``top`` front
options.

Latency (``budget_ms``) decides the choice only: options that pass every static check are
timed, most accurate first, until one meets the budget; the rest of the front is found by the
static checks and not timed (a note says so). A timing is skipped where even a machine-wide
best MAC rate (measured on resnet18 at the level's size, then on every row timed) with
``RATE_SLACK`` headroom could not meet the budget: a heuristic bound, stated as such; and it
stops as soon as its median is sure to exceed the budget (``evaluate.latency_s``). The choice's
latency is always measured.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

from archcalc.checks import check_positive
from archcalc.errors import ArchcalcError, NothingFitsError, UnknownModelError
from archcalc.formatting import size
from archcalc.profiling.prepare import prepare
from archcalc.progress import ProgressCallback, report_progress
from archcalc.recommend.catalog import Entry, best_per_arch, load_catalog
from archcalc.recommend.decide import recommend, violations
from archcalc.recommend.evaluate import latency_s, option_of, stride_remedies
from archcalc.recommend.levels import Level
from archcalc.recommend.request import Levels, check_request, growth_laws
from archcalc.recommend.rules import K_MIN, Backbone
from archcalc.recommend.search_front import Front, SearchSummary, mac_bound, param_bound
from archcalc.recommend.suggestion import Option, Suggestion
from archcalc.results import Pair

__all__ = [
    "CALIBRATION_MODEL",
    "RATE_SLACK",
    "level_options",
    "resizes_input",
    "search",
    "search_backbones",
]

#: Reference network timed first under a latency budget: its MAC rate calibrates the skip test.
CALIBRATION_MODEL = "resnet18"
#: An option is timed unless MACs / (RATE_SLACK x best MAC rate seen) exceeds the budget.
RATE_SLACK = 1.5

Profiler = Callable[[str, Pair], tuple[list[Option], Backbone]]
Timer = Callable[[Option, str, float | None], float]  # (option, device, budget_s) -> seconds


def level_options(
    name: str, res: Pair, build: Mapping[str, bool] | None = None
) -> tuple[list[Option], Backbone]:
    """``name`` profiled at ``res``; when k < 3, the output-stride remedies follow it.
    ``build``: ``reparameterize`` (the fused deploy form) and ``train`` (training-step MACs)."""
    ready = prepare(name, res, **(build or {}))
    options = [option_of(ready)]
    note = None
    if min(ready.profile.final_map) < K_MIN:
        strided, note = stride_remedies(name, res, build)
        options += strided
    return options, Backbone.from_cfg(ready.built.name, ready.built.pretrained_cfg, note)


def search_backbones(
    task: str,
    *,
    device: str = "cpu",
    budget_ms: float | None = None,
    max_gmacs: float | None = None,
    max_params: float | None = None,
    latency: bool = True,
    levels: Levels = None,
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
    latency_basis: str | None = None,
) -> Suggestion:
    """The most accurate backbone of timm's accuracy table that fits, with its input size.

    The CLI's ``suggest --backbone auto``: candidates walked most accurate first, pruned by
    published bounds, profiled at the level's size (see the module docstring); the front's
    first option is the choice, the rest are its alternatives.

    Args:
        task: a level name or alias (coarse, fine-grained, region, ...).
        device, latency: where and whether latency is measured (a ``budget_ms`` needs it).
        budget_ms, max_gmacs, max_params: median latency at batch 1 (ms), MACs / 1e9,
            parameters / 1e6.
        levels: a levels file or a table of ``Level``.
        top: how many options of the accuracy-cost front to find (the first is the choice).
        family: fnmatch pattern(s) on the architecture, comma-separated (``convnext*``).
        catalog: an accuracy table with the packaged table's columns (default: timm's).
        progress: ``progress(done, total, what)`` before each candidate is profiled.
        reparameterize: profile and time the fused deploy form of re-parameterizable nets.
        training, gpu_memory, precision, epoch_images: as for ``suggest`` (GPU sizes also
            count each candidate's training-step MACs).
        timer: what gives an option's latency in seconds instead of measuring it (for
            example ``archcalc.timing.predict.api.predicted_timer``: predicted on a target).
        latency_basis: what ``timer``'s latencies are, as the reasons and the table say it
            (for example ``PREDICTED, not measured: rtx4090 (amp), batch 64, error ...``).

    Returns:
        A ``Suggestion`` whose ``search`` summary says how many candidates were pruned,
            profiled and measured.

    Raises:
        InvalidArgumentError: a bad argument.
        NothingFitsError: no backbone fits the budgets (one line, with the counts).

    Example:
        >>> archcalc.search_backbones("fine-grained", max_gmacs=5, latency=False).backbone
        ... # doctest: +SKIP
    """
    request = check_request(
        task,
        levels=levels,
        device=device,
        latency=latency,
        budgets=(budget_ms, max_gmacs, max_params),
        training=training,
        gpu_memory=gpu_memory,
        precision=precision,
        epoch_images=epoch_images,
        reparameterize=reparameterize,
    )
    check_positive("top", top)
    level, limits = request.level, request.limits
    front = search(
        level,
        load_catalog(catalog),
        top=top,
        family=family,
        device=request.device,
        latency=request.latency,
        build=request.build,
        progress=progress,
        **({"timer": timer} if timer is not None else {}),
        **limits,
    )
    return recommend(
        level,
        front.options,
        front.backbones,
        device=request.device,
        search=front.summary,
        notes=front.notes,
        growth=growth_laws(front.options),
        latency_basis=latency_basis,
        **request.checklist,
        **limits,
    )


@dataclass
class _Walk:
    """The mutable state of one walk (local to ``search``)."""

    level: Level
    limits: tuple[float | None, float | None, float | None]  # budget_ms, max_gmacs, max_params
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    front: list[Option] = field(default_factory=list)
    backbones: list[Backbone] = field(default_factory=list)
    rate: float = 0.0  # best MACs per second measured so far

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    @property
    def best_cost(self) -> float:
        return self.front[-1].profile.macs if self.front else math.inf


def search(
    level: Level,
    entries: Sequence[Entry],
    *,
    budget_ms: float | None = None,
    max_gmacs: float | None = None,
    max_params: float | None = None,
    top: int = 5,
    family: str | None = None,
    device: str = "cpu",
    latency: bool = True,
    build: Mapping[str, bool] | None = None,
    progress: ProgressCallback | None = None,
    profiler: Profiler | None = None,
    timer: Timer = latency_s,
) -> Front:
    """Walk ``entries`` most accurate first and return the accuracy-cost front at the level.

    Args:
        level: the task level (its resolution is where every option is profiled).
        entries: the accuracy table (``catalog.load_catalog()``).
        budget_ms, max_gmacs, max_params: budgets (ms at batch 1, MACs / 1e9, params / 1e6).
        top: how many front options to find (the first is the choice).
        family: fnmatch pattern(s) on the architecture name (``convnext*``).
        device, latency: where the chosen option (and budget checks) are timed; whether it is.
        build: how each candidate is built: ``reparameterize``, ``train`` (``level_options``).
        progress: ``progress(done, total, what)`` before each candidate (``total``: the
            candidates; the walk usually stops long before).
        profiler, timer: how options are profiled and timed (tests pass fakes; default
            ``level_options`` with ``build``, ``latency_s``).

    Returns:
        A ``Front``.

    Raises:
        NothingFitsError: no option fits the budgets (one line, with the counts).

    Example:
        >>> search(LEVELS[0], load_catalog(), max_gmacs=1, latency=False).options[0]
    """
    profiler = profiler or partial(level_options, build=build)
    walk = _Walk(level, (budget_ms, max_gmacs, max_params))
    candidates = best_per_arch(entries, family)
    reached = 0
    for entry in candidates:
        if len(walk.front) >= top and not _ties_last(walk, entry.accuracy.top1):
            break
        reached += 1
        if not _excluded(walk, entry):
            report_progress(progress, reached - 1, len(candidates), f"profiling {entry.name}")
            _consider(walk, entry, profiler, timer, device)
    summary = _summary(walk, len(candidates), family, len(candidates) - reached)
    if not walk.front:
        raise NothingFitsError(
            f"no backbone fits at {size(level.resolution)} with "
            f"{_limits_text(walk.limits)}: {summary.text()}; relax a budget or widen --family"
        )
    if latency and walk.front[0].latency_s is None:
        chosen = walk.front[0]
        report_progress(progress, reached, len(candidates), f"timing {chosen.profile.model}")
        walk.front[0] = replace(chosen, latency_s=timer(chosen, device, None))
    notes = _notes(walk)
    return Front(tuple(walk.front), tuple(walk.backbones), summary, notes)


def _ties_last(walk: _Walk, top1: float) -> bool:
    """True when ``top1`` is the last front option's (a cheaper option would replace it)."""
    last = walk.front[-1].accuracy if walk.front else None
    return last is not None and last.top1 == top1


def _excluded(walk: _Walk, entry: Entry) -> bool:
    """True (and counted) when a published lower bound rules ``entry`` out unprofiled."""
    _, max_gmacs, max_params = walk.limits
    if max_params is not None and param_bound(entry) > max_params * 1e6:
        walk.count("pruned_params")
        return True
    bound = mac_bound(entry, walk.level.resolution)
    if max_gmacs is not None and bound > max_gmacs * 1e9:
        walk.count("pruned_macs")
        return True
    if bound >= walk.best_cost:
        walk.count("pruned_front")
        return True
    return False


def _consider(walk: _Walk, entry: Entry, profiler: Profiler, timer: Timer, device: str) -> None:
    """Profile ``entry``; add its option to the front when k and every budget allow."""
    try:
        options, backbone = profiler(entry.name, walk.level.resolution)
    except UnknownModelError:
        walk.missing.append(entry.name)
        return
    except ArchcalcError:
        walk.failed.append(entry.name)
        return
    walk.count("profiled")
    if resizes_input(options[0], walk.level.resolution):
        walk.count("resized")
        return
    fit = next((o for o in options if o.verdict(walk.level).rank == 0), None)
    if fit is None:
        walk.count("rejected_k")
        return
    option = replace(fit, accuracy=entry.accuracy)
    budget_ms, max_gmacs, max_params = walk.limits
    if violations(option, None, max_gmacs, max_params):
        walk.count("over_budget")
        return
    if option.profile.macs >= walk.best_cost:
        walk.count("pruned_front")
        return
    if budget_ms is not None and not walk.front:  # latency decides the choice only
        option = _timed(walk, option, budget_ms, profiler, timer, device)
        if option is None:
            return
    _join(walk, option, backbone)


def resizes_input(option: Option, res: Pair) -> bool:
    """Whether the network was built for another input size it resizes to itself (CrossViT's
    lifted ``img_size``): the level's size never reaches its layers."""
    img_size = dict(option.build_kwargs).get("img_size")
    if img_size is None:
        return False
    built_for = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return built_for != tuple(res)


def _join(walk: _Walk, option: Option, backbone: Backbone) -> None:
    """Append to the front; a tie in top-1 with the last member replaces it (it costs less)."""
    if option.accuracy is not None and _ties_last(walk, option.accuracy.top1):
        walk.front.pop()
        walk.backbones.pop()
    walk.front.append(option)
    walk.backbones.append(backbone)


def _timed(
    walk: _Walk, option: Option, budget_ms: float, profiler: Profiler, timer: Timer, device: str
) -> Option | None:
    """``option`` with its latency when it meets ``budget_ms``; None (counted) otherwise."""
    if walk.rate == 0.0:
        _calibrate(walk, profiler, timer, device)
    if walk.rate and option.profile.macs / (RATE_SLACK * walk.rate) * 1e3 > budget_ms:
        walk.count("over_budget")
        return None
    seconds = timer(option, device, budget_ms / 1e3)  # stops early once surely over budget
    walk.count("measured")
    walk.rate = max(walk.rate, option.profile.macs / seconds)
    if seconds * 1e3 > budget_ms:
        walk.count("over_budget")
        return None
    return replace(option, latency_s=seconds)


def _calibrate(walk: _Walk, profiler: Profiler, timer: Timer, device: str) -> None:
    """Time the reference network at the level's size to learn the machine's MAC rate."""
    reference = profiler(CALIBRATION_MODEL, walk.level.resolution)[0][0]
    seconds = timer(reference, device, None)
    walk.count("measured")
    walk.rate = reference.profile.macs / seconds


def _notes(walk: _Walk) -> tuple[str, ...]:
    """Warnings for the names timm does not list and the ones that could not be profiled; with
    a latency budget, that the front options after the choice were not timed."""
    notes = []
    untimed = [o.profile.model for o in walk.front[1:] if o.latency_s is None]
    if walk.limits[0] is not None and untimed:
        notes.append(
            f"latency decides the choice only: the other {len(untimed)} front option(s) were "
            f"checked against the static budgets, not timed ('archcalc bench {untimed[0]} "
            f"--res {size(walk.level.resolution)}' times one)"
        )
    if walk.missing:
        notes.append(
            f"skipped {len(walk.missing)} name(s) in the accuracy table that timm does not "
            f"list: {', '.join(walk.missing)}"
        )
    if walk.failed:
        notes.append(
            f"skipped {len(walk.failed)} name(s) that could not be profiled at "
            f"{size(walk.level.resolution)}: {', '.join(walk.failed)}"
        )
    return tuple(notes)


def _summary(walk: _Walk, candidates: int, family: str | None, not_reached: int) -> SearchSummary:
    c = walk.counts
    return SearchSummary(
        candidates=candidates,
        pruned_params=c.get("pruned_params", 0),
        pruned_macs=c.get("pruned_macs", 0),
        pruned_front=c.get("pruned_front", 0),
        profiled=c.get("profiled", 0),
        rejected_k=c.get("rejected_k", 0),
        resized=c.get("resized", 0),
        over_budget=c.get("over_budget", 0),
        measured=c.get("measured", 0),
        missing=tuple(walk.missing),
        failed=tuple(walk.failed),
        family=family,
        not_reached=not_reached,
    )


def _limits_text(limits: tuple[float | None, float | None, float | None]) -> str:
    names = ("budget_ms", "max_gmacs", "max_params")
    given = [f"{n}={v:g}" for n, v in zip(names, limits, strict=True) if v is not None]
    return " and ".join(given) or "no budget"
