"""Fake sweep profilers for tests: each behaves by model name (ok, raise, hang, exit, grow).

Used as ``profiler="sweep_fakes:fake_profiler"``; the worker imports this module by name, so
it must stay importable from the tests folder (pytest puts it on ``sys.path``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from archcalc.results import SCHEMA_VERSION
from archcalc.sweep.run import ModelTask


def fake_line(task: ModelTask, res: tuple[int, int]) -> dict[str, Any]:
    """A minimal ok line with the identity keys and a few numbers derived from the size."""
    s = task.settings
    return {
        "schema_version": SCHEMA_VERSION,
        "model": task.model,
        "convention": s.convention,
        "input": {
            "batch_size": s.batch_size,
            "channels": s.in_chans,
            "height": res[0],
            "width": res[1],
        },
        "final_map": [-(-res[0] // 32), -(-res[1] // 32)],
        "macs": res[0] * res[1] * 1000,
        "params": 1_000_000,
        "status": "ok",
        "error": None,
    }


def fake_profiler(task: ModelTask) -> Iterator[dict[str, Any]]:
    """``raise*`` raises, ``hang*`` sleeps forever, ``exit*`` calls os._exit after its first
    line, ``grow*`` allocates memory until killed, ``slow*`` takes 0.1 s per size; any other
    name yields one line per size at once."""
    for i, res in enumerate(task.resolutions):
        if task.model.startswith("slow"):
            time.sleep(0.1)
        if task.model.startswith("raise"):
            raise RuntimeError(f"boom in {task.model}\nsecond line")
        if task.model.startswith("hang"):
            time.sleep(3600)
        if task.model.startswith("exit") and i == 1:
            os._exit(3)
        if task.model.startswith("grow"):
            hog = []
            while True:
                hog.append(bytearray(32 * 2**20))
                time.sleep(0.01)
        yield fake_line(task, res)
