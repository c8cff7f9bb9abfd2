"""``archcalc targets``, ``calibrate`` and ``predict``: predicted latency on other devices.

Every figure these commands print is a prediction, labelled with its target, dtype, batch
and the target's measured error band; measured latency stays with ``bench``/``--latency``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from archcalc.cli.options import dtype_option
from archcalc.errors import InvalidArgumentError

__all__ = ["calibrate_command", "predict_command", "target_option", "targets_command"]


def target_option() -> Any:
    """``--target NAME|FILE``: predict latency on a device profile (see ``archcalc targets``);
    the command receives the loaded ``DeviceProfile`` (None without the option)."""
    return click.option(
        "--target",
        default=None,
        metavar="NAME|FILE",
        callback=_load_target,
        help="Add PREDICTED latency/throughput on this device profile (archcalc targets).",
    )


def _load_target(_ctx: click.Context, _param: click.Parameter, spec: str | None) -> Any:
    """The ``DeviceProfile`` named by ``spec`` (torch loads only when a target is given)."""
    if spec is None:
        return None
    from archcalc.timing.predict.targets import load_target

    return load_target(spec)


@click.command("targets")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def targets_command(fmt: str) -> None:
    """List the device profiles --target accepts: shipped ones (calibrated on timm's published
    benchmark tables) and those saved by 'archcalc calibrate', with provenance and measured
    prediction error."""
    import json

    from archcalc.display import output_width, render_table
    from archcalc.timing.predict.targets import broken_targets, known_targets, target_to_dict

    known, broken = known_targets(), broken_targets()
    if fmt == "json":
        listed = {n: {"where": w, **target_to_dict(d)} for n, (w, d) in known.items()}
        listed |= {n: {"where": w, "broken": problem} for n, (w, problem) in broken.items()}
        click.echo(json.dumps(listed))
        return
    rows = []
    for name, (where, d) in known.items():
        repository = d.source.get("repository") or "-"
        src = d.source.get("file") or d.source.get("measured") or "-"
        err = d.error
        error = (
            f"{err['median_pct']:.1f} % / {err['p90_pct']:.1f} % ({err.get('method', '?')})"
            if err
            else "not measured"
        )
        date = d.source.get("file_date", "-")
        rows.append([name, d.kind, _deployment(d), src, repository, date, error, where])
    for name, (where, why) in broken.items():
        rows.append([name, "-", "-", "-", "-", "-", f"BROKEN: {why}", where])
    headers = ["target", "kind", "deployment", "calibrated on", "repository", "date"]
    headers += ["error median / P90", "where"]
    click.echo(render_table(headers, rows, "table", width=output_width()))


@click.command("calibrate")
@click.argument("name", required=False)
@click.option("--from", "source", type=click.Path(path_type=Path), help="Measured table (CSV).")
@click.option("--device", type=click.Choice(["cpu"]), help="Measure this machine's CPU instead.")
@click.option("--kind", type=click.Choice(["gpu", "cpu"]), default=None, help="[default: guess]")
@dtype_option(None, "The dtype the table measured (timm's amp: float16). [default: guess]")
@click.option(
    "--reparameterize",
    is_flag=True,
    help="The table was measured on deploy forms (timm's reparameterize_model).",
)
@click.option(
    "--compiled/--eager",
    default=None,
    help="Measured under torch.compile or eagerly.  [default: guess, eager]",
)
@click.option(
    "--layout",
    type=click.Choice(["nchw", "channels_last"]),
    default=None,
    help="Memory layout measured.  [default: guess, nchw]",
)
@click.option("--torch-version", default=None, help="torch measured with.  [default: guess]")
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="CPU threads for --device cpu."
)
@click.option("--seconds", type=float, default=60.0, show_default=True, help="--device cpu budget.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the profile here.")
def calibrate_command(
    name: str | None,
    source: Path | None,
    device: str | None,
    kind: str | None,
    dtype: str | None,
    reparameterize: bool,
    compiled: bool | None,
    layout: str | None,
    torch_version: str | None,
    threads: int | None,
    seconds: float,
    out: Path | None,
) -> None:
    """Fit a device profile (NAME) from a measured table (--from FILE.csv: timm benchmark.py
    CSV or archcalc bench --format json), or time this machine's CPU (--device cpu, about a
    minute). Saved in the cache folder (or --out); use it with --target NAME. Kind, dtype,
    compilation, layout and torch version are read from timm's file names (amp: float16,
    fp32: float32; nchw/nhwc, pt291, -dynamo) unless given; the fit starts from the shipped
    target that matches them best."""
    from archcalc.files import refuse_overwriting
    from archcalc.timing.predict.calibrate import (
        calibrate,
        calibrate_cpu,
        default_source,
        guess_settings,
    )
    from archcalc.timing.predict.tables import read_table
    from archcalc.timing.predict.targets import check_target_name, save_target

    if source is not None and device is not None:
        raise InvalidArgumentError("calibrate takes --from FILE.csv or --device cpu, not both")
    if name is not None:
        check_target_name(name)
    if source is not None:
        refuse_overwriting({"--out": out}, [source], "the measured table read (--from)")
    if device == "cpu":
        if (
            compiled
            or layout not in (None, "nchw")
            or kind == "gpu"
            or dtype not in (None, "float32")
        ):
            raise InvalidArgumentError("--device cpu measures eager float32 NCHW on this CPU")
        fitted, use = calibrate_cpu(name or "cpu", seconds=seconds, threads=threads)
    elif source is not None:
        if name is None:
            raise InvalidArgumentError("calibrate --from needs a NAME for the new target")
        rows, _ = read_table(source, need_throughput=True)
        settings = guess_settings(
            source, kind, dtype, compiled=compiled, layout=layout, torch_version=torch_version
        )
        options = {"reparameterize": reparameterize, "source": default_source(source)}
        fitted, use = calibrate(name, rows, **settings, **options)
    else:
        raise InvalidArgumentError("calibrate needs exactly one of --from FILE.csv or --device cpu")
    path = save_target(fitted, out)
    err = fitted.error
    click.echo(
        f"{fitted.name}: {len(use.rows)} rows used, {use.unknown} unknown-model and "
        f"{use.no_throughput} no-throughput rows skipped; in-sample error "
        f"{err['median_pct']:.1f} % median, {err['p90_pct']:.1f} % P90; {_deployment(fitted)}, "
        f"started from {fitted.source.get('prior', '?')}; saved {path}"
    )


def _deployment(target: Any) -> str:
    """``float16, compiled, channels_last, torch 2.9.1``: how a target's device ran the models
    (and ``memory curve`` when it has one)."""
    d = target.deployment
    parts = [target.dtype, "compiled" if d.compiled else "eager", d.layout]
    curve = [] if d.memory_curve is None else ["memory curve"]
    return ", ".join([*parts, f"torch {d.torch_version or '?'}", *curve])


@click.command("predict")
@click.option("--target", required=True, metavar="NAME|FILE", help="Device profile.")
@click.option("--from", "source", required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "table"]), default="csv")
@click.option(
    "--reparameterize",
    is_flag=True,
    help="Predict deploy forms (timm's reparameterize_model: RepVGG, MobileOne, FastViT...).",
)
def predict_command(target: str, source: Path, fmt: str, reparameterize: bool) -> None:
    """Write the table FILE.csv (timm format: model, infer_img_size, infer_batch_size) back
    with two PREDICTED columns for --target: pred_samples_per_sec and pred_latency_ms (ms per
    batch). Rows whose model cannot be traced are left empty and counted on stderr."""
    from archcalc.errors import ArchcalcError
    from archcalc.timing.predict.api import predict
    from archcalc.timing.predict.tables import read_table, write_predicted
    from archcalc.timing.predict.targets import load_target

    profile = load_target(target)
    rows, columns = read_table(source, need_throughput=False)
    out: list[Any] = []
    failed = 0
    for row in rows:
        try:
            p = predict(
                row.model,
                row.size,
                target=profile,
                batch_size=row.batch_size,
                reparameterize=reparameterize,
            )
        except ArchcalcError:
            failed += 1
            out.append((row, None, None))
            continue
        out.append((row, p.samples_per_sec, p.latency_ms))
    click.echo(write_predicted(out, columns, fmt))
    band = profile.band
    click.echo(
        f"predicted on {profile.name} ({profile.dtype}), {band}; {failed} row(s) not predicted",
        err=True,
    )
