"""``archcalc data``: image and object sizes of a data set, read from its annotations."""

from __future__ import annotations

from pathlib import Path

import click

from archcalc.cli.options import format_option

__all__ = ["data_command"]

EPILOG = """\b
Examples:
  archcalc data annotations/instances_train2017.json
  archcalc data VOCdevkit/VOC2012 --plot sizes.png
  archcalc data datasets/coco8 --format json
  archcalc data labels/ --sizes sizes.csv
  archcalc data train/                 # an ImageFolder: class folders of images
  archcalc data boxes.csv              # columns image,width,height,x,y,w,h
"""


@click.command("data", epilog=EPILOG)
@click.argument("path", type=click.Path())
@click.option(
    "--data-format",
    "data_format",
    type=click.Choice(("coco", "voc", "yolo", "imagefolder", "csv")),
    default=None,
    help="The data set's format (detected from PATH when left out).",
)
@click.option(
    "--sizes",
    type=click.Path(),
    default=None,
    metavar="FILE.csv",
    help="YOLO only: image sizes as CSV 'image,width,height' instead of reading the images "
    "(PATH/sizes.csv is used when it exists).",
)
@click.option("--plot", "plot_file", default=None, metavar="FILE.png",
              help="Draw the histogram of object sizes (needs matplotlib).")  # fmt: skip
@format_option()
def data_command(
    path: str, data_format: str | None, sizes: str | None, plot_file: str | None, fmt: str
) -> None:
    """Describe the data set at PATH: how many images, boxes and classes; image width, height
    and aspect; object sizes relative to their image and in pixels; the share of small boxes.

    PATH is a COCO instances .json file, a Pascal VOC folder of .xml files, a YOLO folder of
    .txt label files (with the images, or a sizes file), an ImageFolder tree (class folders of
    images: image sizes only) or a .csv file with the header image,width,height,x,y,w,h (one
    row per box in pixels; empty box columns: an image without boxes).

    Only annotation files and image headers are read, never pixels, and neither torch nor
    timm is loaded. An object's relative size is rel = sqrt(box area / image area); boxes
    partly outside their image are clipped to it, boxes of zero size or wholly outside are
    counted and left out. The decisive object is the largest box of each image."""
    from archcalc.datasets.describe import describe_data
    from archcalc.display import notes_text, render_json, render_table
    from archcalc.report.dataset import DATA_HEADERS, data_notes, data_rows, histogram_text

    if plot_file is not None:
        _check_plot(Path(plot_file), Path(path), sizes)
    stats = describe_data(path, format=data_format, sizes=sizes)
    if plot_file is not None:
        from archcalc.report.plots import draw_data_plot

        draw_data_plot(stats, plot_file)
    if fmt == "json":
        click.echo(render_json(stats.to_dict()))
        return
    text = render_table(DATA_HEADERS, data_rows(stats), fmt)
    if fmt != "csv":
        text += "\n\n" + notes_text(data_notes(stats), fmt)
    histogram = histogram_text(stats)
    if fmt == "table" and histogram:
        text += "\n\n" + histogram
    click.echo(text)


def _check_plot(plot: Path, path: Path, sizes: str | None) -> None:
    """Refuse a --plot that would overwrite what is read: the annotation or sizes file, or a
    file inside the data set's folder (an image of an ImageFolder)."""
    from archcalc.files import refuse_overwriting

    read = [path, *([Path(sizes)] if sizes else [])]
    inside = path.is_dir() and plot.exists() and plot.resolve().is_relative_to(path.resolve())
    refuse_overwriting({"--plot": plot}, [*read, *([plot] if inside else [])], "read by data")
