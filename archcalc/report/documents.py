"""Presentation of sweeps and reports: summary lines, report tables, Markdown and CSV documents.

Formats numbers through ``archcalc.report.tables`` helpers; computes nothing (see
``archcalc.report.rows``). The interactive HTML page is ``archcalc.report.html``, which shows
the same cells as ``result_rows``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archcalc.formatting import billions, field_text, mebibytes, millions, milliseconds, size
from archcalc.report.rows import Summary
from archcalc.report.tables import render_table
from archcalc.results import ReceptiveField
from archcalc.sweep.jsonl import rejected_path

__all__ = ["REPORT_FORMATS", "render_report", "result_rows", "result_table", "sweep_summary_text"]


def sweep_summary_text(summary: Any) -> str:
    """One paragraph for stderr after ``archcalc sweep``: counts, errors by kind, time, RSS."""
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(summary.errors_by_kind.items()))
    peaks = [mebibytes(b) for b in summary.worker_peak_rss_bytes.values()]
    top = max(summary.worker_peak_rss_bytes.values(), default=0)
    rss = f"peak RSS {mebibytes(top)} MiB" if peaks else ""
    if 1 < len(peaks) <= 8:
        rss = f"peak RSS per worker {', '.join(peaks)} MiB"
    moved = ""
    if summary.rejected_lines:
        where = rejected_path(summary.out)
        moved = f"; {summary.rejected_lines} unreadable line(s) of it moved to {where}"
    return (
        f"{summary.out}: {summary.models} models x {summary.resolutions} resolutions = "
        f"{summary.pairs} pairs; "
        f"{summary.ok} ok, {summary.errors} errors{f' ({kinds})' if kinds else ''}, "
        f"{summary.skipped} already done; {summary.wall_s:.1f} s; "
        f"{len(peaks)} worker(s){', ' + rss if rss else ''}{moved}"
    )


REPORT_FORMATS = ("markdown", "html", "csv")
RESULT_HEADERS = (
    "model", "res", "stride", "k x k", "RF (px)", "params (M)", "GMACs", "latency (ms)",
    "peak act. (MB)", "top-1 (%)",
)  # fmt: skip
CSV_FIELDS = (
    "model", "family", "status", "height", "width", "stride", "k", "k_w", "rf", "rf_w",
    "rf_context", "channels", "params",
    "macs", "latency_s", "peak_act_mb", "error_kind", "error_type", "reason", "top1",
)  # fmt: skip


def _opt(value: Any, fmt: Any) -> str:
    return "-" if value is None else str(fmt(value))


def _rf(row: dict[str, Any]) -> str:
    """The final receptive field of a row (pixels, ``+ gate``, ``global``, ``unknown``)."""
    if row["rf_context"] is None:
        return "-"
    known = row["rf"] is not None and row["rf_w"] is not None
    pair = (row["rf"], row["rf_w"]) if known else None
    return field_text(ReceptiveField(pair, None, row["rf_context"]))


#: The PREDICTED columns rows carry after ``report --target`` or from ``sweep --target`` lines.
PREDICTED_FIELDS = ("pred_latency_ms", "pred_samples_per_sec", "pred_target", "pred_batch_size")
PREDICTED_HEADER = "PREDICTED latency (ms)"


def result_table(rows: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], list[list[str]]]:
    """Headers and rows of the results table; the latency column only when one was measured,
    the top-1 column only when the accuracy table has one of the models, the PREDICTED
    latency column only when a row has a prediction."""
    table = result_rows(rows)
    headers = list(RESULT_HEADERS)
    if any(r.get("pred_latency_ms") is not None for r in rows):
        at = headers.index("latency (ms)") + 1
        headers.insert(at, PREDICTED_HEADER)
        for cells, r in zip(table, rows, strict=True):
            cells.insert(at, _opt(r.get("pred_latency_ms"), lambda ms: milliseconds(ms / 1e3)))
    drop = {
        "latency (ms)": all(r["latency_s"] is None for r in rows),
        "top-1 (%)": all(r["top1"] is None for r in rows),
    }
    keep = [i for i, h in enumerate(headers) if not drop.get(h)]
    return tuple(headers[i] for i in keep), [[row[i] for i in keep] for row in table]


def result_rows(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Report table rows: one per (model, resolution)."""
    return [
        [
            str(r["model"]),
            size((r["height"], r["width"])),
            _opt(r["stride"], str),
            "-" if r["k"] is None else size((r["k"], r["k_w"])),
            _rf(r),
            _opt(r["params"], millions),
            _opt(r["macs"], billions),
            _opt(r["latency_s"], milliseconds),
            _opt(r["peak_act_mb"], lambda mb: f"{mb:.1f}"),
            _opt(r["top1"], lambda top1: f"{top1:.2f}"),
        ]
        for r in rows
    ]


def summary_rows(summary: Summary) -> list[list[str]]:
    sizes = ", ".join(size(r) for r in summary.resolutions) or "-"
    return [
        ["models", str(summary.models)],
        ["resolutions", sizes],
        ["pairs ok", str(summary.ok)],
        ["pairs with an error", f"{summary.errors} ({summary.error_models} models)"],
    ]


def error_rows(summary: Summary) -> list[list[str]]:
    return [
        [str(g.count), g.kind, g.error_type, g.reason, ", ".join(g.examples)]
        for g in summary.error_groups
    ]


def render_report(
    summary: Summary,
    rows: Sequence[dict[str, Any]],
    plots: Sequence[tuple[str, str]],
    *,
    fmt: str,
    title: str,
    filters: str,
) -> str:
    """The Markdown or CSV report: summary, errors by reason, the filtered table, linked plots.

    ``plots`` are ``(caption, relative path)``; ``csv`` is the raw filtered rows only. (HTML
    pages are ``archcalc.report.html.render_html_report``.)
    """
    if fmt == "csv":
        fields = CSV_FIELDS
        if any(r.get("pred_latency_ms") is not None for r in rows):
            fields += PREDICTED_FIELDS
        rows_out = ([_csv(r.get(f)) for f in fields] for r in rows)
        return render_table(fields, rows_out, "csv") + "\n"
    sections = [
        ("Summary", render_table(("", "value"), summary_rows(summary), "markdown")),
        (
            "Errors by reason",
            render_table(
                ("pairs", "kind", "type", "reason", "e.g."), error_rows(summary), "markdown"
            )
            if summary.error_groups
            else "No errors.",
        ),
        (
            f"Results ({len(rows)} rows{'; ' + filters if filters else ''})",
            _UNITS + _predicted_note(rows) + "\n\n" + render_table(*result_table(rows), "markdown"),
        ),
    ]
    if plots:
        sections.append(("Plots", "\n\n".join(f"![{c}]({p})" for c, p in plots)))
    return f"# {title}\n\n" + "\n\n".join(f"## {h}\n\n{b}" for h, b in sections) + "\n"


_UNITS = (
    "MACs in units of 1e9 (FLOPs = 2 x MACs); params in millions; peak activation memory in "
    "MiB (float32); latency: median over timed runs. k x k is the final feature map."
)


def _predicted_note(rows: Sequence[dict[str, Any]]) -> str:
    """What the PREDICTED column is (never a measurement), when the table has one."""
    first = next((r for r in rows if r.get("pred_latency_ms") is not None), None)
    if first is None:
        return ""
    return (
        f" {PREDICTED_HEADER}: not measured, predicted on {first['pred_target']} for a batch of "
        f"{first['pred_batch_size']} (ms per batch; archcalc targets gives its error)."
    )


def _csv(value: Any) -> Any:
    return "" if value is None else value
