"""Shared test set-up: every test gets its own empty result cache, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point ``XDG_CACHE_HOME`` at a fresh folder (subprocesses inherit it too)."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "archcalc"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say so when the browser tests (``-m browser``) could not run here, and why."""
    from browser_page import missing

    why = missing()
    if why is not None:
        terminalreporter.write_line(f"browser tests skipped: {why}", yellow=True)
