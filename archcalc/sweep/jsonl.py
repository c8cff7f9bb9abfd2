"""Crash-safe JSON Lines files: append one flushed line per result, detect and drop torn lines.

A sweep may be killed at any moment (Ctrl-C, ``kill -9``, power loss). Each result is written
with a single ``os.write`` on an ``O_APPEND`` descriptor, so a line is either whole or, at worst,
the torn tail of the file; ``repair`` cuts that tail (or rewrites the file without any unreadable
line) before a resumed sweep appends to it. ``.gz`` files can be read, not appended to.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Contents", "append_lines", "read_jsonl", "repair", "write_jsonl"]

#: At most one fsync per this many seconds while appending (and one when the file is closed).
FSYNC_EVERY_S = 1.0


@dataclass(frozen=True)
class Contents:
    """The readable objects of a JSONL file, how many lines were unreadable, and where the
    readable prefix ends (bytes) when only the last line is torn."""

    records: tuple[dict[str, Any], ...]
    bad_lines: int
    torn_tail: bool
    valid_bytes: int


def _open_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return bytes(f.read())


def read_jsonl(path: str | Path) -> Contents:
    """Parse every line of ``path`` (missing file: empty); skip lines that are not JSON objects."""
    path = Path(path)
    if not path.exists():
        return Contents((), 0, False, 0)
    data = _open_bytes(path)
    records: list[dict[str, Any]] = []
    bad = 0
    offset = 0
    valid_bytes = 0
    for raw in data.splitlines(keepends=True):
        offset += len(raw)
        record = _parse(raw) if raw.endswith(b"\n") else None
        if record is None:
            bad += bool(raw.strip())
            continue
        records.append(record)
        if bad == 0:
            valid_bytes = offset
    torn_tail = bool(data) and not data.endswith(b"\n")
    return Contents(tuple(records), bad, torn_tail, valid_bytes)


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def repair(path: str | Path) -> Contents:
    """Make ``path`` safe to append to: cut a torn last line, or rewrite without bad lines."""
    path = Path(path)
    contents = read_jsonl(path)
    if contents.bad_lines == 0 and not contents.torn_tail:
        return contents
    if contents.torn_tail and contents.bad_lines == 1:
        with open(path, "r+b") as f:
            f.truncate(contents.valid_bytes)
            os.fsync(f.fileno())
    else:
        write_jsonl(path, contents.records)
    return contents


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def write_jsonl(path: str | Path, records: Any) -> None:
    """Write ``records`` to ``path`` atomically (a temporary file renamed over it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        for record in records:
            f.write(_encode(record))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextmanager
def append_lines(path: str | Path) -> Iterator[Any]:
    """Yield ``write(record)``: append one line in one ``os.write``, fsync at most each second."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    last_sync = time.monotonic()

    def write(record: dict[str, Any]) -> None:
        nonlocal last_sync
        data = _encode(record)
        written = os.write(fd, data)
        if written != len(data):  # a short write (disk full): finish it
            os.write(fd, data[written:])
        if time.monotonic() - last_sync > FSYNC_EVERY_S:
            os.fsync(fd)
            last_sync = time.monotonic()

    try:
        yield write
    finally:
        os.fsync(fd)
        os.close(fd)
