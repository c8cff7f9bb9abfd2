"""Open a report page in headless Chromium, offline: shared by the browser tests and
``benchmarks/report_browser_speed.py``.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``$ARCHCALC_CHROMIUM``),
driven by Playwright's Python API; Playwright's own browser download is never used. Every
request that is not a ``file:`` URL is aborted and recorded, so a page that tried to reach
the network shows it in ``OfflinePage.blocked`` (and in ``failed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("ARCHCALC_CHROMIUM", "/usr/bin/chromium"))
#: Headless and quiet: no GPU, no sandbox (CI runs as root), no background traffic.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install playwright (Chromium comes from apt)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: apt-get install chromium (or set ARCHCALC_CHROMIUM)"
    return None


def launch(playwright: Any) -> Any:
    """Headless Chromium from ``CHROMIUM``."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)


@dataclass
class OfflinePage:
    """A page whose requests other than ``file:`` are aborted; what was blocked, what failed,
    and the console errors and uncaught exceptions seen since the last ``open``."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: Path) -> None:
        """Load ``path`` into this page as a new document, the records cleared first; return
        before the page is ready."""
        self.blocked.clear()
        self.failed.clear()
        self.errors.clear()
        self.page.goto(path.resolve().as_uri())


def open_offline(
    browser: Any, path: Path, width: int = 1400, height: int = 900, init_script: str = ""
) -> OfflinePage:
    """Open ``path`` in a new page with the network blocked (``init_script`` runs before the
    page's own scripts); return before the page is ready."""
    seen = offline_page(browser, width, height, init_script)
    seen.open(path)
    return seen


def offline_page(
    browser: Any, width: int = 1400, height: int = 900, init_script: str = ""
) -> OfflinePage:
    """A new, empty page with the network blocked (``init_script`` runs before each document's
    own scripts). Documents loaded one after another at one URL into the same page reuse the
    scripts Chromium compiled for that URL before (the reports' plotly.js)."""
    page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    if init_script:
        page.add_init_script(init_script)
    seen = OfflinePage(page)

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            seen.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda r: seen.failed.append(r.url))
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    return seen
