"""How fast the HTML report of the whole zoo loads and sorts in headless Chromium.

Writes ``archcalc report zoo_sweep.jsonl.gz --format html --errors`` (every line a table row:
about 4,000), opens it offline in Debian's Chromium (the browser tests' set-up,
``tests/browser_page.py``) in a fresh page per run, and measures, per run:

* load: navigation start to the table being up and sortable (the page's own clock,
  ``performance.now()``), and to the four plots drawn (plotly.js starts after the table is
  drawn, so the table never waits for it); and the longest time the page could not answer a
  click meanwhile (plotly.js starting up is one long task);
* sort: a click on the GMACs header until the new first row is in the table, as Playwright
  sees it (wall clock around the click, page round trips included), and the page's own
  time for the sort and re-render.

Side by side with each run, a page holding plotly.js alone measures plotly.js's own start-up,
so the report's long task can be told from plotly's. Medians of ``--runs`` runs; the bar is
load + sort under 2 s. Usage (from the repo root)::

    python benchmarks/report_browser_speed.py --out benchmarks/results/report_browser_speed.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_page import CHROMIUM, launch, missing, open_offline  # noqa: E402

SWEEP = ROOT / "benchmarks" / "results" / "zoo_sweep.jsonl.gz"
BAR_S = 2.0


def write_report(out: Path) -> None:
    command = [sys.executable, "-c", "from archcalc.cli import main; main()", "report",
               str(SWEEP), "--format", "html", "--errors", "-o", str(out)]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT)


#: Installed before the page's own script: a 20 ms heartbeat whose longest gap is the longest
#: time the page could not answer a click (a long task: plotly.js starting, a plot drawn).
HEARTBEAT = """(() => { const gaps = []; window.__heartbeat = gaps; let last = 0;
  const tick = () => { const now = performance.now(); gaps.push(now - last); last = now;
    setTimeout(tick, 20); };
  document.addEventListener("DOMContentLoaded", () => { last = performance.now(); tick(); });
})()"""


def one_run(browser: object, page_file: Path) -> dict[str, float]:
    """Open the page; wait for the table, then the plots; sort by GMACs. Times in ms."""
    seen = open_offline(browser, page_file, init_script=HEARTBEAT)
    page = seen.page
    try:
        page.wait_for_selector("body[data-table='ready']", timeout=60_000)
        page.wait_for_selector("body[data-ready='1']", timeout=120_000)
        timings = page.evaluate("window.archcalcReport.timings")
        freeze = page.evaluate("Math.max(...window.__heartbeat.slice(1))")
        rows = page.evaluate("window.archcalcReport.state.shown.length")
        before = page.inner_text("#rows tr:first-child td:first-child")
        start = time.perf_counter()
        page.click("th[data-key=gmacs]")
        page.wait_for_function(
            "b => document.querySelector('#rows tr td').textContent !== b", arg=before
        )
        sort_wall = (time.perf_counter() - start) * 1000
        sort_page = page.evaluate("window.archcalcReport.timings.lastSortMs")
        assert not seen.blocked and not seen.failed and not seen.errors, seen
        return {
            "rows": rows,
            "table_ready_ms": timings["tableReadyMs"],
            "plots_ready_ms": timings["readyMs"],
            "longest_freeze_ms": freeze,
            "sort_page_ms": sort_page,
            "sort_wall_ms": sort_wall,
            "plotly_start_ms": timings["plotlyMs"],
        }
    finally:
        page.close()


def write_bare_plotly(out: Path) -> None:
    """A page holding plotly.js alone: its start-up, measured beside the report's."""
    from plotly.offline import get_plotlyjs

    out.write_text(
        "<!DOCTYPE html><html><body><script>const t = performance.now();</script><script>"
        + get_plotlyjs()
        + "</script><script>window.plotlyStartMs = performance.now() - t;"
        "document.body.dataset.ready = '1';</script></body></html>"
    )


def bare_run(browser: object, page_file: Path) -> float:
    """plotly.js's own start-up (compile and run its code) in ms, in a page of its own."""
    seen = open_offline(browser, page_file)
    try:
        seen.page.wait_for_function("window.plotlyStartMs !== undefined", timeout=60_000)
        return seen.page.evaluate("window.plotlyStartMs")
    finally:
        seen.page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, help="write the results here too")
    args = parser.parse_args()
    why = missing()
    if why:
        sys.exit(f"cannot run: {why}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        page_file = Path(folder) / "zoo.html"
        write_report(page_file)
        bare_file = Path(folder) / "plotly.html"
        write_bare_plotly(bare_file)
        size_mb = page_file.stat().st_size / 1e6
        with sync_playwright() as playwright:
            browser = launch(playwright)
            version = browser.version
            one_run(browser, page_file)  # warm-up: the first page pays for the browser's start
            runs = []
            for _ in range(args.runs):  # side by side: the report, then plotly.js alone
                runs.append(one_run(browser, page_file))
                runs[-1]["plotly_alone_ms"] = bare_run(browser, bare_file)
            browser.close()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    total_s = (med["table_ready_ms"] + med["sort_wall_ms"]) / 1000
    lines = [
        f"report_browser_speed: {SWEEP.name} -> one HTML page, {size_mb:.1f} MB, "
        f"{int(med['rows']):,} table rows",
        f"browser: Chromium {version} ({CHROMIUM}), headless; host {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end "
        f"(shared machine); medians of {args.runs} runs after one warm-up",
        "",
        f"table up and sortable (navigation -> table rendered): {med['table_ready_ms']:8.0f} ms",
        f"sort by GMACs, click -> new first row (Playwright):  {med['sort_wall_ms']:8.0f} ms",
        f"  of which the page's sort and re-render:             {med['sort_page_ms']:8.1f} ms",
        f"load + sort: {total_s:.2f} s (bar: under {BAR_S:.0f} s) -> "
        f"{'PASS' if total_s < BAR_S else 'FAIL'}",
        f"all four plots drawn (navigation -> plots):           {med['plots_ready_ms']:8.0f} ms",
        f"longest time the page could not answer a click:       {med['longest_freeze_ms']:8.0f} ms",
        "  (plotly.js starting up, after the table is drawn: a click on the table during it",
        "  waits that long; the heartbeat of a 20 ms timer, installed before the page)",
        f"plotly.js starting in the report:                    {med['plotly_start_ms']:8.0f} ms",
        f"plotly.js starting alone, in a page of its own:      {med['plotly_alone_ms']:8.0f} ms",
        f"  ratio report / alone (median of per-run ratios):     "
        f"{statistics.median(r['plotly_start_ms'] / r['plotly_alone_ms'] for r in runs):8.2f}",
        "",
        "per run (ms): table, plots, longest freeze, sort (wall), sort (page)",
        *(
            f"  {r['table_ready_ms']:7.0f} {r['plots_ready_ms']:7.0f} "
            f"{r['longest_freeze_ms']:7.0f} {r['sort_wall_ms']:7.0f} {r['sort_page_ms']:7.1f}"
            for r in runs
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
