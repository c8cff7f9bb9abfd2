"""A suggestion request checked once, for both entry points (no torch).

``suggest`` (named backbones) and ``search_backbones`` (the zoo search) take the same task,
``Budgets``, ``TrainBatch``, training and build arguments; ``check_request`` validates them
before anything is built, so every argument either applies or raises at once. The search's
own arguments are a ``SearchScope``; ``check_search_only`` refuses them where no search runs
(the CLI's ``--top``/``--family`` with named backbones), before torch loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from archcalc.checks import check_dtype, check_limit, check_positive
from archcalc.core.devices import check_device
from archcalc.errors import InvalidArgumentError
from archcalc.growth import GrowthLaw, fit_growth
from archcalc.recommend.batch import check_gpu_memory
from archcalc.recommend.data_size import DataSize, size_from_data, sized_level
from archcalc.recommend.decide import DEFAULT_BACKBONES
from archcalc.recommend.levels import LEVELS, Level, find_level, load_levels
from archcalc.recommend.suggestion import Option

if TYPE_CHECKING:
    from archcalc.datasets.stats import DatasetStats

__all__ = [
    "Budgets",
    "Levels",
    "PredictedLatency",
    "Request",
    "SearchScope",
    "TrainBatch",
    "backbone_names",
    "check_request",
    "check_search_only",
    "growth_laws",
    "level_table",
    "with_percentile",
]

#: What ``levels=`` takes: a levels file, or a table of ``Level``.
Levels = str | os.PathLike[str] | Sequence[Level] | None


@dataclass(frozen=True)
class Budgets:
    """What the chosen option may cost (None: no limit), for ``suggest`` and
    ``search_backbones`` alike: ``budget_ms`` the median latency at batch 1 (ms; it needs
    latency measured), ``max_gmacs`` MACs / 1e9, ``max_params`` parameters / 1e6.

    Example:
        >>> archcalc.Budgets(budget_ms=20, max_gmacs=5)
        Budgets(budget_ms=20, max_gmacs=5, max_params=None)
    """

    budget_ms: float | None = None
    max_gmacs: float | None = None
    max_params: float | None = None


@dataclass(frozen=True)
class TrainBatch:
    """The training batch to size: the largest that fits each GPU of ``gpu_memory`` (GiB, one
    size or several; Adam, from the static estimate) at ``dtype`` (``float32``, or mixed
    precision: ``float16``/``bfloat16`` autocast over float32 weights, the same bytes), and
    the steps and MACs of an epoch of ``epoch_images`` (default: the training start's
    ``data_images``, 3,000). The profiles then also count one training step's MACs."""

    gpu_memory: float | Sequence[float]
    dtype: str = "float32"
    epoch_images: int | None = None


@dataclass(frozen=True)
class SearchScope:
    """Where ``search_backbones`` looks: the architectures of ``catalog`` (an accuracy table
    with the packaged table's columns; default timm's) matching ``family`` (fnmatch patterns,
    comma-separated: ``convnext*``); it stops after ``top`` options of the accuracy-cost front
    (the first is the choice)."""

    top: int = 5
    family: str | None = None
    catalog: str | os.PathLike[str] | None = None


@dataclass(frozen=True)
class PredictedLatency:
    """Latencies ``search_backbones`` takes from ``timer(option, device, budget_s) -> seconds``
    instead of measuring them (for example ``archcalc.timing.predict.api.predicted_timer``:
    predicted on a target), and ``basis``, what they are as the reasons and the table say it
    (for example ``PREDICTED, not measured: rtx4090 (float16), batch 64, error ...``)."""

    timer: Callable[..., float]
    basis: str


@dataclass(frozen=True)
class Request:
    """The checked arguments: the level, where latency is measured, the budgets (``limits``:
    budget_ms, max_gmacs, max_params), what the decision reports (``checklist``: training,
    gpu_memory, dtype, epoch_images) and how each model is built (``build``:
    reparameterize, and train when GPU sizes ask for training-step MACs). With a data set,
    ``level`` is at the size rule §6 measured (``data``)."""

    level: Level
    device: str
    latency: bool
    limits: dict[str, float | None]
    checklist: dict[str, Any]
    build: dict[str, bool]
    data: DataSize | None = None


def check_request(
    task: str,
    *,
    levels: Levels,
    device: str,
    latency: bool,
    budgets: Budgets | None,
    training: bool,
    train_batch: TrainBatch | None,
    reparameterize: bool,
    data: str | os.PathLike[str] | DatasetStats | None = None,
) -> Request:
    """Validate a request; raise on the first bad argument with the fix. ``data``: a data set
    (path or ``DatasetStats``) that sizes the level (rules §6).

    Raises:
        InvalidArgumentError: an unknown task, a bad budget, GPU size, dtype or count, a
        latency budget without latency measurement, or a training batch without a GPU size.
        DeviceUnavailableError: a device this machine does not have.
    """
    level = find_level(task, level_table(levels))
    batch = train_batch or TrainBatch(())
    gpus = check_gpu_memory(batch.gpu_memory)
    check_positive("epoch_images", batch.epoch_images, optional=True)
    if train_batch is not None and not gpus:
        raise InvalidArgumentError(
            "dtype and epoch_images size the training batch of gpu_memory: add "
            "--gpu-memory GiB, or drop them"
        )
    given = budgets or Budgets()
    limits = {f.name: check_limit(f.name, getattr(given, f.name)) for f in fields(Budgets)}
    if limits["budget_ms"] is not None and not latency:
        raise InvalidArgumentError(
            "budget_ms needs latency measurement: drop --no-latency, or use --max-gmacs"
        )
    checklist = {
        "training": training,
        "gpu_memory": gpus,
        "dtype": check_dtype(batch.dtype),
        "epoch_images": batch.epoch_images,
    }
    build = {"reparameterize": bool(reparameterize), "train": bool(gpus)}
    dev = check_device(device, allow_meta=False)
    sized = None
    if data is not None:
        sized = size_from_data(level, _stats(data))
        level = sized_level(level, sized)
    return Request(level, dev, bool(latency), limits, checklist, build, sized)


def _stats(data: str | os.PathLike[str] | DatasetStats) -> DatasetStats:
    """The data set's statistics, read when given a path."""
    if isinstance(data, str | os.PathLike):
        from archcalc.datasets.describe import describe_data

        return describe_data(data)
    return data


def check_search_only(top: int | None, family: str | None, catalog: object | None) -> None:
    """Refuse the search's own arguments (a ``SearchScope``'s) where no search runs: the CLI's
    named backbones.

    Raises:
        InvalidArgumentError: one line naming the arguments given and the fix.
    """
    given = [
        n for n, v in (("top", top), ("family", family), ("catalog", catalog)) if v is not None
    ]
    if given:
        raise InvalidArgumentError(
            f"{'/'.join(given)} appl{'ies' if len(given) == 1 else 'y'} to the "
            "backbone search only: use --backbone auto (search_backbones), or drop it"
        )


def level_table(levels: Levels) -> tuple[Level, ...]:
    """The built-in levels, a levels file's, or the given table of ``Level``."""
    if levels is None:
        return LEVELS
    if isinstance(levels, str | os.PathLike):
        return load_levels(levels)
    if all(isinstance(lv, Level) for lv in levels):
        return tuple(levels)
    raise InvalidArgumentError("levels must be a file path or a sequence of Level")


def with_percentile(levels: Sequence[Level], task: str, percentile: float) -> tuple[Level, ...]:
    """``levels`` with ``task``'s level sizing from the ``percentile``-th percentile of the boxes
    (``suggest --objects-percentile``; rules §6).

    Raises:
        InvalidArgumentError: the level is not sized from small objects (no min_object_px).
    """
    level = find_level(task, levels)
    if level.pixels.min_object_px is None:
        raise InvalidArgumentError(
            f"--objects-percentile applies to a level sized from its small objects (--task "
            f"objects, or one with min_object_px), not {level.name!r}"
        )
    pixels = replace(level.pixels, object_percentile=float(percentile))
    return tuple(replace(lv, pixels=pixels) if lv is level else lv for lv in levels)


def backbone_names(backbones: str | Sequence[str] | None) -> tuple[list[str], bool]:
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


def growth_laws(options: Sequence[Option]) -> dict[str, GrowthLaw]:
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
