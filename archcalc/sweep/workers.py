"""Run tasks in isolated worker processes: a crash, hang or memory blow-up fails one task only.

``run_isolated(tasks, target, jobs=2, timeout_s=300)`` keeps ``jobs`` long-lived worker
processes (``spawn``: a fresh interpreter, so no torch thread pools or locks are inherited half
initialised, and the same on Linux, macOS and Windows). Each worker imports ``target`` (an
importable ``"module:function"``) once, then is fed one task at a time; ``target(payload)``
yields picklable items, streamed back as they come, so a task that dies half way keeps what it
finished. The parent watches every worker: past ``timeout_s`` for one task, above
``max_rss_bytes`` resident memory (Linux ``/proc``), or dead (segfault, ``os._exit``, OOM
killer), the worker is killed, the task ends with a ``Failure`` and a fresh worker replaces it.
A worker whose resident memory has crept above ``recycle_rss_bytes`` is retired after its task.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from archcalc.errors import (
    InvalidArgumentError,
    InvalidResolutionError,
    WorkerCrashError,
    first_line,
)
from archcalc.formatting import GIB, MIB
from archcalc.serialize import Serialized, json_field
from archcalc.system import peak_rss_bytes, rss_bytes

__all__ = ["Done", "Failure", "Item", "load_target", "run_isolated"]

#: How often (seconds) the parent wakes to check deadlines and memory when nothing arrives.
POLL_S = 0.1
#: Seconds a new worker may take to import its target before it counts as failed to start.
START_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Failure(Serialized):
    """Why a task did not finish: ``kind`` is exception, timeout, crash or memory; for a size
    refused as invalid, ``nearest`` holds the nearest sizes that run (``[height, width]``
    pairs, smaller first; empty otherwise, and in lines written before it existed)."""

    kind: str
    error_type: str = json_field(name="type")
    reason: str
    nearest: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, error: Exception) -> Failure:
        """The failure an exception is: its type, its whole message and its structured fields."""
        nearest = error.nearest if isinstance(error, InvalidResolutionError) else ()
        return cls("exception", type(error).__name__, first_line(error, whole=True), nearest)


@dataclass(frozen=True)
class Item:
    """One value the target yielded for ``task`` (the task object given to ``run_isolated``)."""

    task: Any
    value: Any


@dataclass(frozen=True)
class Done:
    """``task`` ended: ``failure`` is None on success; the worker's pid and peak RSS in bytes."""

    task: Any
    failure: Failure | None
    worker_pid: int
    peak_rss_bytes: int | None
    seconds: float


@dataclass
class _Worker:
    """Parent-side handle of one worker process (mutable bookkeeping, local to one run)."""

    process: Any
    conn: Connection
    ready: bool = False
    task: Any = None
    started_s: float = 0.0
    peak_rss_bytes: int | None = None


def load_target(path: str) -> Callable[[Any], Iterable[Any]]:
    """Import ``"package.module:function"``; raise InvalidArgumentError naming the fix."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgumentError(f"worker target must look like 'module:function', got {path!r}")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise InvalidArgumentError(f"cannot import worker target {path!r}: {e}") from e
    if not callable(target):
        raise InvalidArgumentError(f"worker target {path!r} is not callable")
    return target  # type: ignore[no-any-return]


def _worker_main(conn: Connection, target_path: str, preload: tuple[str, ...]) -> None:
    """Worker entry point: import the target and ``preload``, then serve tasks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
    try:
        target = load_target(target_path)
        for name in preload:
            importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("fatal", first_line(e, whole=True, with_type=True)))
        return
    try:
        conn.send(("ready", os.getpid()))
        _serve(conn, target)
    except (EOFError, OSError):  # the parent is gone (killed, Ctrl-C): nothing left to do
        return


def _serve(conn: Connection, target: Callable[[Any], Iterable[Any]]) -> None:
    """Run one task per message until the parent sends None or goes away."""
    while (payload := conn.recv()) is not None:
        failure = None
        try:
            for value in target(payload):
                conn.send(("item", value))
        except (EOFError, OSError):
            raise
        except Exception as e:  # noqa: BLE001 - isolation: a task's error is its result
            failure = Failure.of(e)
        conn.send(("done", failure, peak_rss_bytes()))


def run_isolated(
    tasks: Iterable[tuple[Any, Any]],
    target: str,
    *,
    jobs: int = 2,
    timeout_s: float | None = 300.0,
    max_rss_bytes: int | None = 4 * GIB,
    recycle_rss_bytes: int | None = int(1.5 * GIB),
    preload: tuple[str, ...] = (),
) -> Iterator[Item | Done]:
    """Run ``target(payload)`` for each ``(task, payload)`` in ``jobs`` isolated processes.

    ``preload`` modules are imported by each worker before its first task, so their import time
    does not count against ``timeout_s``. Yields an ``Item`` for every value the target yields
    and one ``Done`` per task, as they arrive. Closing the generator (or Ctrl-C) kills the
    workers.
    """
    load_target(target)  # fail fast, in the parent, on a bad path
    ctx = multiprocessing.get_context("spawn")
    queue = deque(tasks)
    workers: list[_Worker] = []
    try:
        while queue or any(w.task is not None for w in workers):
            busy = sum(w.task is not None for w in workers)
            _top_up(workers, ctx, (target, preload), min(jobs, busy + len(queue)))
            for w in workers:
                if w.ready and w.task is None and queue:
                    w.task, payload = queue.popleft()
                    w.started_s = time.monotonic()
                    w.conn.send(payload)
            yield from _step(workers, timeout_s, max_rss_bytes, recycle_rss_bytes)
    finally:
        for w in workers:
            _stop(w)


def _top_up(
    workers: list[_Worker], ctx: Any, args: tuple[str, tuple[str, ...]], wanted: int
) -> None:
    """Start workers until ``wanted`` are alive (busy or idle)."""
    while len(workers) < wanted:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_worker_main, args=(child, *args), daemon=True)
        process.start()
        child.close()
        workers.append(_Worker(process, parent, started_s=time.monotonic()))


def _step(
    workers: list[_Worker],
    timeout_s: float | None,
    max_rss_bytes: int | None,
    recycle_rss_bytes: int | None,
) -> Iterator[Item | Done]:
    """Wait briefly for messages or deaths, then enforce deadlines and the memory cap."""
    handles = [w.conn for w in workers] + [w.process.sentinel for w in workers]
    wait(handles, timeout=POLL_S)
    for w in list(workers):
        yield from _drain(w, workers, recycle_rss_bytes)
    now = time.monotonic()
    for w in list(workers):
        rss = rss_bytes(w.process.pid) if w.process.pid else None
        if rss is not None:
            w.peak_rss_bytes = max(w.peak_rss_bytes or 0, rss)
        if not w.ready and now - w.started_s > START_TIMEOUT_S:
            _retire(w, workers)
            raise WorkerCrashError(f"worker did not start within {START_TIMEOUT_S:.0f} s")
        if w.task is None:
            continue
        if timeout_s is not None and now - w.started_s > timeout_s:
            failure = Failure("timeout", "TimeoutError", f"no result within {timeout_s:g} s")
        elif max_rss_bytes is not None and rss is not None and rss > max_rss_bytes:
            mib = max_rss_bytes // MIB
            failure = Failure("memory", "MemoryError", f"worker RSS above {mib} MiB")
        else:
            continue
        done = _finish(w, failure, w.peak_rss_bytes)
        _retire(w, workers)
        yield done


def _drain(
    w: _Worker, workers: list[_Worker], recycle_rss_bytes: int | None
) -> Iterator[Item | Done]:
    """Forward everything a worker has sent; handle its death once its pipe is empty."""
    try:
        while w.conn.poll():
            kind, *rest = w.conn.recv()
            if kind == "ready":
                w.ready = True
            elif kind == "fatal":
                _retire(w, workers)
                raise WorkerCrashError(f"worker failed to start: {rest[0]}")
            elif kind == "item":
                yield Item(w.task, rest[0])
            elif kind == "done":
                w.peak_rss_bytes = max(w.peak_rss_bytes or 0, rest[1])
                yield _finish(w, rest[0], w.peak_rss_bytes)
                rss = rss_bytes(w.process.pid)
                if recycle_rss_bytes is not None and rss is not None and rss > recycle_rss_bytes:
                    _retire(w, workers)
                    return
    except (EOFError, OSError):
        pass
    if w.process.is_alive():
        return
    w.process.join()
    if not w.ready:
        _retire(w, workers)
        raise WorkerCrashError(f"worker died while starting: {_crash(w.process.exitcode).reason}")
    if w.task is not None:
        yield _finish(w, _crash(w.process.exitcode), w.peak_rss_bytes)
    _retire(w, workers)


def _crash(exitcode: int | None) -> Failure:
    """Describe how a worker died: a signal (segfault, OOM killer) or an exit status."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return Failure("crash", "WorkerCrash", f"worker killed by {name}{hint}")
    return Failure("crash", "WorkerCrash", f"worker exited with status {exitcode}")


def _finish(w: _Worker, failure: Failure | None, peak: int | None) -> Done:
    done = Done(w.task, failure, w.process.pid, peak, time.monotonic() - w.started_s)
    w.task = None
    return done


def _retire(w: _Worker, workers: list[_Worker]) -> None:
    _stop(w)
    if w in workers:
        workers.remove(w)


def _stop(w: _Worker) -> None:
    """Kill a worker (idle ones hold nothing worth a graceful exit), reap it, close its pipe."""
    with contextlib.suppress(OSError, ValueError):
        w.process.kill()
    w.process.join()
    w.conn.close()
