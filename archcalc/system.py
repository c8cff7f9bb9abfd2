"""What the operating system says about memory (no torch): free RAM and resident sizes.

Linux ``/proc`` first; each reader returns None where the value cannot be read, so callers
can skip a check rather than guess.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import sys

__all__ = ["available_host_bytes", "peak_rss_bytes", "proc_kib", "rss_bytes", "status_bytes"]


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
