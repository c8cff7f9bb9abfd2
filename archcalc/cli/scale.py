"""``archcalc scale``: MACs, training-step MACs and memory across input sizes, and their law."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from archcalc.cli.latency import target_option
from archcalc.cli.options import batch_size_option, convention_option, format_option
from archcalc.cli.progress import ProgressBar

if TYPE_CHECKING:
    from archcalc.timing.predict.model import DeviceProfile

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
@target_option()
@batch_size_option("Batch for --target.")
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
    target: DeviceProfile | None,
    batch_size: int,
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
    predictions = []
    if target is not None:
        from archcalc.timing.predict.api import predict_sizes

        sides = [p.side for p in result.points]
        options = {"in_chans": in_chans, "output_stride": output_stride}
        predictions = predict_sizes(model, sides, target, batch_size, **options)
    if plot_file is not None:
        from archcalc.report.plots import draw_scale_plot

        draw_scale_plot(result, plot_file)
    if fmt == "json":
        data = result.to_dict()
        for point, p in zip(data["points"], predictions, strict=False):
            point["prediction"] = p.to_dict()
        click.echo(render_json(data))
        return
    headers, rows = scale_table(result)
    if predictions:
        from archcalc.report.prediction import prediction_columns

        headers, rows = prediction_columns(headers, rows, predictions)
    text = render_table(headers, rows, fmt)
    if fmt == "table":
        notes = scale_notes(result)
        if predictions:
            from archcalc.report.prediction import prediction_notes

            notes = [*notes, prediction_notes(predictions)[0]]
        text += "\n\n" + notes_text(notes)
    click.echo(text)
