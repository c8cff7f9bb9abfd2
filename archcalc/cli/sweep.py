"""``archcalc sweep``: profile many models at many resolutions into a resumable JSONL file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from archcalc.checks import CONVENTIONS, file_errors
from archcalc.cli.latency import target_option
from archcalc.cli.options import batch_size_option, check_device_use, res_option
from archcalc.cli.progress import ProgressBar
from archcalc.errors import InvalidArgumentError
from archcalc.formatting import MIB
from archcalc.sweep.run import DEFAULT_PROFILER

if TYPE_CHECKING:
    from archcalc.timing.predict.model import DeviceProfile

__all__ = ["sweep_command"]

_NUL = "\0"

EPILOG = """\b
Examples:
  archcalc sweep --models 'resnet*' --res 48 --res 224 --res 448 --out resnets.jsonl
  archcalc sweep --models '*' --res 224 --jobs 2 --timeout 120 --out zoo.jsonl
  archcalc sweep --models-file backbones.txt --res 320 --latency --jobs 1 --out cpu.jsonl
  archcalc sweep --models 'convnext*' --res 224 --target rtx4090 --batch-size 64 --out c.jsonl
  archcalc sweep --models '*' --res 224 --shard auto --out shard-$SLURM_ARRAY_TASK_ID.jsonl
Rerun the same command after a crash or Ctrl-C: finished pairs are skipped.
"""


@click.command("sweep", epilog=EPILOG)
@click.option(
    "--models",
    "patterns",
    multiple=True,
    metavar="PATTERN",
    help="timm name or wildcard (resnet*, '*' for all). Repeat for several.",
)
@click.option(
    "--models-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file with one name or pattern per line (# comments allowed).",
)
@res_option()
@click.option(
    "--convention",
    type=click.Choice(CONVENTIONS),
    default="core",
    show_default=True,
    help="MAC counting convention (see 'archcalc inspect --help').",
)
@click.option(
    "--latency", is_flag=True, help="Also measure latency (use --jobs 1 for clean timings)."
)
@click.option(
    "--device", default="cpu", show_default=True, help="Device for --latency: cpu or cuda."
)
@target_option()
@batch_size_option("Images per batch (traced, timed with --latency, predicted with --target).")
@click.option("--jobs", type=int, default=2, show_default=True, help="Worker processes.")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds one model (all its resolutions) may take before it is killed.",
)
@click.option(
    "--max-rss-mb",
    type=click.IntRange(min=0),
    default=4096,
    show_default=True,
    help="Kill a worker whose resident memory exceeds this (MiB); 0 disables.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSONL file to append to (existing results are kept and skipped).",
)
@click.option(
    "--shard",
    metavar="I/N|auto",
    help="Run only shard I of N (zero-based) of the sorted model list; 'auto' reads "
    "SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX.",
)
@click.option("--shard-count", type=int, help="Shard count for --shard auto under Kubernetes.")
@click.option(
    "--include-test",
    is_flag=True,
    help="Keep timm's test_* toy architectures that wildcards match (left out by default).",
)
@click.option(
    "--profiler",
    default=DEFAULT_PROFILER,
    show_default=True,
    metavar="MODULE:FUNCTION",
    help="What each worker runs per model (advanced).",
)
def sweep_command(
    patterns: tuple[str, ...],
    models_file: Path | None,
    resolutions: tuple[tuple[int, int], ...],
    convention: str,
    latency: bool,
    device: str,
    target: DeviceProfile | None,
    batch_size: int,
    jobs: int,
    timeout_s: float,
    max_rss_mb: int,
    out: Path,
    shard: str | None,
    shard_count: int | None,
    include_test: bool,
    profiler: str,
) -> None:
    """Profile every model matching --models at every --res, one JSON line per pair in --out.

    Each model runs in its own worker process: a crash, hang (--timeout) or memory blow-up
    (--max-rss-mb) is recorded as an error line for it and the sweep goes on. Lines are
    flushed as they arrive; rerunning skips what is already in --out. With --target each ok
    line also carries a PREDICTED "prediction" object for that device, from the same trace
    ('archcalc report' then shows the predicted latency)."""
    from archcalc.files import refuse_overwriting
    from archcalc.report.documents import sweep_summary_text
    from archcalc.sweep.run import SweepSettings, expand_models, run_sweep
    from archcalc.sweep.shards import parse_shard

    if models_file is not None:
        refuse_overwriting({"--out": out}, [models_file], "the --models-file read")
        patterns += _read_models_file(models_file)
    if not patterns:
        raise InvalidArgumentError("give --models PATTERN (e.g. 'resnet*') or --models-file")
    check_device_use(device, latency)
    if shard_count is not None and (shard or "").strip().lower() != "auto":
        raise InvalidArgumentError("--shard-count goes with --shard auto (a Kubernetes Job)")
    shard_spec = parse_shard(shard, count=shard_count, environ=os.environ)
    if profiler == DEFAULT_PROFILER:
        models = expand_models(patterns, include_test=include_test)
    else:
        models = list(patterns)
    settings = SweepSettings(convention, batch_size, 3, latency, device, target)
    with ProgressBar("sweep") as bar:
        summary = run_sweep(
            models, resolutions, out=out, settings=settings, jobs=jobs,
            timeout_s=timeout_s, max_rss_bytes=max_rss_mb * MIB or None,
            shard=shard_spec, profiler=profiler, progress=bar.step,
        )  # fmt: skip
    click.echo(sweep_summary_text(summary), err=True)


def _read_models_file(path: Path) -> tuple[str, ...]:
    """The lines of a ``--models-file``; one that is not UTF-8 text (a binary, a gzip, a
    UTF-16 file) is refused in one line rather than read as garbage names."""
    with file_errors(path, "read"):
        data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidArgumentError(
            f"--models-file {path} is not UTF-8 text (byte {data[e.start]:#04x} at offset "
            f"{e.start}): give a text file with one model name or pattern per line"
        ) from e
    if _NUL in text:
        raise InvalidArgumentError(
            f"--models-file {path} is binary (a NUL byte at offset {text.index(_NUL)}): give a "
            "text file with one model name or pattern per line"
        )
    return tuple(text.splitlines())
