"""What ``archcalc.profile()`` costs over the floor: building the model on meta + one meta forward,
and what its receptive-field analysis adds to it.

For each model four calls are timed interleaved (floor, profile without the receptive-field
analysis, profile, profile with training-step MACs, floor, ...) in one process after a warm-up,
so machine noise hits all alike; the ratios of medians are printed with each side's spread
(p10-p90), and for the receptive field also the ratio of the fastest calls and the median of
the ratios of adjacent calls (with, without: a pair shares the machine's state of the moment).
Each call starts after a full garbage collection and is timed in CPU time of its thread (see
``timed``).
"Without" swaps the field tracker for one whose per-operator hook does nothing (the rest of
profile() is unchanged). Because a shared machine leaves ratios of 5 % noisy even so, the
analysis is also timed from inside: the CPU seconds spent in the tracker's per-operator hook,
as a share of the rest of the same profile() call (median over the repeats). The
receptive-field bar (<= 10 %) is read both ways. The 1.5x bar applies to ``profile()``;
``profile(train=True)`` adds the backward pass and is reported beside it.

    python benchmarks/profile_overhead.py [--repeats 7] [--models resnet50 ...]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import timm
import torch

import archcalc
import archcalc.core.trace
from archcalc.core.receptive.tracker import FieldTracker

MODELS = ("resnet50", "convnext_base", "vit_base_patch16_224")


def floor(name: str, res: int) -> None:
    """The least any static tool must do: build on meta and run one meta forward."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    model.eval()
    with torch.no_grad():
        model(torch.empty(1, 3, res, res, device="meta"))


class TimedFields(FieldTracker):
    """A tracker that adds the seconds its per-operator hook takes to ``TimedFields.spent``."""

    spent = 0.0

    def after(self, *args: object) -> None:
        start = time.thread_time()
        super().after(*args)  # type: ignore[arg-type]
        TimedFields.spent += time.thread_time() - start


def analysis_share(name: str, res: int) -> float:
    """Seconds inside the receptive-field analysis / seconds of the rest of one profile()."""
    archcalc.core.trace.FieldTracker = TimedFields  # type: ignore[misc]
    TimedFields.spent = 0.0
    try:
        total = timed(partial(archcalc.profile, name, res))
    finally:
        archcalc.core.trace.FieldTracker = FieldTracker  # type: ignore[misc]
    return TimedFields.spent / (total - TimedFields.spent)


class NoFields(FieldTracker):
    """A tracker that follows nothing: profile() as it was before the analysis."""

    def after(self, *args: object) -> None:
        return None


def without_fields(name: str, res: int) -> None:
    """profile() with the receptive-field analysis switched off."""
    archcalc.core.trace.FieldTracker = NoFields  # type: ignore[misc]
    try:
        archcalc.profile(name, res)
    finally:
        archcalc.core.trace.FieldTracker = FieldTracker  # type: ignore[misc]


def timed(fn: Callable[[], object]) -> float:
    """CPU seconds of this thread for one call, after a full garbage collection. A meta trace
    runs on one thread, and this thread's CPU time leaves out the other tenants' work that a
    shared machine adds to the wall clock (p10-p90 spreads of +-25 % here). With torch and
    timm loaded, a collection of the oldest generation takes about a profile's time and would
    otherwise land on whichever call crosses its threshold (young generations still run)."""
    gc.collect()
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def spread(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=10)
    return f"{1e3 * statistics.median(samples):.0f} ms (p10-p90 {1e3 * q[0]:.0f}-{1e3 * q[-1]:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--res", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, timm {timm.__version__}, threads {torch.get_num_threads()}")
    worst = worst_rf = worst_wall = 0.0
    for name in args.models:
        floor(name, args.res)  # warm-up: first-call costs (imports, kernels) paid once
        without_fields(name, args.res)
        archcalc.profile(name, args.res)
        archcalc.profile(name, args.res, train=True)
        base: list[float] = []
        plain: list[float] = []
        ours: list[float] = []
        shares: list[float] = []
        train: list[float] = []
        for _ in range(args.repeats):
            base.append(timed(partial(floor, name, args.res)))
            plain.append(timed(partial(without_fields, name, args.res)))
            ours.append(timed(partial(archcalc.profile, name, args.res)))
            shares.append(analysis_share(name, args.res))
            train.append(timed(partial(archcalc.profile, name, args.res, train=True)))
        ratio = statistics.median(ours) / statistics.median(base)
        rf_ratio = statistics.median(ours) / statistics.median(plain)
        rf_paired = statistics.median(o / p for o, p in zip(ours, plain, strict=True))
        rf_fastest = min(ours) / min(plain)
        ratio_train = statistics.median(train) / statistics.median(base)
        share = statistics.median(shares)
        worst, worst_rf = max(worst, ratio), max(worst_rf, share)
        worst_wall = max(worst_wall, rf_paired)
        print(
            f"{name}@{args.res}: floor {spread(base)}, profile without RF {spread(plain)}, "
            f"profile {spread(ours)}, train=True {spread(train)}; profile/floor {ratio:.2f}, "
            f"with/without RF {rf_ratio:.3f} (fastest {rf_fastest:.3f}, "
            f"median of adjacent pairs {rf_paired:.3f}), "
            f"RF analysis timed inside: +{100 * share:.1f}%, "
            f"train=True/floor {ratio_train:.2f}"
        )
    print(f"worst profile/floor {worst:.2f} (bar: <= 1.5)")
    print(f"worst receptive-field analysis, timed inside: +{100 * worst_rf:.1f}% (bar: <= 10%)")
    print(f"worst with/without RF, CPU time (median of pairs): {worst_wall:.3f} (bar: <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
