"""The report's plot of published top-1 against PREDICTED throughput on a target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["draw_accuracy_throughput"]


def draw_accuracy_throughput(rows: Sequence[dict[str, Any]], out: Path) -> tuple[str, Path] | None:
    """Scatter top-1 against predicted images/s (rows annotated by ``annotate_rows``), the
    accuracy-speed front marked; None when no row has both."""
    import matplotlib

    from archcalc.report.plots import LITERAL_TEXT

    with matplotlib.rc_context(LITERAL_TEXT):
        return _draw(rows, out)


def _draw(rows: Sequence[dict[str, Any]], out: Path) -> tuple[str, Path] | None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from archcalc.report.plots import save_figure
    from archcalc.report.rows import pareto_front

    pts = [r for r in rows if r.get("pred_samples_per_sec") and r.get("top1") is not None]
    if not pts:
        return None
    target = pts[0]["pred_target"]
    figure = Figure(figsize=(8, 5), layout="constrained")
    ax = figure.add_subplot()
    ax.scatter([r["pred_samples_per_sec"] for r in pts], [r["top1"] for r in pts], s=10, alpha=0.4)
    front = [pts[i] for i in pareto_front([(-r["pred_samples_per_sec"], -r["top1"]) for r in pts])]
    front.sort(key=lambda r: r["pred_samples_per_sec"])
    ax.plot(
        [r["pred_samples_per_sec"] for r in front], [r["top1"] for r in front], "r.-", label="front"
    )
    for r in front:
        ax.annotate(
            f"{r['model']}@{r['res']}", (r["pred_samples_per_sec"], r["top1"]), fontsize="x-small"
        )
    ax.set(xscale="log", xlabel=f"PREDICTED images/s on {target}", ylabel="top-1 (%), published")
    ax.set(title=f"Published top-1 against predicted throughput on {target} (upper right wins)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    path = out / f"accuracy_predicted_{target}.png"
    save_figure(figure, path)
    return f"Published top-1 against PREDICTED throughput on {target}", path
