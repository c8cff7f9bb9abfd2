"""``archcalc.to_pandas``: profiles, suggestions and sweep files as one DataFrame with the
columns of ``archcalc report --format csv``."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import COARSE, SIDES, make

import archcalc
from archcalc.errors import ArchcalcError
from archcalc.recommend.decide import recommend
from archcalc.recommend.rules import Backbone
from archcalc.recommend.suggestion import Option
from archcalc.report.rows import FIELDS


def test_profiles_become_rows_with_the_report_columns() -> None:
    df = archcalc.to_pandas([make("net", 224), make("net", 448)])
    assert list(df.columns) == list(FIELDS)
    # stride 32: k = 224 / 32 = 7 and 448 / 32 = 14; synthetic MACs 1000 per input pixel
    assert df["k"].tolist() == [7, 14] and df["stride"].tolist() == [32, 32]
    assert df["macs"].tolist() == [224 * 224 * 1000, 448 * 448 * 1000]
    assert df["params_m"].tolist() == [11.0, 11.0]  # 11,000,000 / 1e6
    assert df["status"].tolist() == ["ok", "ok"]


def test_a_suggestion_gives_one_row_per_alternative_with_task_and_chosen() -> None:
    options = [Option(make("net", s), 0.02 if s == 224 else None) for s in SIDES]
    df = archcalc.to_pandas(recommend(COARSE, options, [Backbone("net")]))
    assert list(df.columns) == [*FIELDS, "task", "chosen"]
    assert df["res"].tolist() == list(SIDES)
    assert df.loc[df["chosen"], "res"].tolist() == [224]
    assert df.loc[df["chosen"], "latency_ms"].tolist() == [20.0]  # 0.02 s
    assert set(df["task"]) == {"coarse"}


def test_sweep_files_are_read_like_archcalc_report(tmp_path: Path) -> None:
    path = tmp_path / "sweep.jsonl"
    reason = {"kind": "trace", "type": "TraceError", "reason": "bad fails at 48x48"}
    size = {"batch_size": 1, "channels": 3, "height": 48, "width": 48}  # as run_sweep writes
    error = {"model": "bad", "status": "error", "input": size}
    error["error"] = reason
    lines = [{**make("net", 96).to_dict(), "status": "ok"}, error]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    df = archcalc.to_pandas(path)
    assert df["model"].tolist() == ["net", "bad"]
    assert df["k"].tolist()[0] == 3  # ceil(96 / 32)
    assert df["error_type"].tolist()[1] == "TraceError"


def test_missing_pandas_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ArchcalcError, match=r"^to_pandas needs pandas: pip install") as e:
        archcalc.to_pandas([make("net", 224)])
    assert "\n" not in str(e.value)


def test_other_objects_are_refused() -> None:
    with pytest.raises(ArchcalcError, match="got int"):
        archcalc.to_pandas([1])
