"""A sweep profiler whose module ends every worker process that imports it (not the parent).

Workers start with ``spawn``, so each imports this module afresh and dies while starting: the
sweep must raise ``WorkerCrashError``. Used as ``--profiler crashing_worker:profiler``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

if multiprocessing.parent_process() is not None:
    os._exit(7)


def profiler(task: Any) -> Iterator[dict[str, Any]]:
    """Never runs: the worker is gone before its first task."""
    yield from ()
