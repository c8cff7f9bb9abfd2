"""Report figures (PNG): from sweep rows (cost against resolution, k x k, Pareto front) and
from a ``Scaling`` (``archcalc scale --plot``: costs against the side, log-log, law drawn in).

matplotlib is an optional dependency (``pip install 'archcalc[report]'``), imported only here and
only when a plot is drawn. Figures are built with ``matplotlib.figure.Figure`` and the Agg
canvas directly, so pyplot's global state and the user's backend are never touched.
"""

from __future__ import annotations

import io
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from archcalc.checks import file_errors
from archcalc.errors import InvalidArgumentError
from archcalc.files import write_atomic
from archcalc.recommend.rules import K_MAX, K_MIN
from archcalc.report.rows import pareto_front

if TYPE_CHECKING:
    from archcalc.datasets.stats import DatasetStats
    from archcalc.timing.scale import Scaling

__all__ = ["draw_data_plot", "draw_plots", "draw_scale_plot", "front_labels"]

#: Families drawn in the cost-against-resolution plots (the largest ones; the rest are left out).
MAX_FAMILIES = 12
#: Up to this many models, the k plot is a models x resolutions grid; above, a count grid.
MAX_GRID_MODELS = 40
#: Pareto-front points labelled with their model name between the two ends of the front.
MAX_LABELS = 10
Row = dict[str, Any]


#: Text drawn as written: a model named ``$x^$`` is a name, not mathtext (which fails on it).
LITERAL_TEXT = {"text.parse_math": False}


def _matplotlib() -> Any:
    """The matplotlib module, or a one-line error saying how to install it."""
    try:
        import matplotlib
    except ImportError as e:
        raise InvalidArgumentError(
            "plots need matplotlib: pip install 'archcalc[report]' (or drop --plot/--plots)"
        ) from e
    return matplotlib


def _figure(width: float = 8.0, height: float = 5.0) -> Any:
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: Path) -> Path:
    """Write ``figure`` to ``path`` (its format from the suffix, PNG without one) through
    ``write_atomic``: a plot that fails half-way never leaves half a file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip(".").lower() or None)
    write_atomic(path, buffer.getvalue())
    return path


def _plain_log_ticks(ax: Any, axes: str = "xy") -> None:
    """Log axes labelled 0.5, 1, 2 rather than 5x10^-1 (minor ticks: 2 and 5 only)."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _: Any) -> str:
        if value <= 0:
            return ""
        lead = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
        return f"{value:g}" if lead in (1, 2, 5) else ""

    for axis in [ax.xaxis] * ("x" in axes) + [ax.yaxis] * ("y" in axes):
        axis.set_major_formatter(FuncFormatter(label))
        axis.set_minor_formatter(FuncFormatter(label))


def draw_plots(
    rows: Sequence[Row], out_dir: str | Path, pareto_res: int | None = None
) -> list[tuple[str, Path]]:
    """Draw every plot the rows allow into ``out_dir``; return ``(caption, path)`` pairs."""
    ok = [r for r in rows if r["status"] == "ok" and r["macs"] is not None]
    out = Path(out_dir)
    with file_errors(out, "create the folder"):
        out.mkdir(parents=True, exist_ok=True)
    if not ok:
        return []
    heights = sorted({r["height"] for r in ok})
    if pareto_res is not None and pareto_res not in heights:
        raise InvalidArgumentError(
            f"pareto_res {pareto_res}: no ok result has that input height; "
            f"use one of {', '.join(map(str, heights))}"
        )
    with _matplotlib().rc_context(LITERAL_TEXT):
        drawn = [
            ("GMACs against resolution (median per family)", _by_family(ok, "gmacs", out)),
            ("Final k x k map at each resolution", _k_plot(ok, out)),
        ]
        if any(r["latency_ms"] is not None for r in ok):
            caption = "Latency against resolution (median per family)"
            drawn.append((caption, _by_family(ok, "latency_ms", out)))
        drawn.append(_pareto(ok, out, pareto_res))
        if any(r["top1"] is not None for r in ok):
            drawn.append(_accuracy_pareto(ok, out, pareto_res))
    return drawn


def _by_family(rows: Sequence[Row], field: str, out: Path) -> Path:
    """One line per family (the largest ones): median of ``field`` at each input height."""
    sizes = Counter(r["family"] for r in {r["model"]: r for r in rows}.values())
    figure = _figure()
    ax = figure.add_subplot()
    for i, (fam, _) in enumerate(sizes.most_common(MAX_FAMILIES)):
        points = defaultdict(list)
        for r in rows:
            if r["family"] == fam and r[field] is not None:
                points[r["height"]].append(r[field])
        xs = sorted(points)
        style = "-" if i < 10 else "--"  # the default cycle has 10 colours
        ys = [median(points[x]) for x in xs]
        ax.plot(xs, ys, style, marker="o", label=f"{fam} ({sizes[fam]})")
    unit = "GMACs" if field == "gmacs" else "latency (ms)"
    ax.set_xticks(sorted({r["height"] for r in rows}))
    ax.set(xlabel="input height (px)", ylabel=unit, yscale="log", title=f"{unit} by family")
    ax.legend(fontsize="small", ncols=2)
    ax.grid(True, which="both", alpha=0.3)
    _plain_log_ticks(ax, "y")
    path = out / f"{field}_vs_res.png"
    save_figure(figure, path)
    return path


def _k_plot(rows: Sequence[Row], out: Path) -> Path:
    """Small sweeps: models x resolutions with k written in; large: models per (res, k)."""
    resolutions = sorted({(r["height"], r["width"]) for r in rows})
    models = list(dict.fromkeys(r["model"] for r in rows))
    path = out / "k_by_res.png"
    if len(models) <= MAX_GRID_MODELS:
        grid = [[math.nan] * len(resolutions) for _ in models]
        for r in rows:
            grid[models.index(r["model"])][resolutions.index((r["height"], r["width"]))] = r["k"]
        figure = _figure(2 + 1.2 * len(resolutions), 1.5 + 0.3 * len(models))
        ax = figure.add_subplot()
        ax.imshow(grid, cmap="RdYlGn_r", vmin=0, vmax=20, aspect="auto")
        for i, row in enumerate(grid):
            for j, k in enumerate(row):
                if not math.isnan(k):
                    ax.text(j, i, f"{k:.0f}", ha="center", va="center", fontsize="small")
        ax.set_yticks(range(len(models)), models, fontsize="small")
    else:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ks = sorted({r["k"] for r in rows if r["k"] is not None}) or [1]
        counts = Counter((resolutions.index((r["height"], r["width"])), r["k"]) for r in rows)
        figure = _figure(2 + 1.5 * len(resolutions), 6)
        ax = figure.add_subplot()
        points = [(x, k, n) for (x, k), n in counts.items() if k is not None]
        xs, ys, ns = zip(*points, strict=True) if points else ((), (), ())
        ax.scatter(xs, ys, s=[20 + 3 * n for n in ns], alpha=0.6)
        for x, y, n in zip(xs, ys, ns, strict=True):
            ax.annotate(str(n), (x, y), fontsize="x-small", ha="center", va="center")
        ax.axhspan(K_MIN, K_MAX, color="green", alpha=0.1, label=f"k in {K_MIN}..{K_MAX}")
        ax.set(ylabel="k (final map height)", yscale="log", ylim=(min(ks) * 0.8, max(ks) * 1.3))
        ax.set_yticks([k for k in (1, 2, 3, 5, 7, 9, 14, 20, 28, 40, 56) if k <= max(ks) * 1.3])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize="small")
    ax.set_xticks(range(len(resolutions)), [f"{h}x{w}" for h, w in resolutions])
    ax.set(
        xlabel="input",
        title="Final k x k map" + (" (models per size)" if len(models) > MAX_GRID_MODELS else ""),
    )
    save_figure(figure, path)
    return path


def _pareto(rows: Sequence[Row], out: Path, pareto_res: int | None) -> tuple[str, Path]:
    """Cost (latency if measured, else GMACs) against params at one resolution, front marked."""
    res = _plot_resolution(rows, pareto_res)
    cost = "latency_ms" if any(r["latency_ms"] is not None for r in rows) else "gmacs"
    pts = [r for r in rows if r["height"] == res and r[cost] and r["params_m"]]
    figure = _figure()
    ax = figure.add_subplot()
    if pts:
        ax.scatter([r["params_m"] for r in pts], [r[cost] for r in pts], s=10, alpha=0.4)
        front = [pts[i] for i in pareto_front([(r["params_m"], r[cost]) for r in pts])]
        fx, fy = [r["params_m"] for r in front], [r[cost] for r in front]
        ax.plot(fx, fy, "r.-", label=f"Pareto front ({len(front)} models)")
        _label_front(ax, front, "params_m", cost)
        ax.legend(fontsize="small")
    unit = "latency (ms)" if cost == "latency_ms" else "GMACs"
    ax.set(xscale="log", yscale="log", xlabel="params (M)", ylabel=unit)
    ax.set(title=f"{unit} against params at {res} px (lower left is better)")
    _plain_log_ticks(ax)
    ax.grid(True, which="both", alpha=0.3)
    path = out / "pareto.png"
    save_figure(figure, path)
    return f"Pareto plot: {unit} against params at {res} px", path


def front_labels(xs: Sequence[float], most: int = MAX_LABELS) -> list[int]:
    """Which points of a front (``xs`` > 0, drawn on a log axis) to label: both ends, and at
    most ``most`` between them, each the point nearest one of ``most`` evenly spaced places
    on the log axis and at least half a spacing from every other label (so labels of a
    crowded stretch do not overlap; a sparse stretch just gets fewer).

    Example:
        >>> front_labels([1, 2, 4, 8, 16, 32], most=2)
        [0, 2, 3, 5]
    """
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    if len(order) <= 2:
        return sorted(order)
    logs = {i: math.log(xs[i]) for i in order}
    low, high = logs[order[0]], logs[order[-1]]
    spacing = (high - low) / (most + 1)
    picked = [order[0], order[-1]]
    inner = order[1:-1]
    for j in range(1, most + 1):
        place = low + j * spacing
        near = min(inner, key=lambda i: abs(logs[i] - place), default=None)
        if near is not None and all(abs(logs[near] - logs[p]) >= spacing / 2 for p in picked):
            picked.append(near)
            inner.remove(near)
    return sorted(picked)


def _label_front(ax: Any, front: Sequence[Row], x: str, y: str) -> None:
    """Name the models ``front_labels`` picks, alternately above and below the line."""
    chosen = sorted(front_labels([r[x] for r in front]), key=lambda i: front[i][x])
    for n, i in enumerate(chosen):
        r = front[i]
        ax.annotate(
            r["model"],
            (r[x], r[y]),
            xytext=(4, 8 if n % 2 == 0 else -12),
            textcoords="offset points",
            fontsize="x-small",
        )


def draw_scale_plot(s: Scaling, path: str | Path) -> Path:
    """Log-log GMACs and training-step GMACs against the side, the fitted law dashed (with its
    r^2 and r^4 parts dotted where both count); latency on its own axis when measured."""
    law = s.law
    measured = s.device is not None
    figure = _figure(12.0 if measured else 8.0, 5.0)
    ax = figure.add_subplot(1, 2 if measured else 1, 1)
    sides = s.sides
    grid = [law.low * (law.high / law.low) ** (i / 99) for i in range(100)]
    ax.plot(sides, [p.macs / 1e9 for p in s.points], "o-", label="MACs (inference)")
    ax.plot(sides, [p.train_macs / 1e9 for p in s.points], "s-", label="MACs (training step)")
    fit = f"fit {law.quadratic:.3g} r^2 + {law.quartic:.3g} r^4"
    ax.plot(grid, [law.macs(r) / 1e9 for r in grid], "k--", label=fit)
    if law.quartic > 0 and law.quadratic > 0:
        ax.plot(grid, [law.quadratic * r**2 / 1e9 for r in grid], ":", label="r^2 part")
        ax.plot(grid, [law.quartic * r**4 / 1e9 for r in grid], ":", label="r^4 part (attention)")
    ax.set(xscale="log", yscale="log", xlabel="input side r (px)", ylabel="GMACs")
    ax.set(title=f"{s.model}: cost against input side (exponent {s.exponent or 0:.2f})")
    _finish(ax, sides)
    if measured:
        lat = figure.add_subplot(1, 2, 2)
        points = [(p.side, p.latency_s * 1e3) for p in s.points if p.latency_s is not None]
        lat.plot(*zip(*points, strict=True), "o-", color="C3", label=f"median latency ({s.device})")
        lat.set(xscale="log", yscale="log", xlabel="input side r (px)", ylabel="latency (ms)")
        lat.set(title="Latency at batch 1")
        _finish(lat, sides)
    return save_figure(figure, Path(path))


def _finish(ax: Any, sides: Sequence[int]) -> None:
    """Ticks at the measured sides, plain log labels, legend and grid."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xticks(sides)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    _plain_log_ticks(ax, "y")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)


def _plot_resolution(rows: Sequence[Row], pareto_res: int | None) -> int:
    """The input height the Pareto plots use: asked, else 224 if swept, else the most common."""
    heights = Counter(r["height"] for r in rows)
    return pareto_res or (224 if 224 in heights else heights.most_common(1)[0][0])


def _accuracy_pareto(rows: Sequence[Row], out: Path, pareto_res: int | None) -> tuple[str, Path]:
    """Published ImageNet top-1 against GMACs at one resolution, the accuracy-cost front marked
    (the models the accuracy table has; top-1 is at the weights' own evaluation size)."""
    res = _plot_resolution(rows, pareto_res)
    pts = [r for r in rows if r["height"] == res and r["gmacs"] and r["top1"] is not None]
    figure = _figure()
    ax = figure.add_subplot()
    if pts:
        ax.scatter([r["gmacs"] for r in pts], [r["top1"] for r in pts], s=10, alpha=0.4)
        front = [pts[i] for i in pareto_front([(r["gmacs"], -r["top1"]) for r in pts])]
        fx, fy = [r["gmacs"] for r in front], [r["top1"] for r in front]
        ax.plot(fx, fy, "r.-", label=f"accuracy-cost front ({len(front)} models)")
        _label_front(ax, front, "gmacs", "top1")
        ax.legend(fontsize="small")
    ax.set(xscale="log", xlabel=f"GMACs at {res} px", ylabel="ImageNet-1k top-1 (%), published")
    ax.set(title=f"Published top-1 against GMACs at {res} px (upper left is better)")
    _plain_log_ticks(ax, "x")
    ax.grid(True, which="both", alpha=0.3)
    path = out / "accuracy_pareto.png"
    save_figure(figure, path)
    return f"Pareto plot: published ImageNet top-1 against GMACs at {res} px", path


def draw_data_plot(stats: DatasetStats, path: str | Path) -> Path:
    """``archcalc data --plot``: the histogram of relative object sizes with P10, the median and
    the decisive object marked (for a set without boxes, the counts of its most common image
    sizes)."""
    figure = _figure(8.0, 4.5)
    ax = figure.add_subplot(1, 1, 1)
    if stats.histogram is not None and stats.object_rel is not None:
        edges = [i / len(stats.histogram) for i in range(len(stats.histogram))]
        ax.bar(edges, stats.histogram, width=1 / len(stats.histogram), align="edge")
        marks = [(stats.object_rel.p10, "P10", ":"), (stats.object_rel.median, "median", "--")]
        if stats.decisive_rel is not None:
            marks.append((stats.decisive_rel, "decisive (largest per image, median)", "-."))
        for value, name, style in marks:
            ax.axvline(value, color="k", linestyle=style, label=f"{name} {value:.3f}")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set(xlabel="object size rel = sqrt(box area / image area)", ylabel="boxes", xlim=(0, 1))
        ax.set(title=f"{stats.path}: {stats.boxes} boxes in {stats.images} images")
    else:
        labels = [f"{s.width}x{s.height}" for s in stats.common_sizes]
        ax.bar(labels, [s.count for s in stats.common_sizes], label="images")
        ax.set(xlabel="image size (px)", ylabel="images")
        ax.set(title=f"{stats.path}: the most common of {stats.images} image sizes (no boxes)")
    ax.legend()
    out = Path(path)
    try:
        figure.savefig(out)
    except OSError as e:
        raise InvalidArgumentError(f"cannot write the plot to {out}: {e.strerror or e}") from e
    return out
