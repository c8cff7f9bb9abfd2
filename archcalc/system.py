"""What the operating system says (no torch): free RAM, resident sizes, the cache folder and
installed package versions.

Linux ``/proc`` first; each reader returns None where the value cannot be read, so callers
can skip a check rather than guess.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import resource
import sys
from pathlib import Path

__all__ = [
    "available_host_bytes",
    "cache_dir",
    "installed_version",
    "peak_rss_bytes",
    "proc_kib",
    "rss_bytes",
    "status_bytes",
]


def proc_kib(text: str, key: str) -> int | None:
    """Bytes of a ``Key:   1234 kB`` line in /proc/meminfo or /proc/self/status text."""
    match = re.search(rf"^{key}:\s+(\d+)\s*kB", text, re.MULTILINE)
    return None if match is None else 1024 * int(match.group(1))


def status_bytes(key: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as f:
        return proc_kib(f.read(), key)
    return None


def available_host_bytes() -> int | None:
    """RAM the OS can still give (``MemAvailable`` on Linux, else free pages); None if unknown."""
    with contextlib.suppress(OSError):
        with open("/proc/meminfo", encoding="ascii") as f:
            found = proc_kib(f.read(), "MemAvailable")
        if found is not None:
            return found
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def rss_bytes(pid: int) -> int | None:
    """Current resident memory of ``pid`` from ``/proc`` (None where /proc is unavailable)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_bytes() -> int:
    """This process's peak resident memory: Linux ``VmHWM`` (``ru_maxrss`` would include the
    parent's size at fork time, which survives the ``exec`` of spawn), else ``ru_maxrss``."""
    peak = status_bytes("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


_VERSION_RE = re.compile(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/archcalc``, or ``~/.cache/archcalc`` when the variable is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "archcalc"


def installed_version(package: str) -> str | None:
    """The installed version of ``package`` without importing it: the ``__version__`` line of
    its ``version.py`` (torch and timm both write one; reading it costs a millisecond), else
    ``importlib.metadata`` (whose own import costs about 0.1 s, a fifth of the cached path)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    try:
        text = (Path(spec.origin).parent / "version.py").read_text()
    except OSError:
        text = ""
    found = _VERSION_RE.search(text)
    if found:
        return found.group(1)
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
