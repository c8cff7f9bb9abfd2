"""Is the batch dependence of a prediction right? This machine's CPU, calibrated at batch 1,
predicts batch 8 and 32 (issue 26, step 4).

1. ``calibrate --device cpu``: measure the memory curve (``archcalc.timing.bandwidth``), time
   ``CPU_MODELS`` at batch 1 (224, fp32) and fit a target with the curve; the same rows are
   also fitted without it (a target as before the curve: one bandwidth per class);
2. ``bench`` each of ``MODELS`` (never calibrated on) at batch 1, 8 and 32;
3. compare both targets' predictions at each batch with the measurements: median / P90
   |predicted / measured - 1| (goal at batch 8 and 32: median <= 20 %).

Both sides run at the same thread count (``--threads``, default 1: on a machine shared with
other jobs every extra thread waits for a descheduled one). The load average before and after
is recorded beside the figures; rerun on an idle machine for figures to quote.

Run: ``python benchmarks/cpu_batch_check.py [--models a b c]`` (about 5 minutes on an idle
machine, 8 at load average 5). Writes benchmarks/results/cpu_batch_check.txt and the measured
rows in timm's CSV format to benchmarks/results/cpu_batch_check.csv (``archcalc calibrate
--from`` reads it).
``--from CSV`` times nothing but the memory curve: it refits and predicts the rows of an
earlier run's CSV (about 30 seconds; writes cpu_batch_check_replay.txt), to develop the model
on measurements taken earlier.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from archcalc.timing.bandwidth import SIZES, measure_bandwidth
from archcalc.timing.bench import bench
from archcalc.timing.measure import TimingSettings
from archcalc.timing.predict.api import predict
from archcalc.timing.predict.calibrate import CPU_MODELS, calibrate, calibrate_cpu, errors
from archcalc.timing.predict.model import DeviceProfile, MemoryCurve
from archcalc.timing.predict.tables import Measured, read_table

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
    parser.add_argument("--from", dest="table", type=Path, help="refit an earlier run's CSV")
    args = parser.parse_args()
    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    torch.set_num_threads(args.threads)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    what = f"refit of {args.table.name}" if args.table else "measured"
    out(
        f"# cpu_batch_check.py ({what}), {stamp}, torch {torch.__version__}, "
        f"{args.threads} thread(s)"
    )
    out(f"load average (1 / 5 / 15 min) at the start: {load()}")
    start = time.perf_counter()
    if args.table:
        calibration, checked = replayed(args.table, args.models)
        curve = MemoryCurve(SIZES, tuple(measure_bandwidth(SIZES, threads=args.threads)))
        target, _ = calibrate(
            "this-cpu", calibration, kind="cpu", dtype="float32", memory_curve=curve
        )
        out(
            f"memory curve measured in {time.perf_counter() - start:.0f} s; "
            f"{len(calibration)} calibration rows and {len(checked)} checked rows read"
        )
    else:
        target, use = calibrate_cpu("this-cpu", seconds=60, threads=args.threads)
        calibration = use.rows
        out(
            f"calibrate --device cpu (memory curve, {len(calibration)} models at batch 1) in "
            f"{time.perf_counter() - start:.0f} s"
        )
        checked = timed(args.models, args.threads, args.min_time)
    flat, _ = calibrate("this-cpu-flat", calibration, kind="cpu", dtype="float32")
    out(
        f"in-sample median: {target.error['median_pct']:.1f} % with the curve, "
        f"{flat.error['median_pct']:.1f} % without"
    )
    if target.deployment.memory_curve is not None:  # calibrate_cpu and the refit measure one
        curve = target.deployment.memory_curve
        points = zip(curve.sizes, curve.bandwidth, strict=True)
        out("\nmemory curve (working set: GB/s): " + ", ".join(
            f"{size / 2**20:g} MiB: {bw / 1e9:.0f}" for size, bw in points
        ))  # fmt: skip
    compared = compare(checked, {"curve": target, "flat": flat}, out)
    out(f"\nload average at the end: {load()}")
    out(
        "\n## predicted / measured, per batch (calibrated at batch 1; goal at 8 and 32: "
        "median <= 20 %)"
    )
    out(
        "trend: median |ratio at the batch / ratio at batch 1 - 1| over the models, the batch "
        "dependence alone (the error at batch 1 divided out)"
    )
    for name, label in (("flat", "without the curve (before)"), ("curve", "with the curve")):
        out(f"{label}:")
        ratio = {(model, b): p[name] / m for model, b, m, p in compared}
        for batch in BATCHES:
            rows = [(m, p[name]) for _, b, m, p in compared if b == batch]
            if not rows:
                continue
            err = errors(np.array([p for _, p in rows]), np.array([m for m, _ in rows]))
            ratios = np.array([p / m for m, p in rows])
            trend = [
                r / ratio[model, 1] - 1
                for (model, b), r in ratio.items()
                if b == batch and (model, 1) in ratio
            ]
            out(
                f"  batch {batch:>3}: {len(rows):>2} models  median {err['median_pct']:.1f} %  "
                f"P90 {err['p90_pct']:.1f} %  median ratio {np.median(ratios):.2f}  "
                f"trend {np.median(np.abs(trend)) * 100:.1f} %"
            )
    if args.table:
        RESULTS.with_name("cpu_batch_check_replay.txt").write_text("\n".join(lines) + "\n")
        return 0
    RESULTS.write_text("\n".join(lines) + "\n")
    with TABLE.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["model", "infer_img_size", "infer_batch_size", "infer_samples_per_sec"])
        for row in [*checked, *calibration]:  # the checked rows, then the calibration's own
            if row.samples_per_sec is None:
                continue
            writer.writerow([row.model, row.size, row.batch_size, f"{row.samples_per_sec:.3f}"])
    return 0


def replayed(table: Path, models: list[str]) -> tuple[list[Measured], list[Measured]]:
    """An earlier run's rows: the batch-1 rows of ``CPU_MODELS`` (calibration) and the rows
    of ``models`` (checked)."""
    rows, _ = read_table(table, need_throughput=True)
    calibration = [r for r in rows if r.model in CPU_MODELS and r.batch_size == 1]
    return calibration, [r for r in rows if r.model in models]


def timed(models: list[str], threads: int, min_time: float) -> list[Measured]:
    """``bench`` rows of ``models`` at each of ``BATCHES`` (224, fp32)."""
    settings = TimingSettings(threads=threads, min_run_time_s=min_time)
    rows = []
    for model in models:
        print(f"timing {model} at batch {', '.join(map(str, BATCHES))}", file=sys.stderr)
        for batch in BATCHES:
            timing = bench(model, [SIZE], [batch], settings=settings).rows[0].timing
            sps = None if timing is None else timing.images_per_s
            rows.append(Measured(model, SIZE, batch, sps, {}))
    return rows


def compare(
    checked: list[Measured], targets: dict[str, DeviceProfile], out: Callable[[str], None]
) -> list[tuple[str, int, float, dict[str, float]]]:
    """Each measured row with each target's predicted samples/s, printed as a table:
    ``(model, batch, measured samples/s, {target: predicted samples/s})``."""
    names = list(targets)
    head = "".join(f" {'ms ' + n:>10} {'ratio':>6}" for n in names)
    out(f"\n{'model':<26} {'batch':>5} {'measured ms':>12}{head}")
    compared = []
    for row in checked:
        if row.samples_per_sec is None:
            out(f"{row.model:<26} {row.batch_size:>5}  not measured")
            continue
        b, sps = row.batch_size, row.samples_per_sec
        p = {n: predict(row.model, SIZE, target=t, batch_size=b) for n, t in targets.items()}
        compared.append((row.model, b, sps, {n: q.samples_per_sec for n, q in p.items()}))
        cells = "".join(
            f" {p[n].latency_ms:>10.1f} {p[n].samples_per_sec / sps:>6.2f}" for n in names
        )
        out(f"{row.model:<26} {b:>5} {b / sps * 1e3:>12.1f}{cells}")
    return compared


if __name__ == "__main__":
    sys.exit(main())
