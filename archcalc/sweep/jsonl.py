"""Crash-safe JSON Lines files: append one flushed line per result, detect torn lines, and never
drop a line without keeping it.

A sweep may be killed at any moment (Ctrl-C, ``kill -9``, power loss). Each result is written
with a single ``os.write`` on an ``O_APPEND`` descriptor, so a line is either whole or, at worst,
the torn tail of the file; ``repair`` cuts that tail (or rewrites the file without any unreadable
line) before a resumed sweep appends to it. Every line removed that way is first appended to
``<file>.rejected`` (``keep_rejected``), so a line the user had is never lost. ``.gz`` files can
be read (a truncated one up to its cut), not appended to.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archcalc.checks import file_errors
from archcalc.errors import InvalidArgumentError
from archcalc.files import write_atomic

__all__ = [
    "Contents",
    "append_lines",
    "keep_rejected",
    "read_jsonl",
    "rejected_path",
    "repair",
    "write_jsonl",
]

#: At most one fsync per this many seconds while appending (and one when the file is closed).
FSYNC_EVERY_S = 1.0
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Contents:
    """The readable objects of a JSONL file, its unreadable lines (raw bytes), whether the last
    line is torn (unreadable and without a newline), and where the readable prefix ends (bytes)
    when only that last line is torn."""

    records: tuple[dict[str, Any], ...]
    rejected: tuple[bytes, ...]
    torn_tail: bool
    valid_bytes: int

    @property
    def bad_lines(self) -> int:
        """How many non-blank lines are not JSON objects."""
        return len(self.rejected)


def _open_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed for ``.gz`` (a truncated one: up to where it was cut)."""
    with file_errors(path, "read"):
        raw = path.read_bytes()
    compressed = raw.startswith(GZIP_MAGIC)
    if path.suffix != ".gz":
        if compressed:
            raise InvalidArgumentError(f"{path} is gzip-compressed: name it {path.name}.gz")
        return raw
    if raw and not compressed:
        raise InvalidArgumentError(
            f"{path} is not gzip-compressed: rename it without .gz (e.g. {path.stem})"
        )
    chunks: list[bytes] = []
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
        try:
            while chunk := f.read1(1 << 20):
                chunks.append(chunk)
        except EOFError:  # truncated: keep what was decompressed; its last line reads as torn
            pass
        except (gzip.BadGzipFile, zlib.error) as e:
            raise InvalidArgumentError(f"{path} is a damaged gzip file: {e}") from e
    return b"".join(chunks)


def read_jsonl(path: str | Path) -> Contents:
    """Parse every line of ``path`` (missing file: empty); lines that are not JSON objects are
    kept raw in ``rejected``. A last line without its newline counts when it parses."""
    path = Path(path)
    if not path.exists():
        return Contents((), (), False, 0)
    data = _open_bytes(path)
    records: list[dict[str, Any]] = []
    rejected: list[bytes] = []
    offset = valid_bytes = 0
    record = None
    for raw in data.splitlines(keepends=True):
        offset += len(raw)
        record = _parse(raw)
        if record is None:
            if raw.strip():
                rejected.append(raw)
            continue
        records.append(record)
        if not rejected:
            valid_bytes = offset
    torn_tail = bool(data) and not data.endswith(b"\n") and record is None
    return Contents(tuple(records), tuple(rejected), torn_tail, valid_bytes)


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def rejected_path(path: str | Path) -> Path:
    """Where lines taken out of ``path`` (or not merged into it) are kept: ``<path>.rejected``."""
    path = Path(path)
    return path.with_name(f"{path.name}.rejected")


def keep_rejected(path: str | Path, lines: Iterable[bytes]) -> Path | None:
    """Append ``lines`` (raw, one per line) to ``rejected_path(path)``, skipping lines it already
    holds; return that file, or None when there was nothing to keep."""
    lines = [line.rstrip(b"\r\n") + b"\n" for line in lines]
    if not lines:
        return None
    target = rejected_path(path)
    with file_errors(target, "write"):
        held = set(target.read_bytes().splitlines(keepends=True)) if target.exists() else set()
        new = [line for line in dict.fromkeys(lines) if line not in held]
        with open(target, "ab") as f:
            f.writelines(new)
    return target


def repair(path: str | Path) -> Contents:
    """Make ``path`` safe to append to: move unreadable lines to ``<path>.rejected``, then cut a
    torn last line (or rewrite the file without the bad lines); end the file with a newline.

    A file with lines but no JSON line at all (notes, a CSV: not a JSONL file) is refused.
    """
    path = Path(path)
    contents = read_jsonl(path)
    if not contents.records and contents.bad_lines > contents.torn_tail:
        raise InvalidArgumentError(
            f"{path} is not a JSONL file ({contents.bad_lines} lines, none a JSON object): "
            "choose a new file or an earlier sweep's output"
        )
    keep_rejected(path, contents.rejected)
    with file_errors(path, "repair"):
        if contents.torn_tail and contents.bad_lines == 1:
            with open(path, "r+b") as f:
                f.truncate(contents.valid_bytes)
                os.fsync(f.fileno())
        elif contents.rejected:
            write_jsonl(path, contents.records)
        elif path.exists() and path.stat().st_size and not _ends_with_newline(path):
            with open(path, "ab") as f:  # a whole last line without its newline: finish it
                f.write(b"\n")
    return contents


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def write_jsonl(path: str | Path, records: Any) -> None:
    """Write ``records`` to ``path`` atomically (``write_atomic``), gzip-compressed when
    ``path`` ends in ``.gz``."""
    path = Path(path)
    data = b"".join(_encode(record) for record in records)
    write_atomic(path, gzip.compress(data) if path.suffix == ".gz" else data)


@contextmanager
def append_lines(path: str | Path) -> Iterator[Any]:
    """Yield ``write(record)``: append one line in one ``os.write``, fsync at most each second."""
    path = Path(path)
    with file_errors(path, "write"):
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
