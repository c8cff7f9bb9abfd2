"""``archcalc report``: a sweep's JSONL -> summary, errors by reason, filtered table, plots."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from archcalc.cli.latency import target_option
from archcalc.cli.options import batch_size_option
from archcalc.report.documents import REPORT_FORMATS
from archcalc.report.rows import FIELDS

if TYPE_CHECKING:
    from archcalc.timing.predict.model import DeviceProfile

__all__ = ["report_command"]

EPILOG = """\b
Examples:
  archcalc report zoo.jsonl -o report.md --plots plots
  archcalc report zoo.jsonl --where "k>=5 and k<=9 and gmacs<2" --sort gmacs
  archcalc report zoo.jsonl --k-range 5 9 --max-gmacs 2 --format csv -o picks.csv
  archcalc report zoo.jsonl --format html -o report.html --where "k<=9 and gmacs<2"
\b
--where fields: {fields}
""".format(fields=textwrap.fill(" ".join(FIELDS), 90, subsequent_indent="  "))


@click.command("report", epilog=EPILOG)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report here (default: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="markdown",
    show_default=True,
    help="Report format; csv = the table only.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Draw PNG plots into this folder and link them (needs matplotlib).",
)
@click.option("--where", help='Filter rows, e.g. "k>=5 and k<=9 and gmacs<2" (fields below).')
@click.option("--k-range", type=(int, int), metavar="LO HI", help="Keep final maps LO <= k <= HI.")
@click.option("--max-gmacs", type=float, help="Keep rows with at most this many GMACs.")
@click.option("--max-params-m", type=float, help="Keep rows with at most this many M params.")
@click.option("--max-latency-ms", type=float, help="Keep rows at most this slow (ms).")
@click.option(
    "--sort",
    "sort_keys",
    default="model,res",
    show_default=True,
    help="Comma-separated fields; -field sorts descending (e.g. -gmacs).",
)
@click.option(
    "--errors/--no-errors",
    "with_errors",
    default=False,
    help="Also list error rows in the results table.",
)
@click.option(
    "--pareto-res",
    type=int,
    help="Input height of the Pareto plots (PNG and HTML; default 224).",
)
@click.option(
    "--include-test",
    is_flag=True,
    help="Keep rows of timm's test_* toy architectures (left out by default).",
)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary (counts, errors by reason) as JSON here.",
)
@target_option()
@batch_size_option("Batch for --target.")
def report_command(
    files: tuple[Path, ...],
    output: Path | None,
    fmt: str,
    plots_dir: Path | None,
    where: str | None,
    k_range: tuple[int, int] | None,
    max_gmacs: float | None,
    max_params_m: float | None,
    max_latency_ms: float | None,
    sort_keys: str,
    with_errors: bool,
    pareto_res: int | None,
    include_test: bool,
    summary_json: Path | None,
    target: DeviceProfile | None,
    batch_size: int,
) -> None:
    """Summarise sweep FILES (JSONL, .jsonl.gz): models, resolutions, errors by reason, a
    sorted and filtered table, and plots (cost against resolution, k x k, Pareto front)."""
    from archcalc.report.documents import render_report
    from archcalc.report.rows import filter_rows, sort_rows, summarise
    from archcalc.report.tables import render_json

    _check_outputs(files, fmt, plots_dir, pareto_res, output=output, summary_json=summary_json)
    rows, skipped = _load(files, include_test)
    if target is not None:
        from archcalc.timing.predict.api import annotate_rows

        missed = annotate_rows(rows, target, batch_size)
        if missed:
            click.echo(f"archcalc: {missed} row(s) without a prediction on {target.name}", err=True)
    bounds = dict(max_gmacs=max_gmacs, max_params_m=max_params_m, max_latency_ms=max_latency_ms)
    picked = filter_rows(rows, where=where, k_range=k_range, **bounds)
    picked = sort_rows([r for r in picked if with_errors or r["status"] == "ok"], sort_keys)
    summary = summarise(rows)
    plots = []
    if plots_dir is not None:
        from archcalc.report.plots import draw_plots

        base = (output or Path("report")).resolve().parent
        chosen = {r["model"] for r in picked}  # plot every size of each model the filter kept
        drawn = draw_plots([r for r in rows if r["model"] in chosen], plots_dir, pareto_res)
        if any(r.get("pred_samples_per_sec") for r in rows):  # --target, or sweep --target
            from archcalc.report.prediction_plot import draw_accuracy_throughput

            extra = draw_accuracy_throughput([r for r in rows if r["model"] in chosen], plots_dir)
            drawn += [extra] if extra else []
        plots = [(c, Path(os.path.relpath(p.resolve(), base)).as_posix()) for c, p in drawn]
    filters = "; ".join(
        f"{name} {value}" for name, value in [("where", where), ("k in", k_range), *bounds.items()]
        if value is not None
    )  # fmt: skip
    title = f"archcalc sweep report: {', '.join(f.name for f in files)}"
    if fmt == "html":
        text = _html(files, sort_rows(rows, sort_keys), summary, plots, title, with_errors,
                     pareto_res, where=where, k_range=k_range, **bounds)  # fmt: skip
    else:
        text = render_report(summary, picked, plots, fmt=fmt, title=title, filters=filters)
    if summary_json is not None:
        _write(summary_json, render_json(summary.to_dict()) + "\n")
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(output, text)
    if skipped:
        click.echo(f"archcalc: skipped {skipped} (unreadable, or JSON of another kind)", err=True)


def _html(
    files: tuple[Path, ...],
    rows: list[dict[str, Any]],
    summary: Any,
    plots: list[tuple[str, str]],
    title: str,
    with_errors: bool,
    pareto_res: int | None,
    **start: Any,
) -> str:
    """The interactive page: every row, the command's filters as its starting filters."""
    from archcalc.report.html import StartFilters, render_html_report
    from archcalc.report.page_data import read_context

    return render_html_report(
        summary, rows, read_context(files), title=title, files=[f.name for f in files],
        start=StartFilters(**start), with_errors=with_errors, pareto_res=pareto_res, plots=plots,
    )  # fmt: skip


def _load(files: tuple[Path, ...], include_test: bool) -> tuple[list[dict[str, Any]], str]:
    """The rows of FILES (timm's ``test_*`` models left out unless ``include_test``) and a
    note on the lines skipped ("" if none); no result at all is a mistake (an empty or
    foreign file), not an empty report."""
    from archcalc.checks import is_test_model
    from archcalc.errors import InvalidArgumentError
    from archcalc.report.rows import load_rows

    rows, bad = load_rows(files)
    rows = [r for r in rows if include_test or not is_test_model(r["model"])]
    skipped = f"{bad} line(s) that are not sweep results" if bad else ""
    if not rows:
        raise InvalidArgumentError(
            f"no sweep results in {', '.join(map(str, files))}{f' ({skipped})' if bad else ''}: "
            "give the --out file of 'archcalc sweep'"
        )
    return rows, skipped


def _check_outputs(
    files: tuple[Path, ...],
    fmt: str,
    plots_dir: Path | None,
    pareto_res: int | None,
    **outputs: Path | None,
) -> None:
    """Refuse options that would be silently ignored (plots in a CSV, --pareto-res without
    plots) and writing the report over one of the sweep files it reads (that would lose it)."""
    from archcalc.errors import InvalidArgumentError

    if pareto_res is not None and plots_dir is None and fmt != "html":
        raise InvalidArgumentError(
            "--pareto-res sets the Pareto plot's size: add --plots DIR (or use --format html)"
        )
    if plots_dir is not None and fmt == "csv":
        raise InvalidArgumentError("a CSV holds the table only: drop --plots or use markdown/html")
    inputs = {f.resolve() for f in files}
    for option, path in outputs.items():
        if path is not None and path.resolve() in inputs:
            flag = "-o" if option == "output" else "--" + option.replace("_", "-")
            raise InvalidArgumentError(
                f"{flag} {path} is one of the sweep files read: writing it would lose the "
                "sweep; choose another file"
            )


def _write(path: Path, text: str) -> None:
    from archcalc.checks import file_errors

    with file_errors(path, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
