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

ProgressCallback = Callable[[int, int | None, str], None]
"""``callback(done, total, what)``: ``done`` steps of ``total`` (None when the number of steps
is not known), ``what`` the step about to run; one form for every long entry point
(``suggest``, ``search_backbones``, ``bench``, ``scale``, ``run_sweep``).

Example:
    >>> calls = []
    >>> archcalc.scale("resnet18", 96, 128, steps=2, progress=lambda *a: calls.append(a))
    ... # doctest: +SKIP
    >>> calls[0][:2]  # doctest: +SKIP
    (0, 2)
"""


def report_progress(
    callback: ProgressCallback | None, done: int, total: int | None, what: str
) -> None:
    """Call ``callback`` if there is one (a convenience so that callers stay one line)."""
    if callback is not None:
        callback(done, total, what)
