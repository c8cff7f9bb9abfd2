"""Reading sweep files back: which lines are results, one result per pair, and ``merge``.

A sweep file may hold lines that are not results: torn or hand-edited lines, JSON from another
tool. They are never rendered and never silently dropped: ``read_results`` returns them raw,
``merge_results`` keeps them in ``<output>.rejected`` (``archcalc.sweep.jsonl.keep_rejected``),
so merging over an input loses nothing the user had.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archcalc.errors import InvalidArgumentError
from archcalc.serialize import Serialized
from archcalc.sweep.jsonl import keep_rejected, read_jsonl, write_jsonl
from archcalc.sweep.lines import is_result
from archcalc.sweep.run import line_key

__all__ = ["MergeSummary", "SweepLines", "merge_results", "read_results"]


@dataclass(frozen=True)
class SweepLines:
    """What sweep files hold: the unique results (per pair), how many result lines were read,
    and the lines that are not results (unreadable, or JSON that is no sweep line), raw."""

    results: tuple[dict[str, Any], ...]
    read: int
    rejected: tuple[bytes, ...]


def read_results(paths: Sequence[str | Path]) -> SweepLines:
    """The results of sweep files (``.jsonl`` or ``.jsonl.gz``). Per pair (``line_key``) an
    ``ok`` line beats an error line, otherwise the first one read is kept.

    Example: ``read_results(["shard-0.jsonl", "shard-1.jsonl"]).results``.
    """
    if not paths:
        raise InvalidArgumentError("give at least one sweep file")
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    read = 0
    rejected: list[bytes] = []
    for path in paths:
        if not Path(path).exists():
            raise InvalidArgumentError(f"no such sweep file: {path}")
        contents = read_jsonl(path)
        rejected += contents.rejected
        for line in contents.records:
            if not is_result(line):
                rejected.append(json.dumps(line, separators=(",", ":")).encode())
                continue
            read += 1
            key = line_key(line)
            if key not in best or (best[key].get("status") != "ok" and line.get("status") == "ok"):
                best[key] = line
    return SweepLines(tuple(best.values()), read, tuple(rejected))


@dataclass(frozen=True)
class MergeSummary(Serialized):
    """``merge_results``: result lines read, unique results written, duplicates dropped, lines
    that were not results, and the file they were kept in (None when there were none).

    Example:
        >>> archcalc.merge_results(["shard-0.jsonl", "shard-1.jsonl"], "all.jsonl").written
        ... # doctest: +SKIP
        4113
    """

    out: str
    read: int
    written: int
    duplicates: int
    bad_lines: int
    rejected_file: str | None = None


def merge_results(paths: Sequence[str | Path], out: str | Path) -> MergeSummary:
    """Merge sweep files (shards, reruns) into ``out`` (written atomically): one line per
    result, as ``read_results`` chooses; lines that are not results go to ``<out>.rejected``.

    Args:
        paths: sweep files (``out`` may be one of them).
        out: the merged JSONL file.

    Returns:
        The counts, and where the rejected lines were kept.

    Raises:
        InvalidArgumentError: an input cannot be read (missing, or a ``.gz`` that is not gzip).

    Examples:
        >>> archcalc.merge_results(["a.jsonl", "b.jsonl"], "all.jsonl").written
        3
    """
    lines = read_results(paths)
    kept = keep_rejected(out, lines.rejected)  # before ``out`` (maybe an input) is replaced
    write_jsonl(out, lines.results)
    written = len(lines.results)
    return MergeSummary(
        str(out), lines.read, written, lines.read - written, len(lines.rejected),
        None if kept is None else str(kept),
    )  # fmt: skip
