"""This CPU's effective memory bandwidth by working set: a STREAM-like microbenchmark.

A kernel whose data fits in a cache streams it at the cache's bandwidth; one whose data does
not streams it from DRAM, several times slower. ``measure_bandwidth`` times ``c = a + b``
(float32, read two arrays and write one: STREAM's "add") on working sets from below L2 to
well above L3, in interleaved rounds, keeping each size's fastest pass, less the time of a
pass on a tiny array (the per-call overhead, which the latency model prices apart). Used by
``calibrate --device cpu`` to give a CPU target its memory curve
(``archcalc.timing.predict.model.MemoryCurve``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import torch

from archcalc.timing.session import torch_threads

__all__ = ["SIZES", "measure_bandwidth", "time_add"]

#: Working sets timed (bytes of the three arrays together): 256 KiB to 512 MiB, x2 steps.
SIZES = tuple(2**k for k in range(18, 30))
#: The tiny working set whose pass time is the per-call overhead.
TINY = 3 * 1024


def time_add(arrays: tuple[torch.Tensor, ...], nbytes: int, seconds: float) -> float:
    """The fastest of repeated ``torch.add(a, b, out=c)`` passes over ``nbytes`` (the three
    float32 arrays together: the first elements of each of ``arrays``), timed for about
    ``seconds``: seconds per pass."""
    n = max(1, nbytes // 12)
    a, b, c = (t[:n] for t in arrays)
    best = float("inf")
    end = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        torch.add(a, b, out=c)
        now = time.perf_counter()
        best = min(best, now - start)
        if now > end:
            return best


def measure_bandwidth(
    sizes: Sequence[int] = SIZES,
    *,
    threads: int | None = None,
    seconds: float = 4.0,
    rounds: int = 3,
    timer: Callable[[int, float], float] | None = None,
) -> list[float]:
    """Effective bandwidth (bytes/s) at each working set of ``sizes`` (bytes), at ``threads``
    (None: torch's current count), within about ``seconds``.

    Each round times every size (and the tiny one) for its share of the budget; a size keeps
    its fastest pass over the rounds (interleaving spreads another process's load over every
    size). Bandwidth = size / (pass - tiny pass). ``timer(nbytes, seconds)`` gives seconds
    per pass (default: ``time_add``).
    """
    if timer is None:  # one set of arrays for every size (written once: no page faults)
        n = max(sizes) // 12
        timer = functools.partial(time_add, (torch.ones(n), torch.ones(n), torch.zeros(n)))
    share = seconds / rounds / (len(sizes) + 1)
    best = [float("inf")] * (len(sizes) + 1)
    with torch_threads(threads or torch.get_num_threads()):
        for _ in range(rounds):
            for i, nbytes in enumerate((TINY, *sizes)):
                best[i] = min(best[i], timer(nbytes, share))
    overhead = best[0]
    return [n / max(t - overhead, t * 1e-3) for n, t in zip(sizes, best[1:], strict=True)]
