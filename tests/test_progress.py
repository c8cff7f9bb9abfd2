"""Progress on stderr: drawn on a terminal only, never on stdout; the computations' callbacks."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from click.testing import CliRunner
from torch import nn

from archcalc.cli import main
from archcalc.cli import progress as progress_module
from archcalc.cli.progress import ProgressBar
from archcalc.timing.bench import bench
from archcalc.timing.measure import TimingSettings


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressBar("bench", stream) as bar:
        bar.step(1, 4, "timing resnet18 at batch 1 x 224x224")
    assert stream.getvalue() == ""


def test_terminal_line_says_what_runs_i_of_n_and_is_erased_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the line is cut to the terminal's width
    stream = FakeTerminal()
    with ProgressBar("bench", stream) as bar:
        bar.step(1, 4, "timing resnet18 at batch 1 x 224x224")
        line = bar.line()
        bar.step(2, None, "open-ended step")
        assert "[" not in bar.line().split("open-ended step")[1]  # no bar without a total
    # 1 of 4 done: 20 * 1 // 4 = 5 of the 20 bar cells filled
    assert "bench: timing resnet18 at batch 1 x 224x224  [#####...............] 1/4" in line
    assert "ETA" in line
    assert stream.getvalue().startswith("\r") and stream.getvalue().endswith("\r\x1b[K")


@pytest.mark.usefixtures("brief_warmup")
def test_bench_calls_progress_before_each_row() -> None:
    calls: list[tuple[int, int | None, str]] = []
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    settings = TimingSettings(threads=1, min_run_time_s=1e-6)
    bench(model, [16, 24], [1, 2], settings=settings, progress=lambda *a: calls.append(a))
    assert [(d, t) for d, t, _ in calls] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert calls[3][2] == "timing Sequential at batch 2 x 24x24"


@pytest.mark.usefixtures("brief_warmup")
def test_cli_progress_goes_to_stderr_and_json_stays_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "_is_terminal", lambda stream: True)
    args = ["bench", "resnet18", "--res", "32", "--threads", "1", "--min-time", "1e-6"]
    result: Any = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["model"] == "resnet18"
    assert "bench: timing resnet18 at batch 1 x 32x32" in result.stderr


def test_scale_reports_each_size_before_profiling_it() -> None:
    import archcalc

    calls: list[tuple[int, int | None, str]] = []
    archcalc.scale("resnet18", 64, 128, steps=2, progress=lambda *a: calls.append(a))
    assert calls == [
        (0, 2, "profiling resnet18 at 64x64"),
        (1, 2, "profiling resnet18 at 128x128"),
    ]
