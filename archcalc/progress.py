"""The progress hook long computations call (no torch, prints nothing).

Computation never prints: ``suggest``, ``search_backbones``, ``scale``, ``bench`` and
``run_sweep`` take one optional ``progress`` callback, the same form everywhere, and call it
at each step with ``(done, total, what)`` -- steps finished so far, how many there
are (None when open-ended, as latency rows measured until one fits a budget) and what runs
next (``"profiling resnet18"``). The CLI turns the calls into a bar on stderr
(``archcalc.cli.progress``); any new long command takes the same ``progress`` argument.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressCallback", "report_progress"]

#: ``callback(done, total, what)``; ``total`` None when the number of steps is not known.
ProgressCallback = Callable[[int, int | None, str], None]


def report_progress(
    callback: ProgressCallback | None, done: int, total: int | None, what: str
) -> None:
    """Call ``callback`` if there is one (a convenience so that callers stay one line)."""
    if callback is not None:
        callback(done, total, what)
