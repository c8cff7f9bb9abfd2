"""``archcalc suggest``: the input size (and stride fix) for a task's level of detail."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from archcalc.cli.latency import target_option
from archcalc.cli.options import (
    batch_size_option,
    cache_arguments,
    check_device_use,
    dtype_option,
    format_option,
    no_cache_option,
    reparameterize_option,
)
from archcalc.cli.progress import ProgressBar
from archcalc.recommend.decide import CANDIDATE_SIDES, DEFAULT_BACKBONES
from archcalc.recommend.levels import LEVELS

if TYPE_CHECKING:
    from archcalc.recommend.request import PredictedLatency
    from archcalc.timing.predict.model import DeviceProfile

__all__ = ["suggest_command"]


def _levels_help() -> str:
    lines = [
        f"  {lv.name:<13} {f'{lv.resolution[0]}x{lv.resolution[1]}':<8} e.g. {lv.example}"
        f" (aliases: {', '.join(lv.aliases)})"
        for lv in LEVELS
    ]
    return "\n".join(lines)


EPILOG = f"""\b
Task levels (--task; --levels FILE adds or overrides levels):
{_levels_help()}

\b
Examples:
  archcalc suggest --task fine-grained
  archcalc suggest --task region --backbone resnet18 --no-latency
  archcalc suggest --task coarse --backbone auto --budget-ms 20
  archcalc suggest --task fine-grained --backbone auto --max-gmacs 5 --no-latency
  archcalc suggest --task coarse --backbone auto --family 'convnext*' --top 8
  archcalc suggest --task fine --max-gmacs 2 --format json
  archcalc suggest --task xray --levels team-levels.toml
  archcalc suggest --task fine --backbone resnet18 --gpu-memory 24 --gpu-memory 80
  archcalc suggest --task coarse --gpu-memory 16 --dtype bfloat16 --epoch-images 10000
  archcalc suggest --task coarse --no-training --no-latency
  archcalc suggest --task fine-grained --data birds.csv --no-latency
  archcalc suggest --task objects --data instances_train.json --objects-percentile 5

\b
Sizes profiled: {", ".join(map(str, CANDIDATE_SIDES))}, the level's own and the remedies
the k rule asks for (9 x the global stride when the level's map is above 9x9: 288 at
stride 32; a level's k_max_policy "prefer-k9" chooses it). --backbone auto searches every
architecture with published ImageNet-1k accuracy (timm results-imagenet.csv, shipped with
archcalc) and picks the most accurate one whose option at the level's size keeps k in the
window and fits the budgets; cheap published bounds prune it, so only a few candidates are
profiled.

\b
--data PATH (a COCO JSON, a VOC or YOLO folder, an ImageFolder tree or a CSV; see
'archcalc data') sizes the level from the pixels its objects get (rules §6): the decisive
object (the median largest box) gets the level's object_px (coarse 140, fine-grained 250),
capped by the images' native size; --task objects keeps the P10 box at min_object_px (16)
on its shorter side, keeps the images' aspect, and advises tiles beyond max_side.

\b
The reasons cite the sizing rules as "rules §N": section N of docs/rules.md, shipped with
archcalc (the "Sizing rules" page of its docs).
"""


@click.command("suggest", epilog=EPILOG)
@click.option(
    "--task",
    required=True,
    help="Level of detail: coarse, fine-grained or region (or an alias; see below).",
)
@click.option(
    "--backbone",
    "backbones",
    multiple=True,
    help=f"timm model name; repeat for several, or 'auto' to search timm's published "
    f"accuracy table [default: {', '.join(DEFAULT_BACKBONES)}]",
)
@click.option(
    "--device", default="cpu", show_default=True, help="Where latency is measured: cpu or cuda."
)
@click.option(
    "--budget-ms", type=float, default=None, help="Largest median latency at batch 1 (ms)."
)
@click.option("--max-gmacs", type=float, default=None, help="Largest cost in GMACs (MACs / 1e9).")
@click.option("--max-params", type=float, default=None, help="Largest parameter count in millions.")
@click.option(
    "--top",
    type=int,
    default=None,
    help="--backbone auto: options of the accuracy-cost front to show [default: 5].",
)
@click.option(
    "--family",
    default=None,
    metavar="PATTERN",
    help="--backbone auto: only architectures matching (fnmatch, comma-separated: 'convnext*').",
)
@click.option(
    "--no-latency", is_flag=True, help="Skip latency measurement (static numbers only, fast)."
)
@click.option(
    "--levels",
    "levels_file",
    default=None,
    metavar="FILE",
    help="TOML, JSON or YAML table of task levels, their k_max_policy and training start "
    "(see docs/input-size.md).",
)
@click.option(
    "--data",
    "data_path",
    default=None,
    metavar="PATH",
    help="A data set (COCO JSON, VOC or YOLO folder, ImageFolder tree, CSV): size the input "
    "from the pixels its objects get (rules §6) instead of the level's fixed size.",
)
@click.option(
    "--objects-percentile",
    type=click.FloatRange(0, 100, min_open=True),
    default=None,
    metavar="P",
    help="With --data and --task objects: the percentile of all boxes that keeps "
    "min_object_px on its shorter side [default: the level's object_percentile, 10].",
)
@click.option(
    "--gpu-memory",
    "gpu_memory",
    type=float,
    multiple=True,
    metavar="GiB",
    help="GPU memory in GiB (repeat for several, e.g. --gpu-memory 24 --gpu-memory 80): the "
    "largest training batch (Adam) that fits at the chosen size, from the static estimate.",
)
@dtype_option(
    note="The training dtype for --gpu-memory: float16/bfloat16 are mixed precision (float32 "
    "weights and Adam state; activations saved at 2 B, the same for both)."
)
@click.option(
    "--epoch-images",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Images per epoch for the steps and training MACs per epoch (e.g. --epoch-images "
    "10000) [default: the training start's data note, 3,000].",
)
@click.option(
    "--no-training",
    is_flag=True,
    help="Hide the training start (optimizer, train/eval modes, data volume).",
)
@target_option()
@batch_size_option("With --target: the batch the predicted latency (and --budget-ms) is for.")
@reparameterize_option()
@no_cache_option()
@format_option()
def suggest_command(
    task: str,
    backbones: tuple[str, ...],
    device: str,
    budget_ms: float | None,
    max_gmacs: float | None,
    max_params: float | None,
    top: int | None,
    family: str | None,
    no_latency: bool,
    levels_file: str | None,
    data_path: str | None,
    objects_percentile: float | None,
    reparameterize: bool,
    no_cache: bool,
    gpu_memory: tuple[float, ...],
    dtype: str,
    epoch_images: int | None,
    no_training: bool,
    target: DeviceProfile | None,
    batch_size: int,
    fmt: str,
) -> None:
    """Recommend the input resolution for a task's level of detail on concrete backbones.

    Profiles each backbone at the level's size and at the candidate sizes (plus the
    remedies the k x k rule asks for), measures latency where it decides, and prints the
    recommendation, the reasons (citing the rule used), the alternatives table, the options
    that keep k <= 9, the training start and, with --gpu-memory, the largest training batch.
    With --no-latency the answer is cached (see 'archcalc cache --help')."""
    from archcalc.cli.result_cache import cached
    from archcalc.display import output_width
    from archcalc.recommend.request import (
        Budgets,
        SearchScope,
        TrainBatch,
        backbone_names,
        check_search_only,
    )
    from archcalc.recommend.suggestion import Suggestion
    from archcalc.report.tables import render_json, suggest_report

    check_device_use(device, not no_latency)
    names, search = backbone_names(list(backbones) or None)
    if not search:
        check_search_only(top, family, None)  # before torch loads: one line, exit 2
    predicted, prediction = _predicted(target, batch_size, no_latency)
    if predicted is not None and not search:
        from archcalc.errors import InvalidArgumentError

        raise InvalidArgumentError("a predicted-latency timer (--target) needs --backbone auto")
    batch_given = bool(gpu_memory) or dtype != "float32" or epoch_images is not None
    levels, stats = _data_levels(task, levels_file, data_path, objects_percentile)
    common = {
        "device": device,
        "budgets": Budgets(budget_ms, max_gmacs, max_params),
        "latency": not no_latency,
        "levels": levels,
        "data": stats,
        "reparameterize": reparameterize,
        "training": not no_training,
        "train_batch": TrainBatch(gpu_memory, dtype, epoch_images) if batch_given else None,
    }

    def compute() -> dict[str, Any]:
        with ProgressBar("suggest") as bar:
            bar.step(0, None, "loading torch and timm")
            if search:
                from archcalc.recommend.search import search_backbones

                scope = SearchScope(family=family) if top is None else SearchScope(top, family)
                found = search_backbones(
                    task, scope=scope, progress=bar.step, predicted=predicted, **common
                )
            else:
                from archcalc.recommend.named import suggest

                found = suggest(task, names, progress=bar.step, **common)
            return found.to_dict()

    arguments = {
        **cache_arguments(),
        "levels_sha256": _file_digest(levels_file),
        "data_stats": None if stats is None else stats.to_dict(),  # an edited data set is new
    }
    enabled = no_latency and not no_cache  # measured latency is never cached
    enabled = enabled and predicted is None
    result = cached("suggest", arguments, compute, Suggestion.from_dict, enabled=enabled)
    if fmt == "json":
        data = result.to_dict()
        click.echo(render_json({**data, "prediction": prediction} if prediction else data))
        return
    click.echo(suggest_report(result, fmt, output_width()))
    if predicted is not None:
        click.echo(f"\nLatency here is {predicted.basis} (--budget-ms is per batch).")


def _predicted(
    target: DeviceProfile | None, batch_size: int, no_latency: bool
) -> tuple[PredictedLatency | None, dict[str, Any] | None]:
    """``--target``: the predicting timer with the label the text gives every predicted
    latency, and the JSON ``prediction`` label (None, None without a target)."""
    from archcalc.errors import InvalidArgumentError

    if target is None:
        if batch_size != 1:
            raise InvalidArgumentError("--batch-size is the predicted batch: add --target")
        return None, None
    if no_latency:
        raise InvalidArgumentError("--target predicts latency: drop --no-latency")
    from archcalc.recommend.request import PredictedLatency
    from archcalc.report.prediction import predicted_label
    from archcalc.timing.predict.api import predicted_timer

    band = target.band_at(batch_size)
    label = {
        "predicted": True,
        "target": target.name,
        "dtype": target.dtype,
        "batch_size": batch_size,
        "error_band": band,
        "latency_fields": "every latency figure of this suggestion is predicted",
    }
    basis = predicted_label(target.name, target.dtype, batch_size, band)
    return PredictedLatency(predicted_timer(target, batch_size), basis), label


def _data_levels(
    task: str, levels_file: str | None, data_path: str | None, percentile: float | None
) -> tuple[Any, Any]:
    """The levels (the file's, with ``--objects-percentile`` on the task's level) and the data
    set's statistics (read here, without torch: a bad data set is one line before anything
    loads)."""
    if data_path is None:
        if percentile is not None:
            from archcalc.errors import InvalidArgumentError

            raise InvalidArgumentError("--objects-percentile sizes from a data set: add --data")
        return levels_file, None
    from archcalc.datasets.describe import describe_data
    from archcalc.recommend.request import level_table, with_percentile

    stats = describe_data(data_path)
    if percentile is None:
        return levels_file, stats
    return with_percentile(level_table(levels_file), task, percentile), stats


def _file_digest(path: str | None) -> str | None:
    """SHA-256 of a --levels file's bytes (part of the cache key: an edited file is a new
    question); None without a file or when it cannot be read (suggest then says why)."""
    import hashlib

    try:
        return None if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
