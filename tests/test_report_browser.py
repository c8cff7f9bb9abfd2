"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright, with every request that is not a ``file:`` URL aborted and recorded.

Expected rows follow from the hand-made sweep of ``test_report`` (GMACs, k, top-1 there);
the zoo test compares the page's sort with ``archcalc.report.rows.sort_rows`` on the
committed sweep. Skipped, with the reason, where Chromium or playwright is missing;
``.ci/run`` installs both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_page import OfflinePage, launch, missing, offline_page
from test_report import LINES, _report

pytestmark = pytest.mark.browser
if missing():
    pytest.skip(f"browser tests skipped: {missing()}", allow_module_level=True)
pytest.importorskip("plotly", reason="HTML reports need plotly: pip install 'archcalc[report]'")

MOBILE = "mobilenetv3_small_050"
ZOO = Path(__file__).parent.parent / "benchmarks" / "results" / "zoo_sweep.jsonl.gz"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """The hand-made sweep of ``test_report`` as a file."""
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tab(browser: Any) -> Iterator[OfflinePage]:
    """One tab for the module, each test loading its own report into it as a new document."""
    seen = offline_page(browser)
    yield seen
    seen.page.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file every test here writes its report to: Chromium caches a script it compiled
    per tab and page URL, so the reports' 4.6 MB plotly.js is compiled once, not per test."""
    return tmp_path_factory.mktemp("page") / "report.html"


def _page(tab: OfflinePage, sweep: Path, out: Path, *args: str) -> OfflinePage:
    """Write the report of ``sweep`` and open it offline in ``tab``, plots drawn."""
    done = _report(str(sweep), "--format", "html", "-o", str(out), *args)
    assert done.returncode == 0, done.stderr
    tab.open(out)
    tab.page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return tab


def _cells(page: Any, column: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#rows tr td:nth-child({column})", "cells => cells.map(c => c.textContent)"
    )


def test_page_loads_with_the_network_blocked(tab: OfflinePage, sweep: Path, report: Path) -> None:
    seen = _page(tab, sweep, report)
    assert seen.blocked == [] and seen.failed == [] and seen.errors == []
    cards = seen.page.inner_text("#summary-cards")
    assert "6\nmodels" in cards and "7\npairs ok" in cards and "3\npairs refused" in cards
    # four plots drawn by plotly, none left with a placeholder
    assert seen.page.locator(".plot .main-svg").count() >= 4
    assert seen.page.locator(".plot .empty").count() == 0


def test_sort_a_column_and_read_the_first_row(tab: OfflinePage, sweep: Path, report: Path) -> None:
    seen = _page(tab, sweep, report)
    page = seen.page
    page.click("th[data-key=gmacs]")  # numbers sort largest first
    assert _cells(page, 1)[0] == "resnet18" and _cells(page, 3)[0] == "448x448"
    assert _cells(page, 7)[:3] == ["7.256", "4.110", "1.814"]  # resnet18@448, resnet50, r18
    page.click("th[data-key=gmacs]")  # again: smallest first
    assert (_cells(page, 1)[0], _cells(page, 7)[0]) == (MOBILE, "0.023")
    assert page.get_attribute("th[data-key=gmacs]", "aria-sort") == "ascending"
    page.click("th[data-key=model]")  # text sorts A to Z
    assert _cells(page, 1) == sorted(_cells(page, 1)) and _cells(page, 1)[0] == MOBILE


def test_filters_count_rows(tab: OfflinePage, sweep: Path, report: Path) -> None:
    seen = _page(tab, sweep, report)
    page = seen.page
    assert page.locator("#rows tr").count() == 7
    page.fill("#filter-text", "resnet")  # resnet18 at 160, 224, 448 and resnet50 at 224
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 4")
    assert page.inner_text("#count").startswith("4 of 7 rows match")
    page.fill("input[data-key=k][data-end='1']", "7")  # k <= 7: resnet18 160 (5), 224 (7), r50
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 3")
    page.fill("#filter-text", "=resnet50")  # "=" matches the whole name only
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 1")
    page.click("#reset")
    assert page.locator("#rows tr").count() == 7
    page.fill("#filter-text", "resnet")  # two filters typed at once both count
    page.fill("input[data-key=k][data-end='1']", "7")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 3")
    assert page.inner_text("#count").startswith("3 of 7 rows match")


def test_where_is_the_starting_filter_and_csv_has_the_rows(
    tab: OfflinePage,
    sweep: Path,
    report: Path,
) -> None:
    where = "k>=5 and k<=9 and gmacs<2"  # resnet18 at 224 and 160, mobilenet at 224
    seen = _page(tab, sweep, report, "--where", where)
    page = seen.page
    assert page.inner_text("#where-text") == where
    assert page.locator("#rows tr").count() == 3
    with page.expect_download() as download:
        page.click("#download-csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("model,family,res,stride,k,params_m,gmacs,latency_ms")
    assert sorted(line.split(",")[:3] for line in lines[1:]) == [
        [MOBILE, "mobilenetv3", "224"], ["resnet18", "resnet", "160"],
        ["resnet18", "resnet", "224"],
    ]  # fmt: skip
    page.click("#copy-csv")  # the clipboard API, else the browser's copy command
    page.wait_for_function("document.getElementById('copied').textContent !== ''")
    assert page.inner_text("#copied") == "copied 3 rows as CSV"
    page.uncheck("#filter-where")
    assert page.locator("#rows tr").count() == 7
    assert seen.blocked == [] and seen.errors == []


def test_hover_a_plot_point_and_read_its_model(tab: OfflinePage, sweep: Path, report: Path) -> None:
    seen = _page(tab, sweep, report)
    page = seen.page
    # the accuracy-cost front (second trace), cheapest first: mobilenet at 0.023 GMACs
    front = page.locator("#plot-accuracy .scatterlayer .trace").nth(1).locator("path.point")
    assert front.count() == 3  # mobilenet, vit_tiny, resnet50 (resnet18 is dominated)
    front.first.hover(force=True)
    label = page.locator("#plot-accuracy .hoverlayer .hovertext")
    label.wait_for(timeout=10_000)
    text = label.text_content() or ""
    assert MOBILE in text and "top-1: 57.92 %" in text and "GMACs: 0.023" in text


def test_screenshot(tab: OfflinePage, sweep: Path, report: Path, tmp_path: Path) -> None:
    seen = _page(tab, sweep, report, "--errors")
    seen.page.click("#error-groups details summary")  # unfold the first error group
    shot = seen.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert shot[:8] == PNG_SIGNATURE
    width = int.from_bytes(shot[16:20], "big")
    height = int.from_bytes(shot[20:24], "big")
    assert width == 1400 and height > 900  # the full page is taller than the window


@pytest.mark.skipif(not ZOO.exists(), reason="no committed zoo sweep")
def test_zoo_report_sorts_as_python_does(tab: OfflinePage, report: Path) -> None:
    from archcalc.report.rows import load_rows, sort_rows

    rows = [r for r in load_rows([ZOO])[0] if r["status"] == "ok"]
    seen = _page(tab, ZOO, report)
    page = seen.page
    assert seen.blocked == [] and seen.failed == [] and seen.errors == []
    assert page.inner_text("#count").startswith(f"{len(rows):,} of {len(rows):,} rows")
    page.click("th[data-key=top1]")
    best = sort_rows(rows, "-top1")[0]["top1"]
    column = 1 + [
        c for c in page.eval_on_selector_all("#head th", "h => h.map(x => x.dataset.key)")
    ].index("top1")
    assert _cells(page, column)[0] == f"{best:.2f}"
    assert page.locator("#error-groups details").count() >= 1
    assert page.locator("#error-groups details[open]").count() == 0  # folded by default


def test_hostile_names_and_nan_lines_leave_the_page_whole(
    tab: OfflinePage, report: Path, tmp_path: Path
) -> None:
    """Names that end a script, are a template marker or a formula, and NaN / Infinity
    numbers: every row is shown, no script of theirs runs, their CSV cells never run."""
    from test_report_hostile import HOSTILE, NOT_FINITE, _ok

    names = [*HOSTILE, '=HYPERLINK("http://x")']
    lines = [_ok(n, 224, 32, 1_000_000_000 + i, 1_000_000) for i, n in enumerate(names)]
    sweep = tmp_path / "hostile.jsonl"
    sweep.write_text("".join(json.dumps(x) + "\n" for x in [*LINES, *lines, *NOT_FINITE]))
    seen = _page(tab, sweep, report)
    page = seen.page
    assert seen.blocked == [] and seen.failed == [] and seen.errors == []
    assert page.evaluate("window.pwned") is None  # the </script><script> name never ran
    total = 7 + len(names) + len(NOT_FINITE)
    assert page.inner_text("#count").startswith(f"{total} of {total} rows match")
    assert set(names) <= set(_cells(page, 1))  # shown as text, as they were
    assert page.locator(".plot .main-svg").count() >= 4  # plots drawn
    with page.expect_download() as download:
        page.click("#download-csv")
    body = Path(download.value.path()).read_text()
    assert '\n"\'=HYPERLINK(""http://x"")",' in body  # quoted, neutralised
    assert "\nresnet34,resnet,224,32,7,21.8,3.67,," in body  # NaN latency: empty
