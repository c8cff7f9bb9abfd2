"""Does ``archcalc.measure`` agree with a plain ``torch.utils.benchmark.Timer`` loop? (CPU)

For resnet18, resnet50 and mobilenetv3_large_100 at 224, batch 1: build the model once
(random weights, eval), make one input, then alternate, round after round in the same run,
``archcalc.measure(module)`` and the reference ``Timer("m(x)").blocked_autorange()`` on the same
module, an input of the same shape, the same thread count, under ``torch.inference_mode()``.
Prints each side's median (the median of its round medians), their ratio, the within-round
spread of each (IQR / median, and p10-p90 for archcalc) and the round-to-round range.

    flock /tmp/archcalc-heavy.lock python benchmarks/latency_agreement.py
    python benchmarks/latency_agreement.py --rounds 5 --min-time 2 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field

import torch
from torch.utils.benchmark import Timer

import archcalc
from archcalc.core.build import build
from archcalc.timing.measure import default_threads

MODELS = ("resnet18", "resnet50", "mobilenetv3_large_100")
BAR = 0.05  # the bar: archcalc's median within +-5 % of the reference


@dataclass
class Side:
    """One method's round medians and within-round relative spreads."""

    medians_s: list[float] = field(default_factory=list)
    iqr_rel: list[float] = field(default_factory=list)
    p10_p90_rel: list[float] = field(default_factory=list)

    def add(self, other: Side) -> None:
        self.medians_s += other.medians_s
        self.iqr_rel += other.iqr_rel
        self.p10_p90_rel += other.p10_p90_rel

    @property
    def median_s(self) -> float:
        return statistics.median(self.medians_s)

    @property
    def round_range(self) -> float:
        """(max - min) / median of the round medians."""
        return (max(self.medians_s) - min(self.medians_s)) / self.median_s


def reference(module: torch.nn.Module, x: torch.Tensor, threads: int, min_time: float) -> Side:
    timer = Timer(stmt="m(x)", globals={"m": module, "x": x}, num_threads=threads)
    with torch.inference_mode():
        m = timer.blocked_autorange(min_run_time=min_time)
    return Side([m.median], [m.iqr / m.median])


def ours(module: torch.nn.Module, threads: int, min_time: float) -> Side:
    t = archcalc.measure(
        module, 224, settings=archcalc.TimingSettings(threads=threads, min_run_time_s=min_time)
    )
    return Side([t.median_s], [t.iqr_s / t.median_s], [(t.p90_s - t.p10_s) / t.median_s])


def compare(name: str, rounds: int, threads: int, min_time: float) -> tuple[Side, Side]:
    module = build(name, (224, 224), device="cpu").module.eval()
    x = torch.randn(1, 3, 224, 224)
    mine, ref = Side(), Side()
    for _ in range(rounds):  # interleaved: ours, reference, ours, reference, ...
        mine.add(ours(module, threads, min_time))
        ref.add(reference(module, x, threads, min_time))
    return mine, ref


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} interleaved rounds, "
        f"{args.min_time} s per measurement; batch 1, 224x224, float32, CPU"
    )
    head = ("model", "archcalc ms", "Timer ms", "ratio", "ours IQR/med", "ours p10-p90/med")
    head += ("Timer IQR/med", "ours rounds", "Timer rounds")
    print(" | ".join(head))
    worst = 0.0
    for name in args.models:
        mine, ref = compare(name, args.rounds, args.threads, args.min_time)
        ratio = mine.median_s / ref.median_s
        worst = max(worst, abs(ratio - 1))
        cells = [name, f"{1e3 * mine.median_s:.2f}", f"{1e3 * ref.median_s:.2f}", f"{ratio:.3f}"]
        cells += [f"{100 * statistics.median(s):.1f}%" for s in (mine.iqr_rel, mine.p10_p90_rel)]
        cells += [f"{100 * statistics.median(ref.iqr_rel):.1f}%"]
        cells += [f"{100 * mine.round_range:.1f}%", f"{100 * ref.round_range:.1f}%"]
        print(" | ".join(cells), flush=True)
    verdict = "within" if worst <= BAR else "OUTSIDE"
    print(f"worst |ratio - 1| = {100 * worst:.1f}% ({verdict} the +-{100 * BAR:.0f}% bar)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
