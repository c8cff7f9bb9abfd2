"""``archcalc bench``: measured latency, spread, throughput and memory per (resolution, batch)."""

from __future__ import annotations

import click

from archcalc.cli.options import dtype_option, format_option, reparameterize_option, res_option
from archcalc.cli.progress import ProgressBar

__all__ = ["bench_command"]

EPILOG = """\b
Examples:
  archcalc bench resnet18 --res 224
  archcalc bench resnet50 --res 224 --batch-size 1 --batch-size 8 --batch-size 32
  archcalc bench resnet50 --device cuda --dtype float16 --channels-last --find-max-batch
  archcalc bench mobilenetv3_large_100 --res 224 --res 448 --threads 1 --format json
"""


@click.command("bench", epilog=EPILOG)
@click.argument("model")
@res_option()
@click.option(
    "--batch-size",
    "batch_sizes",
    type=int,
    multiple=True,
    default=(1,),
    show_default=True,
    help="Images per batch. Repeat for several.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@dtype_option()
@click.option("--channels-last", is_flag=True, help="NHWC weights and input.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile first (timed apart).")
@click.option("--threads", type=int, default=None, help="CPU threads [default: all cores].")
@click.option(
    "--min-time",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds of timed runs per row (at least 10 runs).",
)
@click.option(
    "--find-max-batch",
    is_flag=True,
    help="Also find the largest batch that fits (CUDA: tried; CPU: from the memory estimate).",
)
@reparameterize_option()
@format_option()
def bench_command(
    model: str,
    resolutions: tuple[tuple[int, int], ...],
    batch_sizes: tuple[int, ...],
    device: str,
    dtype: str,
    channels_last: bool,
    compile_: bool,
    threads: int | None,
    min_time: float,
    find_max_batch: bool,
    reparameterize: bool,
    fmt: str,
) -> None:
    """Measure the forward latency of MODEL (a timm name, random weights) at each --res and
    --batch-size: median and p10-p90 in ms, images/s, peak memory and MACs.

    Warm-up first, then per-iteration samples until --min-time is spent; a row that does
    not fit in memory says so and the others are still measured."""
    from archcalc.display import notes_text
    from archcalc.report.tables import (
        BENCH_HEADERS,
        bench_notes,
        bench_rows,
        render_json,
        render_table,
    )

    with ProgressBar("bench") as bar:
        bar.step(0, None, "loading torch and timm")
        from archcalc.timing.bench import bench
        from archcalc.timing.measure import TimingSettings

        settings = TimingSettings(
            device=device,
            dtype=dtype,
            channels_last=channels_last,
            compile=compile_,
            threads=threads,
            min_run_time_s=min_time,
        )
        report = bench(
            model,
            resolutions,
            batch_sizes,
            settings=settings,
            find_max_batch=find_max_batch,
            reparameterize=reparameterize,
            progress=bar.step,
        )
    if fmt == "json":
        click.echo(render_json(report.to_dict()))
        return
    text = render_table(BENCH_HEADERS, bench_rows(report), fmt)
    if fmt == "table":
        text += "\n\n" + notes_text(bench_notes(report))
    click.echo(text)
