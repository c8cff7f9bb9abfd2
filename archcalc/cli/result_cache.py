"""The result cache: static results (profiles, size ranges, suggestions without latency) kept
as JSON files so that asking the same question again answers without importing torch or timm.

An entry's key is a SHA-256 of everything that can change the answer: the command, every
argument, archcalc's own source (a hash of the package's ``.py`` files), and the torch and
timm versions (read from their installed files, so nothing heavy is imported). Entries live
in ``$XDG_CACHE_HOME/archcalc`` (default ``~/.cache/archcalc``), one file per key.

Safety: a write goes through ``archcalc.files.write_atomic`` (a temporary file in the same
directory moved into place with ``os.replace``), so two processes writing at once leave one
complete entry; a read
checks the stored key and a checksum of the value, so a truncated, corrupt or foreign file is
a miss (recomputed and rewritten), never an answer. A cache that cannot be written (read-only
home) is skipped silently. Measured latency is never stored: callers cache static results only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from archcalc.errors import InvalidArgumentError
from archcalc.files import write_atomic
from archcalc.system import cache_dir, installed_version

__all__ = ["CacheInfo", "cache_dir", "cache_info", "cached", "clear_cache", "fingerprint"]

T = TypeVar("T")
_SUFFIX = ".json"
#: The packages whose versions enter every key (a new torch can count differently).
_VERSIONED = ("torch", "timm")


def fingerprint() -> dict[str, Any]:
    """What every key holds besides the question: archcalc's source hash, Python, torch and
    timm versions."""
    root = Path(__file__).resolve().parent.parent  # the archcalc package
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    versions = {name: installed_version(name) for name in _VERSIONED}
    python = ".".join(map(str, sys.version_info[:3]))
    return {"archcalc_source": digest.hexdigest(), "python": python, **versions}


def _key(kind: str, arguments: Mapping[str, Any]) -> str:
    question = {"kind": kind, "arguments": dict(arguments), **fingerprint()}
    return hashlib.sha256(_canonical(question).encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _checksum(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode()).hexdigest()


def _load(path: Path, key: str) -> Any:
    """The stored value, or None when the file is missing, unreadable or not this key's."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key or "value" not in entry:
        return None
    return entry["value"] if entry.get("checksum") == _checksum(entry["value"]) else None


def _store(path: Path, key: str, value: Any) -> None:
    """Write atomically (``write_atomic``); a cache that cannot be written is skipped."""
    entry = {"key": key, "checksum": _checksum(value), "value": value}
    with contextlib.suppress(InvalidArgumentError):
        write_atomic(path, json.dumps(entry))


def cached(
    kind: str,
    arguments: Mapping[str, Any],
    compute: Callable[[], Any],
    rebuild: Callable[[Any], T],
    *,
    enabled: bool = True,
) -> T:
    """``rebuild(value)`` of the stored answer to (``kind``, ``arguments``), else of
    ``compute()`` (a JSON-able value, then stored).

    A stored value that ``rebuild`` cannot read is a miss too. With ``enabled`` False the
    cache is neither read nor written.

    Example:
        >>> cached("inspect", {"model": "resnet18"}, lambda: [p.to_dict()], rebuild)
    """
    if not enabled:
        return rebuild(compute())
    key = _key(kind, arguments)
    path = cache_dir() / f"{key}{_SUFFIX}"
    value = _load(path, key)
    if value is not None:
        try:
            return rebuild(value)
        except (KeyError, TypeError, ValueError, IndexError):
            pass
    value = compute()
    result = rebuild(value)
    _store(path, key, value)
    return result


@dataclass(frozen=True)
class CacheInfo:
    """Where the cache is, how many entries and bytes it holds, and the current fingerprint."""

    path: Path
    entries: int
    size_bytes: int
    fingerprint: dict[str, Any]


def _entries() -> list[Path]:
    """Every file the cache wrote: entries and temporary files (``.tmp-*``) left by a crash."""
    return sorted(cache_dir().glob(f"*{_SUFFIX}"))


def cache_info() -> CacheInfo:
    """The cache's location, entry count, size and the fingerprint new keys are made with."""
    files = [p for p in _entries() if not p.name.startswith(".tmp-")]
    size = sum(p.stat().st_size for p in files if p.exists())
    return CacheInfo(cache_dir(), len(files), size, fingerprint())


def clear_cache() -> int:
    """Delete every entry (and stray temporary files); the number of entries removed."""
    removed = 0
    for path in _entries():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += not path.name.startswith(".tmp-")
    return removed
