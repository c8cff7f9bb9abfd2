"""What ``archcalc.profile()`` costs over the floor: building the model on meta + one meta forward.

For each model the three are timed interleaved (floor, profile, profile with training-step
MACs, ...) in one process after a warm-up, so machine noise hits all alike; the ratios of
medians are printed with each side's spread (p10-p90). The bar applies to ``profile()``;
``profile(train=True)`` adds the backward pass and is reported beside it.

    python benchmarks/profile_overhead.py [--repeats 7] [--models resnet50 ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import timm
import torch

import archcalc

MODELS = ("resnet50", "convnext_base", "vit_base_patch16_224")


def floor(name: str, res: int) -> None:
    """The least any static tool must do: build on meta and run one meta forward."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    model.eval()
    with torch.no_grad():
        model(torch.empty(1, 3, res, res, device="meta"))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
    worst = 0.0
    for name in args.models:
        floor(name, args.res)  # warm-up: first-call costs (imports, kernels) paid once
        archcalc.profile(name, args.res, train=True)
        base: list[float] = []
        ours: list[float] = []
        train: list[float] = []
        for _ in range(args.repeats):
            base.append(timed(partial(floor, name, args.res)))
            ours.append(timed(partial(archcalc.profile, name, args.res)))
            train.append(timed(partial(archcalc.profile, name, args.res, train=True)))
        ratio = statistics.median(ours) / statistics.median(base)
        ratio_train = statistics.median(train) / statistics.median(base)
        worst = max(worst, ratio)
        print(
            f"{name}@{args.res}: floor {spread(base)}, profile {spread(ours)}, ratio {ratio:.2f}; "
            f"train=True {spread(train)}, ratio {ratio_train:.2f}"
        )
    print(f"worst ratio {worst:.2f} (bar: <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
