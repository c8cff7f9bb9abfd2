"""``archcalc inspect``: stride, k x k, params, MACs and memory at one or more resolutions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from archcalc.cli.latency import target_option
from archcalc.cli.options import (
    batch_size_option,
    cache_arguments,
    check_device_use,
    convention_option,
    format_option,
    no_cache_option,
    reparameterize_option,
    res_option,
)

if TYPE_CHECKING:
    from archcalc.results import Profile
    from archcalc.timing.predict.model import DeviceProfile
    from archcalc.timing.stats import Timing

__all__ = ["inspect_command"]

EPILOG = """\b
Examples:
  archcalc inspect resnet18 --res 48 --res 224 --res 448
  archcalc inspect resnet50 --res 448x320 --output-stride 16 --stages
  archcalc inspect convnext_tiny --convention fvcore --format json
  archcalc inspect vit_base_patch16_224 --layers --format markdown
  archcalc inspect mobileone_s4 --convention fvcore --reparameterize
"""


@click.command("inspect", epilog=EPILOG)
@click.argument("model")
@res_option()
@batch_size_option()
@click.option("--in-chans", type=int, default=3, show_default=True, help="Input channels.")
@click.option(
    "--output-stride",
    type=int,
    default=None,
    help="Build with this global stride (timm: 8 or 16 via dilation) instead of the default.",
)
@convention_option()
@click.option("--stages", is_flag=True, help="Add a per-stage table (map, stride, GMACs).")
@click.option("--layers", is_flag=True, help="Add a per-layer table (output shapes, params).")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Nesting depth for --layers (0: the whole model only).",
)
@click.option("--latency", is_flag=True, help="Add the measured median latency (ms) per size.")
@click.option("--device", default="cpu", show_default=True, help="Device for --latency: cpu, cuda.")
@target_option()
@click.option("--ops", is_flag=True, help="With --target: the top ops by predicted time.")
@reparameterize_option()
@no_cache_option()
@format_option()
def inspect_command(
    model: str,
    resolutions: tuple[tuple[int, int], ...],
    batch_size: int,
    in_chans: int,
    output_stride: int | None,
    convention: str,
    stages: bool,
    layers: bool,
    depth: int,
    latency: bool,
    device: str,
    target: DeviceProfile | None,
    ops: bool,
    reparameterize: bool,
    no_cache: bool,
    fmt: str,
) -> None:
    """Trace MODEL (a timm name such as resnet50 or resnet50.a1_in1k) at each --res and
    print its global stride, final k x k map, channels, params, MACs (inference and one
    training step) and memory.

    The forward runs on the meta device: no weights are downloaded or allocated. The static
    numbers are cached (see 'archcalc cache --help'); latency is always measured afresh."""
    from archcalc.cli.result_cache import cached
    from archcalc.display import notes_text, render_json, render_table
    from archcalc.errors import InvalidArgumentError
    from archcalc.formatting import size
    from archcalc.results import (
        INSPECT_HEADERS,
        STAGE_HEADERS,
        inspect_notes,
        inspect_rows,
        stage_rows,
    )

    check_device_use(device, latency)
    if layers and fmt == "json":
        raise InvalidArgumentError(
            "--layers has no JSON form: use --format table, markdown or csv "
            "(the JSON already holds the per-stage numbers under 'stages')"
        )
    sizes = list(dict.fromkeys(resolutions))
    options = {"in_chans": in_chans, "output_stride": output_stride}
    build = {"batch_size": batch_size, "convention": convention, "reparameterize": reparameterize}
    profiles, size_notes = cached(
        "inspect",
        cache_arguments(),
        lambda: _static(model, sizes, **build, **options),
        _rebuild,
        enabled=not no_cache,
    )
    if ops and target is None:
        raise InvalidArgumentError("--ops lists ops by predicted time: add --target NAME|FILE")
    timings = _latencies(model, profiles, device, output_stride, reparameterize) if latency else []
    predictions = _predictions(model, sizes, target, batch_size, options, reparameterize)
    if fmt == "json":
        dicts = [p.to_dict() for p in profiles]
        if timings:
            dicts = [{**d, "timing": t.to_dict()} for d, t in zip(dicts, timings, strict=True)]
        if predictions:
            dicts = [
                {**d, "prediction": p.to_dict()} for d, p in zip(dicts, predictions, strict=True)
            ]
        click.echo(render_json(dicts))
        return
    headers, rows = INSPECT_HEADERS, inspect_rows(profiles)
    if timings:
        from archcalc.report.tables import latency_columns

        headers, rows = latency_columns(headers, rows, timings)
    if predictions:
        from archcalc.report.prediction import prediction_columns

        headers, rows = prediction_columns(headers, rows, predictions)
    blocks = [render_table(headers, rows, fmt)]
    for res, p in zip(sizes, predictions if ops else [], strict=False):
        from archcalc.report.prediction import OPS_HEADERS, ops_rows

        blocks.append(f"Top ops of {model} at {size(res)}, PREDICTED on {p.target}:")
        blocks.append(render_table(OPS_HEADERS, ops_rows(p), fmt))
    for p in profiles if stages else []:
        blocks.append(f"Stages of {p.model} at {size(p.resolution)}:")
        blocks.append(render_table(STAGE_HEADERS, stage_rows(p), fmt))
    for res in sizes if layers else []:
        from archcalc.profiling.layers import layer_table
        from archcalc.report.tables import LAYER_HEADERS, layer_rows

        table = layer_table(model, res, depth=depth, **options)
        blocks.append(f"Layers of {model} at {size(res)}:")
        blocks.append(render_table(LAYER_HEADERS, layer_rows(table), fmt))
    text = "\n\n".join(blocks)
    if fmt == "table":
        notes = inspect_notes(profiles)
        if timings:
            from archcalc.timing.stats import timing_note

            notes.append(timing_note(timings[0].model, timings[0]))
        if predictions:
            from archcalc.report.prediction import prediction_notes

            notes += prediction_notes(predictions)
        text += "\n\n" + notes_text(notes + size_notes)
    click.echo(text)


def _static(
    model: str,
    sizes: list[tuple[int, int]],
    *,
    batch_size: int,
    convention: str,
    reparameterize: bool,
    in_chans: int,
    output_stride: int | None,
) -> dict[str, Any]:
    """What inspect can cache (no latency): the profiles at each size and the notes on sizes
    and, for a re-parameterizable net profiled as trained, what fusing changes at the first."""
    from archcalc.profiling.accepts import inspect_size_notes
    from archcalc.profiling.prepare import profile
    from archcalc.results import fused_note

    options = {"in_chans": in_chans, "output_stride": output_stride, "batch_size": batch_size}
    profiles = [
        profile(
            model, res, convention=convention, reparameterize=reparameterize, train=True, **options
        )
        for res in sizes
    ]
    notes = inspect_size_notes(model, sizes, in_chans=in_chans, output_stride=output_stride)
    first = profiles[0]
    if first.fusable and not first.reparameterized:
        fused = profile(model, sizes[0], convention=convention, reparameterize=True, **options)
        notes.append(fused_note(first, fused))
    return {"profiles": [p.to_dict() for p in profiles], "size_notes": notes}


def _predictions(
    model: str,
    sizes: list[tuple[int, int]],
    target: DeviceProfile | None,
    batch_size: int,
    options: dict[str, Any],
    reparameterize: bool,
) -> list[Any]:
    """``--target``: one prediction per size at the profile's batch (its own meta trace with
    per-op costs; the cached profile holds none)."""
    if target is None:
        return []
    from archcalc.timing.predict.api import predict_sizes

    return predict_sizes(model, sizes, target, batch_size, reparameterize=reparameterize, **options)


def _rebuild(value: dict[str, Any]) -> tuple[list[Profile], list[str]]:
    from archcalc.results import Profile

    return [Profile.from_dict(d) for d in value["profiles"]], [str(n) for n in value["size_notes"]]


def _latencies(
    model: str,
    profiles: list[Profile],
    device: str,
    output_stride: int | None,
    reparameterize: bool,
) -> list[Timing]:
    """``--latency``: one ``archcalc.measure`` per profiled size, at its batch and channels."""
    from archcalc.timing.measure import TimingSettings, measure

    return [
        measure(
            model,
            p.resolution,
            settings=TimingSettings(device=device),
            batch_size=p.batch_size,
            in_chans=p.channels,
            output_stride=output_stride,
            reparameterize=reparameterize,
        )
        for p in profiles
    ]
