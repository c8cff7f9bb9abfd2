"""Repeatability: three back-to-back ``archcalc.measure`` calls on resnet50 at 224 (CPU).

Each call builds the model afresh (random weights), as a user's three runs would. Prints every
call's median and spread (IQR and p10-p90 relative to the median) and the largest deviation
of a median from the median of the three; the issue's bar is +-5 %.

    flock /tmp/archcalc-heavy.lock python benchmarks/latency_repeatability.py
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

import archcalc
from archcalc.timing.measure import default_threads

BAR = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=1.0, help="measure's min_run_time")
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {args.model} at 224, batch 1, {args.threads} thread(s)")
    settings = archcalc.TimingSettings(threads=args.threads, min_run_time_s=args.min_time)
    medians = []
    for call in range(1, args.calls + 1):
        t = archcalc.measure(args.model, 224, settings=settings)
        medians.append(t.median_s)
        print(
            f"call {call}: median {1e3 * t.median_s:.2f} ms, IQR {100 * t.iqr_s / t.median_s:.1f}%,"
            f" p10-p90 {1e3 * t.p10_s:.2f}-{1e3 * t.p90_s:.2f} ms, {t.runs} runs,"
            f" warm-up {t.warmup_runs} runs ({'stable' if t.warmup_stable else 'NOT stable'})",
            flush=True,
        )
    centre = statistics.median(medians)
    worst = max(abs(m / centre - 1) for m in medians)
    spread = (max(medians) - min(medians)) / centre
    verdict = "within" if worst <= BAR else "OUTSIDE"
    print(
        f"largest deviation from the median of medians: {100 * worst:.1f}% ({verdict} the "
        f"+-{100 * BAR:.0f}% bar); max/min range {100 * spread:.1f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
