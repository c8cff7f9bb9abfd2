"""A progress line on stderr for long commands: what runs, i of n, elapsed, ETA, a spinner.

Drawn only when stderr is a terminal: redirected or piped output, JSON on stdout and logs stay
clean. Commands pass ``ProgressBar.step`` as the ``progress`` callback of the computation
(``archcalc.progress``); a background thread turns the spinner while one step runs (a model
build, a timed run), so the line never looks frozen.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

__all__ = ["ProgressBar"]

_SPINNER = "|/-\\"
_BAR_WIDTH = 20
_REDRAW_S = 0.1


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


class ProgressBar:
    """``with ProgressBar("suggest") as bar: suggest(..., progress=bar.step)``.

    ``step(done, total, what)`` records the state; the line shows ``label: what [done/total]``
    with a bar and ETA when ``total`` is known, a spinner and the elapsed time always. The
    line is erased on exit, so what the command prints next starts clean.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = _is_terminal(self._stream)
        self._state: tuple[int, int | None, str] = (0, None, "starting")
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._turns = 0

    def __enter__(self) -> ProgressBar:
        if self._enabled:
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write("\r\x1b[K")

    def step(self, done: int, total: int | None, what: str) -> None:
        """The progress callback: ``done`` of ``total`` finished, ``what`` runs next."""
        with self._lock:
            self._state = (done, total, what)
        self._draw()

    def line(self) -> str:
        """The current line (without the carriage return), cut to the terminal width."""
        with self._lock:
            done, total, what = self._state
        elapsed = time.monotonic() - self._start
        spin = _SPINNER[self._turns % len(_SPINNER)]
        parts = [f"{spin} {self._label}: {what}"]
        if total:
            filled = _BAR_WIDTH * min(done, total) // total
            parts.append(f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total}")
        parts.append(f"{elapsed:.0f} s")
        if total and 0 < done < total:
            parts.append(f"ETA {elapsed / done * (total - done):.0f} s")
        width = shutil.get_terminal_size((80, 24)).columns - 1
        return "  ".join(parts)[:width]

    def _spin(self) -> None:
        while not self._stop.wait(_REDRAW_S):
            self._turns += 1
            self._draw()

    def _draw(self) -> None:
        if self._enabled:
            self._write(f"\r{self.line()}\x1b[K")

    def _write(self, text: str) -> None:
        with self._lock:
            self._stream.write(text)
            self._stream.flush()
