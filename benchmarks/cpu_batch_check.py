"""Is the batch dependence of a prediction right? This machine's CPU, calibrated at batch 1,
predicts batch 8 and 32 (issue 26, step 4).

1. ``calibrate --device cpu``: time ``CPU_MODELS`` at batch 1 (224, fp32) and fit a target;
2. ``bench`` each of ``MODELS`` (never calibrated on) at batch 1, 8 and 32;
3. compare the predictions at each batch with the measurements: median / P90 |predicted /
   measured - 1| (goal at batch 8 and 32: median <= 20 %).

Both sides run at the same thread count (``--threads``, default 1: on a machine shared with
other jobs every extra thread waits for a descheduled one). The load average before and after
is recorded beside the figures; rerun on an idle machine for figures to quote.

Run: ``python benchmarks/cpu_batch_check.py [--models a b c]`` (about 5 minutes). Writes
benchmarks/results/cpu_batch_check.txt and the measured rows in timm's CSV format to
benchmarks/results/cpu_batch_check.csv (``archcalc calibrate --from`` reads it).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from archcalc.timing.bench import bench
from archcalc.timing.measure import TimingSettings
from archcalc.timing.predict.api import predict
from archcalc.timing.predict.calibrate import calibrate_cpu, errors

RESULTS = Path(__file__).resolve().parent / "results" / "cpu_batch_check.txt"
TABLE = RESULTS.with_suffix(".csv")
BATCHES = (1, 8, 32)
SIZE = 224
#: Small models calibrate_cpu does not time: depthwise, plain conv, ViT, LeViT, MobileViT,
#: ConvNeXt, PoolFormer, EdgeNeXt.
MODELS = (
    "mobilenetv2_100", "mobilenetv3_large_100", "efficientnet_lite0", "mnasnet_100",
    "regnetx_004", "regnety_004", "lcnet_050", "tf_mobilenetv3_small_100", "ghostnetv2_100",
    "convnext_femto", "vit_tiny_patch16_224", "levit_192", "mobilevitv2_050", "edgenext_xx_small",
)  # fmt: skip


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per bench row")
    args = parser.parse_args()
    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    torch.set_num_threads(args.threads)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out(f"# cpu_batch_check.py, {stamp}, torch {torch.__version__}, {args.threads} thread(s)")
    out(f"load average (1 / 5 / 15 min) at the start: {load()}")
    start = time.perf_counter()
    target, use = calibrate_cpu("this-cpu", seconds=60, threads=args.threads)
    out(
        f"calibrate --device cpu: {len(use.rows)} models at batch 1 in "
        f"{time.perf_counter() - start:.0f} s; in-sample median {target.error['median_pct']:.1f} %"
    )
    settings = TimingSettings(threads=args.threads, min_run_time_s=args.min_time)
    measured: list[tuple[str, int, float, float]] = []  # model, batch, measured/s, predicted/s
    out(f"\n{'model':<28} {'batch':>5} {'measured ms':>12} {'predicted ms':>13} {'ratio':>6}")
    for model in args.models:
        for batch in BATCHES:
            timing = bench(model, [SIZE], [batch], settings=settings).rows[0].timing
            if timing is None:
                out(f"{model:<28} {batch:>5}  not measured")
                continue
            p = predict(model, SIZE, target=target, batch_size=batch)
            measured.append((model, batch, timing.images_per_s, p.samples_per_sec))
            out(
                f"{model:<28} {batch:>5} {batch / timing.images_per_s * 1e3:>12.1f} "
                f"{p.latency_ms:>13.1f} {p.samples_per_sec / timing.images_per_s:>6.2f}"
            )
    out(f"\nload average at the end: {load()}")
    out(
        "\n## predicted / measured, per batch (calibrated at batch 1; goal at 8 and 32: "
        "median <= 20 %)"
    )
    for batch in BATCHES:
        rows = [(m, p) for _, b, m, p in measured if b == batch]
        if not rows:
            continue
        err = errors(np.array([p for _, p in rows]), np.array([m for m, _ in rows]))
        ratios = np.array([p / m for m, p in rows])
        out(
            f"batch {batch:>3}: {len(rows):>2} models  median {err['median_pct']:.1f} %  "
            f"P90 {err['p90_pct']:.1f} %  median ratio {np.median(ratios):.2f}"
        )
    RESULTS.write_text("\n".join(lines) + "\n")
    with TABLE.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "infer_img_size", "infer_batch_size", "infer_samples_per_sec"])
        for model, batch, sps, _ in measured:
            writer.writerow([model, SIZE, batch, f"{sps:.3f}"])
        for row in use.rows:  # the calibration's own batch-1 rows
            writer.writerow([row.model, row.size, row.batch_size, f"{row.samples_per_sec:.3f}"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
