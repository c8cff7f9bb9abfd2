"""What the interactive HTML report shows, computed from sweep rows and lines (no formatting).

``archcalc.report.html`` turns these into the page; this module decides the numbers: the
sweep's environment and counting conventions, which latency the plots use (measured, else
predicted), the accuracy-cost fronts, the k x k bubbles per input size and, for every refused
pair, its nearest valid sizes (the error's ``nearest`` field: read, never parsed out of the
reason). Pure Python over the rows of ``archcalc.report.rows``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from archcalc.errors import InvalidArgumentError
from archcalc.report.rows import ErrorGroup, error_key, pareto_front, summarise

__all__ = [
    "PREDICTED_LATENCY",
    "ErrorMember",
    "KBubble",
    "LatencySource",
    "RefusedGroup",
    "SweepContext",
    "accuracy_front",
    "family_medians",
    "k_bubbles",
    "latency_source",
    "plot_resolution",
    "read_context",
    "refused_groups",
]

Row = dict[str, Any]
#: The column a latency-prediction sweep adds (ms, for the ``--target`` it predicted for).
PREDICTED_LATENCY = "pred_latency_ms"


@dataclass(frozen=True)
class SweepContext:
    """What the sweep lines say beyond the rows: the environments they were profiled in and
    the MAC-counting conventions (each with its number of lines), and the nearest valid sizes
    of each refused pair keyed by ``(model, height, width)`` (the error's ``nearest``; none in
    lines written before it existed)."""

    environments: tuple[tuple[dict[str, Any], int], ...]
    conventions: tuple[tuple[str, int], ...]
    nearest: dict[tuple[str, int, int], tuple[tuple[int, int], ...]]


def read_context(paths: Sequence[str | Path]) -> SweepContext:
    """The environments, conventions and the refused pairs' nearest valid sizes of sweep files.

    Args:
        paths: the sweep files the report reads (``.jsonl`` or ``.jsonl.gz``).

    Returns:
        A ``SweepContext``; environments and conventions most common first.

    Example: ``read_context(["zoo.jsonl.gz"]).conventions`` is ``(("core", 4113),)``.
    """
    from archcalc.sweep.merge import read_results

    lines = read_results(paths).results
    envs: Counter[tuple[tuple[str, Any], ...]] = Counter(
        tuple(sorted(line["environment"].items()))
        for line in lines
        if isinstance(line.get("environment"), dict)
    )
    conventions = Counter(str(line.get("convention", "core")) for line in lines)
    nearest = {
        (line["model"], line["input"]["height"], line["input"]["width"]): tuple(
            (h, w) for h, w in line["error"].get("nearest", ())
        )
        for line in lines
        if line.get("status") == "error" and line.get("error")
    }
    return SweepContext(
        environments=tuple((dict(env), n) for env, n in envs.most_common()),
        conventions=tuple(conventions.most_common()),
        nearest=nearest,
    )


@dataclass(frozen=True)
class LatencySource:
    """The latency the page plots: a row field, whether it was measured or predicted, and for a
    prediction the target device and batch it is for."""

    field: str
    measured: bool
    target: str | None = None
    batch_size: int | None = None


def latency_source(rows: Sequence[Row]) -> LatencySource | None:
    """The predicted column (``pred_latency_ms``, present only when a ``--target`` was asked
    for) when any row has one, else measured latency (``latency_ms``), else None."""
    predicted = [r for r in rows if r.get(PREDICTED_LATENCY) is not None]
    if predicted:
        first = predicted[0]
        target, batch = first.get("pred_target"), first.get("pred_batch_size")
        return LatencySource(PREDICTED_LATENCY, False, target, batch)
    if any(r.get("latency_ms") is not None for r in rows):
        return LatencySource("latency_ms", True)
    return None


def plot_resolution(rows: Sequence[Row], asked: int | None = None) -> int | None:
    """The input height the front plots use: ``asked``, else 224 if swept, else the most
    common height of the ok rows (None when no row is ok).

    Raises:
        InvalidArgumentError: no ok row has the ``asked`` height.
    """
    heights = Counter(r["height"] for r in rows if r["status"] == "ok")
    if asked is not None and asked not in heights:
        raise InvalidArgumentError(
            f"--pareto-res {asked}: no ok result has that input height; use one of "
            f"{', '.join(map(str, sorted(heights))) or '(none)'}"
        )
    if asked is not None or not heights:
        return asked
    return 224 if 224 in heights else heights.most_common(1)[0][0]


def accuracy_front(rows: Sequence[Row], cost: str, height: int | None) -> list[str]:
    """The models on the accuracy-cost front at ``height``: no other model is both cheaper in
    ``cost`` (a row field, e.g. ``gmacs``) and more accurate in published top-1; cheapest first.
    """
    pts = [
        r
        for r in rows
        if r["status"] == "ok" and r["height"] == height
        if r.get(cost) is not None and r["top1"] is not None
    ]
    front = pareto_front([(r[cost], -r["top1"]) for r in pts])
    return [pts[i]["model"] for i in front]


def family_medians(
    rows: Sequence[Row], field: str, families: int
) -> list[tuple[str, int, list[tuple[int, float]]]]:
    """The ``families`` largest families (by models): name, number of models and the median
    of ``field`` at each input height where the family has values, by height."""
    ok = [r for r in rows if r["status"] == "ok" and r.get(field) is not None]
    sizes = Counter(r["family"] for r in {r["model"]: r for r in ok}.values())
    out = []
    for name, count in sizes.most_common(families):
        points: dict[int, list[float]] = defaultdict(list)
        for r in ok:
            if r["family"] == name:
                points[r["height"]].append(r[field])
        out.append((name, count, [(h, median(points[h])) for h in sorted(points)]))
    return out


@dataclass(frozen=True)
class KBubble:
    """How many models end at a ``k x k_w`` map at one input size, and which (sorted)."""

    height: int
    width: int
    k: int
    k_w: int
    models: tuple[str, ...]


def k_bubbles(rows: Sequence[Row]) -> list[KBubble]:
    """One bubble per (input size, final map) over the ok rows, by size then k."""
    groups: dict[tuple[int, int, int, int], list[str]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok" and r["k"] is not None:
            groups[(r["height"], r["width"], r["k"], r["k_w"])].append(str(r["model"]))
    return [KBubble(*key, models=tuple(sorted(groups[key]))) for key in sorted(groups)]


@dataclass(frozen=True)
class ErrorMember:
    """One refused pair: the model, its input size, the nearest valid sizes the profiler found
    (empty when it found none) and the sizes of this sweep the model ran at, nearest first (on
    a log scale)."""

    model: str
    height: int
    width: int
    nearest_valid: tuple[tuple[int, int], ...]
    ran_at: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RefusedGroup:
    """An error group (as in the summary) with every pair in it."""

    group: ErrorGroup
    members: tuple[ErrorMember, ...]


def refused_groups(rows: Sequence[Row], context: SweepContext) -> list[RefusedGroup]:
    """The summary's error groups, largest first, each with all its pairs and their nearest
    valid sizes (the profiler's, and the sizes that ran in this sweep)."""
    ran: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok":
            ran[str(r["model"])].append((r["height"], r["width"]))
    members: dict[tuple[str, str, str], list[ErrorMember]] = defaultdict(list)
    for r in rows:
        if r["status"] != "ok":
            members[error_key(r)].append(_member(r, context, ran))
    return [
        RefusedGroup(g, tuple(members[(g.kind, g.error_type, g.reason)]))
        for g in summarise(rows).error_groups
    ]


def _member(row: Row, context: SweepContext, ran: dict[str, list[tuple[int, int]]]) -> ErrorMember:
    model, height, width = str(row["model"]), row["height"], row["width"]
    side = math.sqrt(height * width)
    near = sorted(ran[model], key=lambda s: (abs(math.log(math.sqrt(s[0] * s[1]) / side)), s))
    valid = context.nearest.get((model, height, width), ())
    return ErrorMember(model, height, width, valid, tuple(near))
