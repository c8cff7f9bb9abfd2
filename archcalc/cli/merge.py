"""``archcalc merge``: join sweep shards (or reruns) into one file, one line per result."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["merge_command"]

EPILOG = """\b
Examples:
  archcalc merge shard-0.jsonl shard-1.jsonl shard-2.jsonl -o all.jsonl
  archcalc merge old.jsonl rerun.jsonl -o all.jsonl   # an ok line replaces an error line
"""


@click.command("merge", epilog=EPILOG)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The merged JSONL file (written atomically; may be one of FILES).",
)
def merge_command(files: tuple[Path, ...], output: Path) -> None:
    """Merge sweep FILES into --output without duplicates: per (model, convention, batch,
    channels, size) an ok line beats an error line, otherwise the first line read is kept."""
    from archcalc.sweep.merge import merge_results

    summary = merge_results(files, output)
    dropped = ""
    if summary.bad_lines:
        dropped = (
            f", {summary.bad_lines} line(s) that are not results kept in {summary.rejected_file}"
        )
    click.echo(
        f"{output}: {summary.written} results from {summary.read} lines "
        f"({summary.duplicates} duplicates dropped{dropped})",
        err=True,
    )
