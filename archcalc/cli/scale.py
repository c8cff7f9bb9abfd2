"""``archcalc scale``: MACs, training-step MACs and memory across input sizes, and their law."""

from __future__ import annotations

import click

from archcalc.cli.options import convention_option, format_option
from archcalc.cli.progress import ProgressBar

__all__ = ["scale_command"]

EPILOG = """\b
Examples:
  archcalc scale resnet50
  archcalc scale vit_base_patch16_224 --min 112 --max 896 --steps 6 --plot vit.png
  archcalc scale swin_tiny_patch4_window7_224 --max 896 --format json
  archcalc scale resnet18 --max 448 --steps 5 --latency
"""


@click.command("scale", epilog=EPILOG)
@click.argument("model")
@click.option("--min", "low", type=int, default=96, show_default=True, help="Smallest side.")
@click.option("--max", "high", type=int, default=896, show_default=True, help="Largest side.")
@click.option("--steps", type=int, default=10, show_default=True, help="How many sizes.")
@click.option("--latency", is_flag=True, help="Also measure the median latency per size (slow).")
@click.option("--device", default="cpu", show_default=True, help="Device for --latency: cpu, cuda.")
@click.option("--in-chans", type=int, default=3, show_default=True, help="Input channels.")
@click.option("--output-stride", type=int, default=None, help="Build with this global stride.")
@convention_option()
@click.option("--plot", "plot_file", default=None, metavar="FILE.png", help="Draw the curves.")
@format_option()
def scale_command(
    model: str,
    low: int,
    high: int,
    steps: int,
    latency: bool,
    device: str,
    in_chans: int,
    output_stride: int | None,
    convention: str,
    plot_file: str | None,
    fmt: str,
) -> None:
    """Profile MODEL at --steps sizes from --min to --max (each the nearest size it accepts)
    and print per size: final k x k, MACs, training-step MACs, activation and training-step
    memory; then fit MACs ~ a r^2 + b r^4 and give the r^4 (global-attention) share and the
    exponent between neighbouring sizes. Everything runs on the meta device but --latency."""
    from archcalc.display import notes_text
    from archcalc.profiling.scale import scale, scale_notes, scale_table
    from archcalc.report.tables import render_json, render_table

    with ProgressBar("scale") as bar:
        result = scale(
            model,
            low,
            high,
            steps=steps,
            latency=latency,
            device=device,
            convention=convention,
            in_chans=in_chans,
            output_stride=output_stride,
            progress=bar.step,
        )
    if plot_file is not None:
        from archcalc.report.plots import draw_scale_plot

        draw_scale_plot(result, plot_file)
    if fmt == "json":
        click.echo(render_json(result.to_dict()))
        return
    text = render_table(*scale_table(result), fmt)
    if fmt == "table":
        text += "\n\n" + notes_text(scale_notes(result))
    click.echo(text)
