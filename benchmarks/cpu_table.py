"""This machine's CPU as a timm table: batch 1, fp32, fixed threads, about 100 models drawn from
the i7-12700H table (issue 26, step 6: a CPU you don't have, from 30 rows).

The models: rows of timm's i7 table whose float32 features are shipped
(archcalc/data/op_features.npz) and that cost at most ``--max-gmacs`` (the table's
``infer_gmacs``), one size per model, ``--models`` of them drawn with a fixed seed. Each is
timed with ``bench`` (as ``archcalc bench`` times it) at batch 1 and the i7 table's size.
latency_prediction.py ``--transfer`` (section (g)) calibrates on 30 of these rows and predicts
the rest, and calibrates the i7 table from a fit of this one.

Run: ``nice -n 10 python benchmarks/cpu_table.py`` (about 6 minutes on an idle machine, one
thread). Writes benchmarks/results/cpu_table.csv (timm's columns) and cpu_table.txt (how it
was measured: threads, torch, load average before and after).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import time
from pathlib import Path

import numpy as np
import torch
from cpu_batch_check import load
from latency_prediction import DEVICES, TABLES

from archcalc.timing.bench import bench
from archcalc.timing.measure import TimingSettings
from archcalc.timing.predict.features import op_features
from archcalc.timing.predict.tables import Measured, read_table

I7 = DEVICES["i7-12700h"][0]
RESULTS = Path(__file__).resolve().parent / "results" / "cpu_table.csv"
COLUMNS = ("model", "infer_img_size", "infer_batch_size", "infer_samples_per_sec", "infer_gmacs")


def candidates(max_gmacs: float, count: int, seed: int) -> list[Measured]:
    """``count`` rows of the i7 table (one size per model, drawn with ``seed``) whose features
    are shipped and that cost at most ``max_gmacs``."""
    rows, _ = read_table(TABLES / I7, need_throughput=True)
    by_model: dict[str, list[Measured]] = {}
    for row in rows:
        if float(row.raw.get("infer_gmacs") or "inf") > max_gmacs:
            continue
        if op_features(row.model, row.size, trace=False) is None:
            continue
        by_model.setdefault(row.model, []).append(row)
    rng = np.random.default_rng(seed)
    models = sorted(by_model)
    chosen = rng.choice(len(models), min(count, len(models)), replace=False)
    return [by_model[models[i]][rng.integers(len(by_model[models[i]]))] for i in sorted(chosen)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100, help="how many models")
    parser.add_argument("--max-gmacs", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds of timed runs")
    parser.add_argument(
        "--fastest",
        action="store_true",
        help="keep each model's fastest timed run instead of the median (on a machine shared "
        "with other jobs: the run least slowed by them)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = candidates(args.max_gmacs, args.models, args.seed)
    settings = TimingSettings(
        threads=args.threads, min_run_time_s=args.min_time, warmup_max_s=args.min_time
    )
    notes = [
        f"# cpu_table.py, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
        f"torch {torch.__version__}, {args.threads} thread(s), batch 1, float32, "
        f"{len(rows)} models (<= {args.max_gmacs} GMACs, seed {args.seed}), "
        f"{args.min_time} s per model, {'fastest run' if args.fastest else 'median'}",
        f"load average (1 / 5 / 15 min) at the start: {load()}",
    ]
    print("\n".join(notes), flush=True)
    start = time.perf_counter()
    measured = []
    for i, row in enumerate(rows):
        timing = bench(row.model, [row.size], [1], settings=settings).rows[0].timing
        if timing is None:
            print(f"{row.model}@{row.size}: not measured", flush=True)
            continue
        sps = 1 / min(timing.samples_s) if args.fastest else timing.images_per_s
        measured.append((row.model, row.size, 1, f"{sps:.3f}", row.raw["infer_gmacs"]))
        print(f"[{i + 1}/{len(rows)}] {row.model}@{row.size}: {sps:.2f}/s", flush=True)
    notes.append(f"load average at the end: {load()}")
    notes.append(f"{len(measured)} rows in {time.perf_counter() - start:.0f} s")
    print("\n".join(notes[-2:]))
    with args.out.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(measured)
    args.out.with_suffix(".txt").write_text("\n".join(notes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
