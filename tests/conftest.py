"""Shared test set-up: a private result cache per test, a brief warm-up on request, and the
``cuda`` marker.

``@pytest.mark.cuda`` tests run only where torch sees a CUDA device; elsewhere they are
skipped with the reason. ``@pytest.mark.slow`` marks the whole-model checks that the fast
lane (``pytest -m "not slow"``) leaves out. Shared helpers live in ``tests/helpers.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every ``cuda``-marked test when no CUDA device is visible (torch is imported only
    when such a test was collected)."""
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (marker 'cuda')")
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point ``XDG_CACHE_HOME`` at a fresh folder (subprocesses inherit it too)."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "archcalc"


@pytest.fixture
def brief_warmup(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 10 ms warm-up minimum instead of 0.3 s (the three runs stay), for tests of what a
    measurement reports (rows, samples, settings, progress), not of how long it warms up:
    each ``measure`` then takes milliseconds instead of 0.3 s."""
    monkeypatch.setattr("archcalc.timing.stats.WARMUP_MIN_S", 0.01)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say so when the browser tests (``-m browser``) could not run here, and why."""
    from browser_page import missing

    why = missing()
    if why is not None:
        terminalreporter.write_line(f"browser tests skipped: {why}", yellow=True)
