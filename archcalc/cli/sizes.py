"""``archcalc sizes``: the input sizes a model accepts in a range, and the k x k each gives."""

from __future__ import annotations

from typing import Any

import click

from archcalc.cli.options import cache_arguments, format_option, no_cache_option
from archcalc.cli.progress import ProgressBar

__all__ = ["sizes_command"]

EPILOG = """\b
Examples:
  archcalc sizes swin_tiny_patch4_window7_224
  archcalc sizes vit_base_patch16_224 --min 32 --max 512
  archcalc sizes convnext_tiny --all --max 64 --format json
"""


@click.command("sizes", epilog=EPILOG)
@click.argument("model")
@click.option("--min", "low", type=int, default=32, show_default=True, help="Smallest side.")
@click.option("--max", "high", type=int, default=1024, show_default=True, help="Largest side.")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="List every side that runs, not only aligned ones (no pixel dropped, no padded window).",
)
@click.option("--in-chans", type=int, default=3, show_default=True, help="Input channels.")
@click.option("--output-stride", type=int, default=None, help="Build with this global stride.")
@no_cache_option()
@format_option()
def sizes_command(
    model: str,
    low: int,
    high: int,
    every: bool,
    in_chans: int,
    output_stride: int | None,
    no_cache: bool,
    fmt: str,
) -> None:
    """List the square input sizes between --min and --max at which MODEL runs, with the
    final k x k map each gives.

    The rules (patch size, window x patch x downsampling, fixed position embeddings, the
    smallest size before a map vanishes, the global stride) are read off the model's own
    modules in one meta forward; no weights are downloaded. Answers are cached (see
    'archcalc cache --help')."""
    from archcalc.cli.result_cache import cached
    from archcalc.display import notes_text, render_json, render_table
    from archcalc.sizes.validity import SIZE_HEADERS, SizeRange

    def compute() -> dict[str, Any]:
        with ProgressBar("sizes") as bar:
            bar.step(0, 1, f"reading the size rules of {model}")
            from archcalc.profiling.accepts import size_range

            options = {"in_chans": in_chans, "output_stride": output_stride}
            return size_range(model, low, high, aligned=not every, **options).to_dict()

    found = cached("sizes", cache_arguments(), compute, SizeRange.from_dict, enabled=not no_cache)
    if fmt == "json":
        click.echo(render_json(found.to_dict()))
        return
    rows = found.rows()
    empty = f"(no size between {low} and {high} runs)"
    if not every:
        empty = f"(no aligned size between {low} and {high}; --all lists every size that runs)"
    text = render_table(SIZE_HEADERS, rows, fmt) if rows else empty
    if fmt == "table":
        text += "\n\n" + notes_text(found.notes)
    click.echo(text)
