"""``archcalc cache info|clear``: where the result cache is, what it holds; empty it."""

from __future__ import annotations

import click

from archcalc.cli.result_cache import cache_info, clear_cache
from archcalc.formatting import mebibytes

__all__ = ["cache_command"]


@click.group("cache")
def cache_command() -> None:
    """The result cache of static answers (inspect, sizes, suggest --no-latency).

    Repeated questions are answered from it without importing torch or timm; a key holds
    the command, every argument, archcalc's source and the torch and timm versions, so a
    change to any of them is a new question. Measured latency is never cached."""


@cache_command.command("info")
def info_command() -> None:
    """Print the cache's path, entry count, size and the current key fingerprint."""
    found = cache_info()
    versions = ", ".join(f"{k} {v}" for k, v in found.fingerprint.items() if k != "archcalc_source")
    click.echo(
        f"{found.path}: {found.entries} entries, {mebibytes(found.size_bytes)} MiB; new keys "
        f"for archcalc source {found.fingerprint['archcalc_source'][:12]}, {versions}"
    )


@cache_command.command("clear")
def clear_command() -> None:
    """Delete every cached result."""
    removed = clear_cache()
    click.echo(f"{cache_info().path}: removed {removed} entries")
