"""``archcalc report --format html``: one self-contained, interactive page of a sweep.

The page is a single file that works offline from disk: the template, its style and its
script (``archcalc/report/assets/``) and plotly.js (shipped inside the ``plotly`` Python
package, read with ``plotly.offline.get_plotlyjs``) are inlined, and the rows travel as one
JSON block (``<script type="application/json">``, every ``<`` written ``\\u003c`` so no data can
end it, numbers that are not finite written null; the script reads it with ``JSON.parse``). The
page is assembled in one pass over the template's markers: a marker's text inside the data (a
model named ``/*ARCHCALC:SCRIPT*/``) is data, never replaced. Nothing is fetched: no CDN, no
font, no image. plotly is an optional dependency
(``pip install 'archcalc[report]'``), imported only when a page is written.

The page holds every row (ok rows, and error rows with ``--errors``); the command's filters
(``--where``, ``--k-range``, ``--max-*``) are its *starting* filters, which the reader can
change or clear. Numbers are rendered here with the same helpers as the Markdown table; what
is plotted (fronts, bubbles, nearest valid sizes) comes from ``archcalc.report.page_data``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any

from archcalc.errors import InvalidArgumentError
from archcalc.formatting import milliseconds, size
from archcalc.recommend.rules import K_MAX, K_MIN
from archcalc.report.documents import RESULT_HEADERS, result_rows
from archcalc.report.page_data import (
    PREDICTED_LATENCY,
    LatencySource,
    RefusedGroup,
    SweepContext,
    accuracy_front,
    family_medians,
    k_bubbles,
    latency_source,
    plot_resolution,
    refused_groups,
)
from archcalc.report.rows import Summary, filter_rows, finite

__all__ = ["StartFilters", "render_html_report"]

Row = dict[str, Any]
#: The Markdown table's headers (``RESULT_HEADERS``) as page columns: row field, header,
#: numeric. The cells' text is ``result_rows``'s, so both tables print the same numbers.
_COLUMN_OF = {
    "model": ("model", "model", False), "res": ("res", "input", True),
    "stride": ("stride", "stride", True), "k x k": ("k", "k x k", True),
    "RF (px)": ("rf", "RF (px)", True), "params (M)": ("params_m", "params (M)", True),
    "GMACs": ("gmacs", "GMACs", True), "latency (ms)": ("latency_ms", "latency (ms)", True),
    "peak act. (MB)": ("peak_act_mb", "peak act. (MiB)", True),
    "top-1 (%)": ("top1", "top-1 (%)", True),
}  # fmt: skip
#: Fields the page filters by range, with their labels.
_RANGES = (
    ("k", "k"), ("gmacs", "GMACs"), ("params_m", "params (M)"), ("latency_ms", "latency (ms)"),
    (PREDICTED_LATENCY, "predicted latency (ms)"), ("top1", "top-1 (%)"),
)  # fmt: skip
#: Bubbles list this many models in their hover text, then "and N more".
BUBBLE_NAMES = 6
#: The cost plot draws the median line of this many of the largest families.
MEDIAN_FAMILIES = 8
#: Where the template takes each part: ``/*ARCHCALC:NAME*/``.
_MARKER_RE = re.compile(r"/\*ARCHCALC:([A-Z]+)\*/")
#: Costs the cost-against-size plot can show: row field and label (latency added when present).
_COSTS = (("gmacs", "GMACs"), ("peak_act_mb", "peak activation (MiB)"))


@dataclass(frozen=True)
class StartFilters:
    """The command's filters, which the page opens with: the ``--where`` text, the k range
    and the upper bounds (GMACs, M params, latency in ms); None where not given."""

    where: str | None = None
    k_range: tuple[int, int] | None = None
    max_gmacs: float | None = None
    max_params_m: float | None = None
    max_latency_ms: float | None = None

    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        """Range bounds per row field, as the page's range inputs start."""
        given = {
            "k": self.k_range,
            "gmacs": (None, self.max_gmacs),
            "params_m": (None, self.max_params_m),
            "latency_ms": (None, self.max_latency_ms),
        }
        return {k: v for k, v in given.items() if v is not None and v != (None, None)}


def render_html_report(
    summary: Summary,
    rows: Sequence[Row],
    context: SweepContext,
    *,
    title: str,
    files: Sequence[str],
    start: StartFilters,
    with_errors: bool = False,
    pareto_res: int | None = None,
    plots: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole page: summary, four interactive plots, the results table, errors, units.

    Args:
        summary: ``archcalc.report.rows.summarise`` of all rows.
        rows: all rows in table order (errors included): the table shows the ok ones (all
            with ``with_errors``), the errors section the others; ``start`` says which rows
            the page shows at first.
        context: ``archcalc.report.page_data.read_context`` of the same files.
        title: the page title.
        files: the sweep file names, for the summary.
        start: the command's filters, the page's starting filters.
        with_errors: also list the error rows in the table.
        pareto_res: the input height of the front plots (default 224, else the most common).
        plots: ``(caption, relative path)`` of PNG figures to link at the end.

    Returns:
        The HTML text.

    Raises:
        InvalidArgumentError: plotly is not installed, or no ok row has ``pareto_res``.

    Example: ``render_html_report(summarise(rows), rows, read_context(paths), title="zoo",
    files=paths, start=StartFilters(where="k <= 9"))``.
    """
    table = [r for r in rows if with_errors or r["status"] == "ok"]
    source = latency_source(rows)
    payload = {
        "title": title,
        "summary": _summary(summary, context, files, source),
        **_table(table, start),
        "errors": [_group(g) for g in refused_groups(rows, context)],
        "plots": _plots(rows, pareto_res),
        "units": _units(context, source),
        "pngs": [list(p) for p in plots],
    }
    parts = {
        "TITLE": escape(title),
        "STYLE": _asset("report.css"),
        "PLOTLY": _script_safe(_plotly_js()),
        "DATA": _json_safe(payload),
        "SCRIPT": _script_safe(_asset("report.js")),
    }
    return _MARKER_RE.sub(lambda m: parts[m.group(1)], _asset("report.html"))


def _table(rows: Sequence[Row], start: StartFilters) -> dict[str, Any]:
    """The table's columns, rows (raw values and display text) and starting filters."""
    columns = _columns(rows)
    where = None
    if start.where:
        kept = {id(r) for r in filter_rows(rows, where=start.where)}
        where = {"text": start.where, "match": [int(id(r) in kept) for r in rows]}
    bounds = start.bounds()
    return {
        "columns": [{"key": k, "label": label, "numeric": num} for k, label, num, _ in columns],
        "rows": [[_raw(r, k) for k, _, _, _ in columns] for r in rows],
        "text": [[text(r, cells) for _, _, _, text in columns] for r, cells in _cells(rows)],
        "where": where,
        "ranges": [
            {"key": key, "label": label, "start": bounds.get(key, (None, None))}
            for key, label in _RANGES
            if any(key == c[0] for c in columns)
        ],
    }


def _cells(rows: Sequence[Row]) -> list[tuple[Row, list[str]]]:
    return list(zip(rows, result_rows(rows), strict=True))


def _columns(rows: Sequence[Row]) -> list[tuple[str, str, bool, Any]]:
    """(field, header, numeric, text of a row) for the columns the rows have values in."""
    columns: list[tuple[str, str, bool, Any]] = [
        (*_COLUMN_OF.get(header, (header, header, False)), lambda _r, cells, i=i: cells[i])
        for i, header in enumerate(RESULT_HEADERS)
    ]
    columns.insert(1, ("family", "family", False, lambda r, _c: str(r["family"])))
    keys = [c[0] for c in columns]
    if PREDICTED_LATENCY not in keys:  # after the measured latency, until the table has one
        predicted = (PREDICTED_LATENCY, "pred. latency (ms)", True, _predicted_text)
        columns.insert(keys.index("latency_ms") + 1, predicted)
    if any(r["status"] != "ok" for r in rows):
        columns += [
            ("status", "status", False, lambda r, _c: str(r["status"])),
            ("reason", "reason", False, lambda r, _c: r["reason"] or ""),
        ]
    return [c for c in columns if any(_raw(r, c[0]) is not None for r in rows)]


def _predicted_text(row: Row, _cells: list[str]) -> str:
    value = row.get(PREDICTED_LATENCY)
    return "-" if value is None else milliseconds(value / 1000)


def _raw(row: Row, key: str) -> Any:
    """A cell's sort and filter value: the row field (``res`` is the input height)."""
    return row.get(key)


def _summary(
    summary: Summary,
    context: SweepContext,
    files: Sequence[str],
    source: LatencySource | None,
) -> dict[str, Any]:
    latency = "not in this sweep (sweep with --latency, or add a latency prediction)"
    if source is not None:
        latency = "measured" if source.measured else f"predicted ({source.field})"
    return {
        "files": list(files),
        "models": summary.models,
        "sizes": [size(r) for r in summary.resolutions],
        "ok": summary.ok,
        "errors": summary.errors,
        "error_models": summary.error_models,
        "conventions": [f"{c} ({n:,} pairs)" for c, n in context.conventions],
        "environments": [f"{_environment(env)} ({n:,} pairs)" for env, n in context.environments],
        "latency": latency,
    }


def _environment(env: dict[str, Any]) -> str:
    parts = [f"{k} {env[k]}" for k in ("archcalc", "torch", "timm") if k in env]
    parts += [f"device {env['device']}"] if "device" in env else []
    parts += [str(env["dtype"])] if "dtype" in env else []
    parts += [f"{env['threads']} threads"] if "threads" in env else []
    return ", ".join(parts)


def _plots(rows: Sequence[Row], pareto_res: int | None) -> dict[str, Any]:
    """What the plots need beyond the rows: the front size and models, the latency field,
    the k x k bubbles and the 3..9 window."""
    height = plot_resolution(rows, pareto_res)
    source = latency_source(rows)
    latency = None
    if source is not None:
        latency = {
            "key": source.field,
            "label": _latency_label(source),
            "measured": source.measured,
            "front": accuracy_front(rows, source.field, height),
        }
    bubbles = [
        {
            "size": size((b.height, b.width)),
            "k": b.k,
            "map": size((b.k, b.k_w)),
            "count": len(b.models),
            "models": list(b.models[:BUBBLE_NAMES]),
        }
        for b in k_bubbles(rows)
    ]
    costs = [*_COSTS]
    if source is not None:
        costs.append((source.field, _latency_label(source)))
    medians = {
        field: [
            {"family": name, "models": n, "points": points}
            for name, n, points in family_medians(rows, field, MEDIAN_FAMILIES)
        ]
        for field, _ in costs
    }
    return {
        "res": height,
        "front": accuracy_front(rows, "gmacs", height),
        "params_front": accuracy_front(rows, "params_m", height),
        "latency": latency,
        "bubbles": bubbles,
        "window": [K_MIN, K_MAX],
        "costs": [{"key": k, "label": label, "medians": medians[k]} for k, label in costs],
    }


def _latency_label(source: LatencySource) -> str:
    """The latency axis and column title: measured, or PREDICTED with its target and batch."""
    if source.measured:
        return "latency (ms), measured"
    on = f" on {source.target}" if source.target else ""
    batch = f", batch {source.batch_size}" if source.batch_size else ""
    return f"latency (ms), PREDICTED{on}{batch}"


def _group(g: RefusedGroup) -> dict[str, Any]:
    """A refused group: counts, reason, and per pair its size and nearest valid sizes."""

    def sizes(pairs: Sequence[tuple[int, int]]) -> str:
        return ", ".join(size(p) for p in pairs) or "-"

    return {
        "count": g.group.count,
        "kind": g.group.kind,
        "type": g.group.error_type,
        "reason": g.group.reason,
        "members": [
            [m.model, size((m.height, m.width)), sizes(m.nearest_valid), sizes(m.ran_at)]
            for m in g.members
        ],
    }


def _units(context: SweepContext, source: LatencySource | None) -> list[str]:
    conventions = " and ".join(repr(c) for c, _ in context.conventions) or "'core'"
    latency = (
        "Latency: none in this sweep."
        if source is None
        else "Latency: measured, median of timed runs at batch 1 (latency (ms))."
        if source.measured
        else "Latency: predicted, not measured (pred. latency (ms)): an estimate for the "
        "prediction's target device, labelled as such wherever it is shown."
    )
    return [
        "MACs against FLOPs: every cost here is in MACs (multiply-accumulates), GMACs = 1e9 "
        "MACs; FLOPs = 2 x MACs. timm's tables and most papers print MACs and call them FLOPs.",
        f"core against fvcore: these MACs use the {conventions} convention. 'core' counts "
        "convolutions, linear layers, matmul/bmm/einsum and attention; 'fvcore' adds the "
        "norm, pooling and upsampling terms fvcore counts (what timm's published GMACs use), "
        "so it reads a few percent higher.",
        "Measured against predicted: " + latency,
        "top-1: timm's published ImageNet-1k top-1 (%) of the model's weights, at the weights' "
        "own evaluation size (not at the row's input size).",
        "params in millions; peak activation memory in MiB (float32, batch 1); k x k is the "
        "final feature map; RF is its receptive field in pixels.",
    ]


def _plotly_js() -> str:
    """plotly.js, as shipped inside the plotly Python package (no network)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise InvalidArgumentError(
            "an HTML report needs plotly: pip install 'archcalc[report]' "
            "(or use --format markdown / csv)"
        ) from e
    return str(get_plotlyjs())


def _asset(name: str) -> str:
    return resources.files("archcalc.report").joinpath("assets", name).read_text("utf-8")


def _json_safe(data: Any) -> str:
    """JSON for a ``<script type="application/json">``: no ``<`` at all (``\\u003c``), no
    character outside ASCII (U+2028 and U+2029 included: ``\\u2028``), and null for a number
    that is not finite (JSON has no NaN)."""
    text = json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c")


def _finite(data: Any) -> Any:
    """``data`` with every float that is not finite replaced by None, at any depth."""
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return finite(data)


def _script_safe(text: str) -> str:
    """Text safe inside a <script> element: ``</script`` cannot end it early (``<\\/`` reads
    the same in JavaScript strings, regular expressions and JSON)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
