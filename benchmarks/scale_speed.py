"""How long ``archcalc scale MODEL`` takes beyond the import floor (``python -c "import timm"``).

Each repeat runs both commands as fresh processes, interleaved (floor, scale, floor, scale,
...), so machine noise hits both alike; the medians of wall time and of CPU time (user + sys
of the child, less sensitive to a busy machine) are printed with their difference. The bar:
``archcalc scale resnet50`` (10 static sizes from 96 to 896) <= 3 s beyond the floor.

    python benchmarks/scale_speed.py [--repeats 5] [--model resnet50] [--steps 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys) of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(command, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    floor_cmd = [sys.executable, "-c", "import timm"]
    cli = "from archcalc.cli import main; main()"  # the console script, from this checkout
    scale_cmd = [sys.executable, "-c", cli, "scale", args.model, "--steps", str(args.steps)]
    timed(floor_cmd)  # warm the file cache once
    floor: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        floor.append(timed(floor_cmd))
        ours.append(timed(scale_cmd))
    load = os.getloadavg()[0]
    print(f"{args.model}, {args.steps} sizes, {args.repeats} interleaved repeats, load {load:.1f}")
    bars = []
    for i, what in enumerate(("wall", "cpu")):
        f = statistics.median(s[i] for s in floor)
        o = statistics.median(s[i] for s in ours)
        bars.append(o - f)
        print(f"{what}: import timm {f:.2f} s, archcalc scale {o:.2f} s, beyond {o - f:.2f} s")
    print(f"bar: <= 3 s beyond the floor (wall {bars[0]:.2f} s, cpu {bars[1]:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
