"""Sweep results as data: load JSONL, flatten to rows, filter, sort, Pareto front, summary.

Pure Python (no torch, no plotting, no formatting): ``archcalc.report.documents`` writes the
documents and ``archcalc.report.plots`` draws the figures from what this module returns. Row fields
(what ``--where`` and ``--sort`` accept) are listed in ``FIELDS``; derived sizes are exact
(``gmacs = macs / 1e9``, ``params_m = params / 1e6``, ``latency_ms = latency_s * 1000``). A
number that is not finite (NaN or Infinity in a line, or a derived size that overflows) is no
value: None, shown as missing in every report format.
``rf``/``rf_w`` are the final map's receptive field in pixels (None where it is global,
unknown, or the line predates schema version 2) and ``rf_context`` says which.
``top1`` is timm's published ImageNet-1k top-1 (%) from the packaged accuracy table
(``archcalc.recommend.catalog``): of that weight for ``arch.tag``, of the most accurate
weight for a bare architecture, None where the table lacks the model.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archcalc.checks import check_limit
from archcalc.errors import InvalidArgumentError
from archcalc.formatting import MIB
from archcalc.recommend.catalog import load_catalog, top1_index
from archcalc.report.where import compile_where
from archcalc.serialize import Serialized

__all__ = [
    "FIELDS",
    "ErrorGroup",
    "Summary",
    "error_key",
    "family",
    "filter_rows",
    "finite",
    "load_rows",
    "normalise_reason",
    "pareto_front",
    "sort_rows",
    "summarise",
    "to_row",
]

#: Row fields, usable in ``--where`` and ``--sort``.
FIELDS = (
    "model", "family", "status", "res", "height", "width", "k", "k_w", "stride", "rf",
    "rf_w", "rf_context", "channels",
    "params", "params_m", "macs", "gmacs", "gflops", "latency_s", "latency_ms",
    "peak_act_mb", "train_mb", "error_kind", "error_type", "reason", "top1",
)  # fmt: skip
#: The fields that hold strings (the others hold numbers).
TEXT_FIELDS = ("model", "family", "status", "error_kind", "error_type", "reason")
_FAMILY_TAIL_RE = re.compile(r"(?<![v\d])\d+[a-z]*$")
_PORT_PREFIXES = ("tf", "legacy", "gluon")


def family(model: str) -> str:
    """A model's family for grouping: its first name part without the size digits
    (``resnet50`` -> ``resnet``, ``efficientnetv2_s`` -> ``efficientnetv2``,
    ``tf_efficientnet_b0`` -> ``efficientnet``, ``vit_base_patch16_224`` -> ``vit``)."""
    parts = model.split(".", 1)[0].lower().split("_")
    if len(parts) > 1 and parts[0] in _PORT_PREFIXES:
        parts = parts[1:]
    return _FAMILY_TAIL_RE.sub("", parts[0]) or parts[0]


def normalise_reason(line: dict[str, Any]) -> str:
    """An error's one-line reason with the model name, sizes and numbers blanked, so that the
    same failure in many models groups together."""
    reason = str((line.get("error") or {}).get("reason", ""))
    model = str(line.get("model", ""))
    if model:
        reason = reason.replace(model, "<model>")
    reason = re.sub(r"\b\d+x\d+\b", "HxW", reason)
    reason = re.sub(r"\d+(\.\d+)?", "N", reason)
    return reason[:160]


def _pair(value: Any) -> tuple[Any, Any]:
    return (value[0], value[1]) if isinstance(value, list) and len(value) == 2 else (None, None)


def to_row(line: dict[str, Any]) -> dict[str, Any]:
    """One sweep line (``archcalc.sweep.lines.is_result``) -> a flat row of ``FIELDS`` (None
    where the line has no such value, or a number that is not finite)."""
    row = _row(line)
    return {k: finite(v) for k, v in row.items()}


def finite(value: Any) -> Any:
    """``value``, or None for a float that is NaN or infinite (JSON has no such number)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _row(line: dict[str, Any]) -> dict[str, Any]:
    inp = line.get("input") or {}
    memory = line.get("memory") or {}
    error = line.get("error") or {}
    k, k_w = _pair(line.get("final_map"))
    field = line.get("receptive_field") or {}
    rf, rf_w = _pair(field.get("size"))
    macs, params, latency_s = line.get("macs"), line.get("params"), line.get("latency_s")
    peak, train = memory.get("peak_activation_bytes"), memory.get("train_step_bytes")
    predicted = _predicted(line.get("prediction"))
    return {
        "model": line.get("model"),
        "family": family(str(line.get("model", ""))),
        "status": line.get("status", "ok"),
        "res": inp.get("height"),
        "height": inp.get("height"),
        "width": inp.get("width"),
        "k": k,
        "k_w": k_w,
        "stride": _pair(line.get("global_stride"))[0],
        "rf": rf,
        "rf_w": rf_w,
        "rf_context": field.get("context"),
        "channels": line.get("final_channels"),
        "params": params,
        "params_m": None if params is None else params / 1e6,
        "macs": macs,
        "gmacs": None if macs is None else macs / 1e9,
        "gflops": None if macs is None else 2 * macs / 1e9,
        "latency_s": latency_s,
        "latency_ms": None if latency_s is None else latency_s * 1000,
        "peak_act_mb": None if peak is None else peak / MIB,
        "train_mb": None if train is None else train / MIB,
        "error_kind": error.get("kind"),
        "error_type": error.get("type"),
        "reason": normalise_reason(line) if error else None,
        "top1": None,
        **predicted,
    }


def _predicted(prediction: dict[str, Any] | None) -> dict[str, Any]:
    """The PREDICTED columns of a line that ``sweep --target`` gave a ``prediction`` (the
    same keys ``report --target`` adds); none for a line without one."""
    if not prediction:
        return {}
    return {
        "pred_latency_ms": prediction.get("latency_ms"),
        "pred_samples_per_sec": prediction.get("samples_per_sec"),
        "pred_target": prediction.get("target"),
        "pred_batch_size": prediction.get("batch_size"),
    }


def load_rows(paths: Sequence[str | Path]) -> tuple[list[dict[str, Any]], int]:
    """One row per result in ``paths`` (``.jsonl`` or ``.jsonl.gz``; duplicates across files
    resolved as ``archcalc merge`` does) and the number of lines skipped because they are not
    results (unreadable, or JSON that is no sweep line: ``archcalc.sweep.lines.is_result``)."""
    from archcalc.sweep.merge import read_results

    lines = read_results(paths)
    top1 = top1_index(load_catalog())
    rows = [to_row(line) for line in lines.results]
    return [{**r, "top1": top1.get(str(r["model"]))} for r in rows], len(lines.rejected)


def filter_rows(
    rows: Sequence[dict[str, Any]],
    *,
    where: str | None = None,
    k_range: tuple[int, int] | None = None,
    max_gmacs: float | None = None,
    max_params_m: float | None = None,
    max_latency_ms: float | None = None,
) -> list[dict[str, Any]]:
    """Rows passing ``where`` (see ``archcalc.report.where``) and every simple bound given.

    Bounds must be positive and ``k_range`` a ``(low, high)`` with ``1 <= low <= high``: a
    filter that can keep nothing is refused rather than giving an empty table.
    """
    tests: list[Callable[[dict[str, Any]], bool]] = []
    if where:
        tests.append(compile_where(where, FIELDS, TEXT_FIELDS))
    bounds = [("gmacs", max_gmacs), ("params_m", max_params_m), ("latency_ms", max_latency_ms)]
    for name, limit in bounds:
        if check_limit(f"max_{name}", limit) is not None:
            tests.append(lambda r, n=name, v=limit: r[n] is not None and r[n] <= v)
    if k_range is not None:
        low, high = k_range
        if not 1 <= low <= high:
            raise InvalidArgumentError(
                f"k range {low}..{high} keeps nothing: give LO HI with 1 <= LO <= HI (e.g. 5 9)"
            )
        tests.append(lambda r: r["k"] is not None and low <= r["k"] <= high)
    return [r for r in rows if all(t(r) for t in tests)]


def sort_rows(rows: Sequence[dict[str, Any]], keys: str) -> list[dict[str, Any]]:
    """Sort by comma-separated fields (``-gmacs`` for descending); missing values go last.

    Ties keep model name and input size order, so a report does not depend on the order in
    which a sweep's workers happened to write their lines."""
    ordered = sorted(rows, key=lambda r: (str(r["model"]), r["height"] or 0, r["width"] or 0))
    for key in reversed([k.strip() for k in keys.split(",") if k.strip()]):
        name = key.lstrip("-")
        if name not in FIELDS:
            raise InvalidArgumentError(f"cannot sort by {name!r}: use one of {', '.join(FIELDS)}")
        present = [r for r in ordered if r[name] is not None]
        missing = [r for r in ordered if r[name] is None]
        present.sort(key=lambda r, n=name: r[n], reverse=key.startswith("-"))
        ordered = present + missing
    return ordered


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (both minimised), by x.

    Sorted by (x, y), a point is on the front when its y is below every y seen before it.
    """
    order = sorted(range(len(points)), key=lambda i: points[i])
    front: list[int] = []
    best = float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


@dataclass(frozen=True)
class ErrorGroup:
    """Errors sharing kind, exception type and normalised reason; a few example models."""

    count: int
    kind: str
    error_type: str
    reason: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Summary(Serialized):
    """Counts for the report's head: models, resolutions, ok and error pairs, error groups."""

    models: int
    resolutions: tuple[tuple[int, int], ...]
    ok: int
    errors: int
    error_models: int
    error_groups: tuple[ErrorGroup, ...]
    has_latency: bool


def error_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """What groups an error row with others: kind, exception type and normalised reason."""
    return (str(row["error_kind"]), str(row["error_type"]), str(row["reason"]))


def summarise(rows: Sequence[dict[str, Any]], examples: int = 3) -> Summary:
    """Summary of all rows; error groups sorted by count, largest first."""
    failed = [r for r in rows if r["status"] != "ok"]
    groups: Counter[tuple[str, str, str]] = Counter()
    seen: dict[tuple[str, str, str], list[str]] = {}
    for r in failed:
        key = error_key(r)
        groups[key] += 1
        names = seen.setdefault(key, [])
        if r["model"] not in names and len(names) < examples:
            names.append(r["model"])
    sizes = {(r["height"], r["width"]) for r in rows if r["height"] is not None}
    return Summary(
        models=len({r["model"] for r in rows}),
        resolutions=tuple(sorted(sizes)),
        ok=len(rows) - len(failed),
        errors=len(failed),
        error_models=len({r["model"] for r in failed}),
        error_groups=tuple(
            ErrorGroup(n, *key, examples=tuple(seen[key])) for key, n in groups.most_common()
        ),
        has_latency=any(r["latency_s"] is not None for r in rows),
    )
