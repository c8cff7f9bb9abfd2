"""The result cache's bar: a repeated ``archcalc inspect resnet18 --res 224`` within 0.5 s wall.

Paired runs: each pair gets a fresh, empty cache folder (``XDG_CACHE_HOME``), runs the command
once (cold: imports torch and timm, builds and traces) and again at once (warm: answered from
the cache), each as a new process timed from spawn to exit. Machine noise hits both runs of a
pair alike; the table shows every pair, the medians and the ratio, with ``python -c pass`` (the
interpreter's own start) as the floor. The two outputs of each pair must be identical.

Bytecode is written (to a private ``PYTHONPYCACHEPREFIX``) as an installed package has it,
even where the environment sets ``PYTHONDONTWRITEBYTECODE``: otherwise every run would compile
archcalc's modules again, which no installed copy does.

    python benchmarks/cli_cache.py [--pairs 5] [--args inspect resnet18 --res 224]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "from archcalc.cli import main; main()"
BAR_S = 0.5


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds of one process (spawn to exit), its CPU seconds (user + system), stdout.

    CPU time is shown beside wall time because on a shared, loaded machine the wall clock
    also counts the time the process waited for a core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def pair(args: list[str], pycache: str) -> list[float]:
    """Wall and CPU seconds of the cold run, the warm run and ``python -c pass``, with a fresh
    cache folder."""
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"XDG_CACHE_HOME": folder, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": pycache}
        cold, cold_cpu, first = timed([sys.executable, "-c", CLI, *args], env)
        warm, warm_cpu, second = timed([sys.executable, "-c", CLI, *args], env)
        floor, floor_cpu, _ = timed([sys.executable, "-c", "pass"], env)
    if first != second:
        raise SystemExit("the cached answer differs from the computed one")
    return [cold, warm, floor, cold_cpu, warm_cpu, floor_cpu]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--args", nargs="+", default=["inspect", "resnet18", "--res", "224"])
    options = parser.parse_args()
    print(f"archcalc {' '.join(options.args)}; load average {os.getloadavg()[0]:.1f}")
    print("pair  first wall/cpu (s)  second wall/cpu (s)  first/second (wall)  floor wall/cpu (s)")
    rows = []
    pycache = tempfile.mkdtemp(prefix="archcalc-pycache-")
    for i in range(options.pairs):
        row = pair(options.args, pycache)
        rows.append(row)
        cold, warm, floor, cold_cpu, warm_cpu, floor_cpu = row
        print(f"{i + 1:>4}  {cold:8.2f} / {cold_cpu:6.2f}  {warm:8.3f} / {warm_cpu:6.3f}  "
              f"{cold / warm:19.1f}  {floor:8.3f} / {floor_cpu:5.3f}")  # fmt: skip
    cold, warm, floor, cold_cpu, warm_cpu, floor_cpu = (
        statistics.median(r[i] for r in rows) for i in range(6)
    )
    print(f"median  first {cold:.2f} s wall ({cold_cpu:.2f} s CPU), second {warm:.3f} s wall "
          f"({warm_cpu:.3f} s CPU), {cold / warm:.1f}x faster; interpreter floor {floor:.3f} s "
          f"wall ({floor_cpu:.3f} s CPU); load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    verdict = "met" if warm <= BAR_S else "NOT met"
    print(f"bar (second run <= {BAR_S} s wall, median of {len(rows)} pairs): {verdict}")


if __name__ == "__main__":
    main()
