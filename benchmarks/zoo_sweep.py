"""Sweep the whole timm zoo at 48/224/448 (static profile) and report on it.

Runs ``archcalc sweep --models '*' --res 48 --res 224 --res 448 --jobs 2`` into
``benchmarks/results/zoo_sweep.jsonl`` (resumes if the file exists; ``--fresh`` starts over),
then ``archcalc report`` into ``benchmarks/results/zoo_report/`` (``report.md`` with PNG plots,
the CSV table and the interactive ``report.html``), and prints the wall time of each step, the
sweep's own summary (errors by kind, peak RSS per worker) and the top error reasons. Wrap it in
``flock /tmp/archcalc-heavy.lock`` on a shared machine.

    flock /tmp/archcalc-heavy.lock python benchmarks/zoo_sweep.py
    python benchmarks/zoo_sweep.py --models 'resnet*' --out /tmp/resnets.jsonl   # a quick look
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _run(args: list[str]) -> float:
    """Run an archcalc command, stream its output, return its wall time in seconds."""
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "from archcalc.cli import main; main()", *args], check=True
    )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="*", help="timm pattern (default: the whole zoo)")
    parser.add_argument("--out", type=Path, default=RESULTS / "zoo_sweep.jsonl")
    parser.add_argument("--report", type=Path, default=RESULTS / "zoo_report")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--fresh", action="store_true", help="delete --out first")
    parser.add_argument("--gzip", action="store_true", help="also write --out.gz (to commit)")
    args = parser.parse_args()
    if args.fresh and args.out.exists():
        args.out.unlink()
    sweep_s = _run(
        ["sweep", "--models", args.models, "--res", "48", "--res", "224", "--res", "448",
         "--jobs", str(args.jobs), "--timeout", str(args.timeout), "--out", str(args.out)]
    )  # fmt: skip
    print(f"sweep: {sweep_s:.1f} s wall (load average {os.getloadavg()[0]:.2f})")
    if args.gzip:
        with open(args.out, "rb") as src, gzip.open(f"{args.out}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    args.report.mkdir(parents=True, exist_ok=True)
    report_s = _run(
        ["report", str(args.out), "-o", str(args.report / "report.md"),
         "--plots", str(args.report / "plots"), "--summary-json", str(args.report / "summary.json")]
    )  # fmt: skip
    report_s += _run(
        ["report", str(args.out), "--format", "csv", "-o", str(args.report / "report.csv")]
    )
    print(f"report: {report_s:.1f} s wall")
    html_s = _run(
        ["report", str(args.out), "--format", "html", "-o", str(args.report / "report.html")]
    )
    print(f"HTML report: {html_s:.1f} s wall")
    summary = json.loads((args.report / "summary.json").read_text())
    summary["sweep_wall_s"] = sweep_s
    summary["report_wall_s"] = report_s
    summary["html_report_wall_s"] = html_s
    (args.report / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
