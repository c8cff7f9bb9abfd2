"""Hostile sweep files and arguments: no data breaks a report page, no line crashes a report,
no CSV cell runs as a formula, and every malformed argument is one line and exit 2.

The sweeps are the hand-made lines of ``test_report`` (7 ok pairs, 3 refused) plus the
hostile ones; the expected counts follow from those.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from helpers import page_data
from test_report import LINES, _error, _ok, _report

from archcalc.display import csv_cell, render_table
from archcalc.report.html import _MARKER_RE, _json_safe
from archcalc.report.rows import to_row
from archcalc.report.where import MAX_DEPTH, MAX_LENGTH
from archcalc.sweep.lines import is_result

#: Names that end a script element, open a comment, or are the page template's markers.
HOSTILE = [
    "</script><script>window.pwned = 1</script>",
    "<!--<script>",
    "\u2028\u2029 a line separator",
    *(f"/*ARCHCALC:{name}*/" for name in ("TITLE", "STYLE", "PLOTLY", "DATA", "SCRIPT")),
]


#: A --where that the page shows as its starting filter, as hostile as the names.
WHERE = "model != '</script><!--/*ARCHCALC:DATA*/'"


def _write(path: Path, lines: list[dict], raw: str = "") -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + raw)
    return path


def _one_line_error(done: object, start: str) -> str:
    """The stderr of a refused command: exit 2, one line, starting with ``start``."""
    assert done.returncode == 2, done.stderr  # type: ignore[attr-defined]
    lines = done.stderr.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith(f"archcalc: error: {start}"), lines
    return lines[0]


# --- the HTML page -------------------------------------------------------------------------


@pytest.fixture
def hostile_page(tmp_path: Path) -> tuple[str, dict]:
    pytest.importorskip("plotly", reason="HTML reports need plotly")
    hostile = [_ok(name, 224, 32, 1_000_000_000 + i, 1_000_000) for i, name in enumerate(HOSTILE)]
    sweep = _write(tmp_path / "sweep.jsonl", LINES + hostile)
    out = tmp_path / "r.html"
    done = _report(str(sweep), "--format", "html", "-o", str(out), "--where", WHERE)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    return html, page_data(html)


def test_hostile_model_names_are_data_in_the_page(hostile_page: tuple[str, dict]) -> None:
    html, data = hostile_page
    # every row is there (7 ok + one per hostile name), each name as it was
    models = [row[0] for row in data["rows"]]
    assert len(models) == 7 + len(HOSTILE)
    assert set(HOSTILE) <= set(models)
    assert data["where"]["text"] == WHERE and sum(data["where"]["match"]) == len(models)
    # the template was filled in one pass: no marker is left outside the data, and the names
    # equal to a marker are still in the data, not replaced by the part they name
    head, rest = html.split('<script id="report-data" type="application/json">')
    block, tail = rest.split("</script>", 1)
    assert _MARKER_RE.findall(head + tail) == []
    assert set(_MARKER_RE.findall(block)) == {"TITLE", "STYLE", "PLOTLY", "DATA", "SCRIPT"}
    assert html.count("</script>") == 3  # data, plotly.js, the page: no name ended one
    assert "<" not in block and "\u2028" not in block and "\u2029" not in block


def test_hostile_title_is_escaped(tmp_path: Path) -> None:
    pytest.importorskip("plotly", reason="HTML reports need plotly")
    sweep = _write(tmp_path / "<b>&x.jsonl", LINES)
    out = tmp_path / "r.html"
    assert _report(str(sweep), "--format", "html", "-o", str(out)).returncode == 0
    html = out.read_text()
    assert "<title>archcalc sweep report: &lt;b&gt;&amp;x.jsonl</title>" in html


# --- numbers that are not finite -----------------------------------------------------------

#: NaN and Infinity, as Python's json writes (and reads) them.
NOT_FINITE = [
    {**_ok("resnet34", 224, 32, 3_670_000_000, 21_800_000), "latency_s": math.nan},
    {**_ok("resnet101", 224, 32, 7_830_000_000, 44_550_000), "latency_s": math.inf},
    {**_ok("resnet152", 224, 32, 11_560_000_000, 60_190_000), "params": -math.inf,
     "prediction": {"target": "t4", "batch_size": 1, "latency_ms": math.nan,
                    "samples_per_sec": math.inf}},
    {**_ok("resnet26", 224, 32, 2_360_000_000, 16_000_000), "latency_s": 0.002},
]  # fmt: skip


def test_numbers_that_are_not_finite_are_no_value() -> None:
    rows = [to_row(line) for line in NOT_FINITE]
    assert [r["latency_ms"] for r in rows] == [None, None, None, 2.0]
    assert rows[2]["params"] is None and rows[2]["params_m"] is None
    assert rows[2]["pred_latency_ms"] is None and rows[2]["pred_samples_per_sec"] is None
    overflow = to_row({**NOT_FINITE[3], "latency_s": 1e308})  # x 1000 ms: inf
    assert overflow["latency_s"] == 1e308 and overflow["latency_ms"] is None


def test_page_data_writes_null_for_numbers_that_are_not_finite() -> None:
    data = {"a": [math.nan, {"b": math.inf, "c": (-math.inf, 1.5)}], "d": "NaN"}
    assert _json_safe(data) == '{"a":[null,{"b":null,"c":[null,1.5]}],"d":"NaN"}'


@pytest.mark.parametrize("fmt", ["html", "markdown", "csv"])
def test_a_report_of_nan_and_infinity_lines(tmp_path: Path, fmt: str) -> None:
    if fmt == "html":
        pytest.importorskip("plotly", reason="HTML reports need plotly")
    sweep = _write(tmp_path / "sweep.jsonl", LINES + NOT_FINITE)
    out, summary = tmp_path / f"r.{fmt}", tmp_path / "summary.json"
    done = _report(str(sweep), "--format", fmt, "-o", str(out), "--summary-json", str(summary))
    assert done.returncode == 0, done.stderr
    assert json.loads(summary.read_text())["ok"] == 7 + len(NOT_FINITE)
    text = out.read_text()
    assert not re.search(r"\b(nan|inf|NaN|Infinity)\b", text.split('<script id="plotly-js"')[0])
    if fmt == "html":
        data = page_data(text)
        keys = [c["key"] for c in data["columns"]]
        rows = {r[0]: dict(zip(keys, r, strict=True)) for r in data["rows"]}
        assert rows["resnet34"]["latency_ms"] is None and rows["resnet101"]["latency_ms"] is None
        assert rows["resnet152"]["params_m"] is None
        assert rows["resnet26"]["latency_ms"] == 2.0  # the finite ones untouched
    if fmt == "csv":
        rows = {r["model"]: r for r in csv.DictReader(io.StringIO(text))}
        assert (rows["resnet152"]["params"], rows["resnet152"]["macs"]) == ("", "11560000000")
        assert rows["resnet34"]["latency_s"] == rows["resnet101"]["latency_s"] == ""
        assert rows["resnet26"]["latency_s"] == "0.002"  # finite: as it was


# --- sweep lines of the wrong shape ---------------------------------------------------------

#: One field of an ok line replaced by a value of the wrong shape.
WRONG = {
    "prediction is a text": {"prediction": "fast"},
    "prediction is a list": {"prediction": [1, 2]},
    "prediction is a number": {"prediction": 2.5},
    "prediction latency is a text": {"prediction": {"latency_ms": "2.5", "target": "t4"}},
    "prediction target is a list": {"prediction": {"latency_ms": 2.5, "target": ["t4"]}},
    "final map is a text pair": {"final_map": ["7", "7"]},
    "final map has three sides": {"final_map": [7, 7, 7]},
    "global stride is a number": {"global_stride": 32},
    "receptive field is a list": {"receptive_field": [1, 2]},
    "receptive field size of texts": {"receptive_field": {"size": ["a", "b"], "context": None}},
    "environment holds a list": {"environment": {"torch": [2, 4]}},
    "convention is a list": {"convention": ["core"]},
    "memory is a list": {"memory": [1]},
    "macs is a boolean": {"macs": True},
    "input is a list": {"input": [1, 3, 224, 224]},
}
WRONG_ERRORS = {
    "error is a text": {"error": "boom"},
    "error reason is a list": {"error": {"kind": "exception", "type": "X", "reason": ["x"]}},
    "nearest is a text": {"error": {"kind": "exception", "type": "X", "reason": "x",
                                    "nearest": "32x32"}},
    "nearest holds a single number": {"error": {"kind": "exception", "type": "X", "reason": "x",
                                                "nearest": [32]}},
}  # fmt: skip


def _wrong_lines() -> list[tuple[str, dict]]:
    ok = _ok("resnet34", 224, 32, 3_670_000_000, 21_800_000)
    error = _error("resnet34", 48, "resnet34 fails at 48x48: x")
    return [(k, {**ok, **v}) for k, v in WRONG.items()] + [
        (k, {**error, **v}) for k, v in WRONG_ERRORS.items()
    ]


@pytest.mark.parametrize(("what", "line"), _wrong_lines(), ids=[k for k, _ in _wrong_lines()])
def test_a_line_of_the_wrong_shape_is_not_a_result(what: str, line: dict) -> None:
    assert not is_result(line), what


def test_lines_of_the_right_shape_are_results() -> None:
    prediction = {"target": "t4", "batch_size": 8, "latency_ms": 2.5, "samples_per_sec": 3200.0}
    good = [
        *LINES,
        {**LINES[0], "prediction": prediction, "environment": {"torch": "2.4", "threads": 2}},
        {**LINES[0], "receptive_field": {"size": [435, 435], "context": "exact"}},
        {**LINES[7], "error": {**LINES[7]["error"], "nearest": [[32, 32], [64, 64]]}},
        *NOT_FINITE,  # read, their numbers then no value (above)
    ]
    assert all(is_result(line) for line in good)


@pytest.mark.parametrize("fmt", ["html", "markdown", "csv"])
def test_a_report_skips_and_counts_the_lines_of_the_wrong_shape(tmp_path: Path, fmt: str) -> None:
    if fmt == "html":
        pytest.importorskip("plotly", reason="HTML reports need plotly")
    wrong = [line for _, line in _wrong_lines()]
    sweep = _write(tmp_path / "sweep.jsonl", LINES + wrong)
    out = tmp_path / f"r.{fmt}"
    done = _report(str(sweep), "--format", fmt, "-o", str(out), "--errors", "--sort", "k")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"archcalc: skipped {len(wrong)} line(s) that are not sweep results (unreadable, or JSON "
        "of another kind)\n"
    )
    assert "resnet34" not in out.read_text()  # every resnet34 line was wrong: none shown


def test_a_file_of_wrong_lines_only_is_one_line_exit_2(tmp_path: Path) -> None:
    sweep = _write(tmp_path / "sweep.jsonl", [line for _, line in _wrong_lines()])
    _one_line_error(_report(str(sweep)), "no sweep results in")


def test_a_resumed_sweep_redoes_a_pair_whose_line_is_no_result(tmp_path: Path) -> None:
    from archcalc.sweep.run import SweepSettings, _plan

    wrong = {**_ok("resnet18", 64, 32, 1, 1), "prediction": "x"}
    out = _write(tmp_path / "s.jsonl", [wrong, {"input": [1, 2]}, _ok("resnet18", 96, 32, 1, 1)])
    tasks, moved = _plan(["resnet18"], ((64, 64), (96, 96)), SweepSettings(), out)
    assert moved == 0 and [t.resolutions for t, _ in tasks] == [((64, 64),)]


# --- CSV cells --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
        ("-inf", "'-inf"), ("+", "'+"),
        # left alone: numbers, texts that are numbers, the '-' of a missing value, plain text
        (-1.5, -1.5), (3, 3), ("-1.5", "-1.5"), ("+2e3", "+2e3"), ("-", "-"),
        ("resnet18", "resnet18"), ("a=b", "a=b"),
    ],
)  # fmt: skip
def test_csv_cells_never_run_as_formulas(cell: object, written: object) -> None:
    assert csv_cell(cell) == written


def test_report_csv_neutralises_text_cells_only(tmp_path: Path) -> None:
    lines = [_ok("=HYPERLINK(\"http://x\")", 224, 32, 1_000_000_000, 2_000_000),
             _ok("@evil", 224, 32, 1_000_000_000, 2_000_000)]  # fmt: skip
    sweep = _write(tmp_path / "sweep.jsonl", lines)
    done = _report(str(sweep), "--format", "csv")
    assert done.returncode == 0, done.stderr
    # by model name ('=' sorts before '@'); the family (the name lower-cased) is neutralised too
    first, second = done.stdout.splitlines()[1:]
    assert first.startswith('"\'=HYPERLINK(""http://x"")","\'=hyperlink(""http://x"")",ok,')
    # the numbers as they were: 512 channels, 2,000,000 params, 1e9 MACs
    assert second.startswith("'@evil,'@evil,ok,224,224,32,7,7,,,,512,2000000,1000000000,")


def test_render_table_csv_neutralises_headers_and_cells() -> None:
    text = render_table(["=h", "n"], [["-x", -1], ["-", "-0.5"]], "csv")
    assert text.splitlines() == ["'=h,n", "'-x,-1", "-,-0.5"]


# --- --where and --models-file ---------------------------------------------------------------


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    return _write(tmp_path / "sweep.jsonl", LINES)


def test_a_long_where_is_one_line_with_the_limit(sweep: Path) -> None:
    where = " and ".join(["k > 1"] * 200)  # 1,995 characters
    line = _one_line_error(_report(str(sweep), "--where", where), "--where is 1,995 characters")
    assert f"the limit is {MAX_LENGTH:,}" in line


@pytest.mark.parametrize(
    "where",
    ["not " * 200 + "k > 1", "-" * 900 + "1 < k", "(" * 33 + "k > 1" + ")" * 33, "(" * 400,
     "k > 1 or (" * 60 + "k > 1" + ")" * 60, "[" * 40],
)  # fmt: skip
def test_a_deep_where_is_one_line_with_the_limit(sweep: Path, where: str) -> None:
    line = _one_line_error(_report(str(sweep), "--where", where), "--where nests deeper than")
    assert f"deeper than {MAX_DEPTH} levels" in line


def test_parentheses_in_a_quoted_text_are_no_nesting(sweep: Path) -> None:
    done = _report(str(sweep), "--where", "model != '" + "(" * 40 + "'", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 7


def test_a_where_just_within_the_limits_runs(sweep: Path) -> None:
    # MAX_DEPTH counts every node: 'not' x 29 + the comparison, its name and context = 32
    done = _report(str(sweep), "--where", "not " * (MAX_DEPTH - 3) + "k > 100", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 7  # 'not' x 29 (odd): k <= 100, every ok row


@pytest.mark.parametrize(
    ("content", "start"),
    [(b"resnet18\n\xff\xfe\x00junk", "--models-file {} is not UTF-8 text (byte 0xff at offset 9)"),
     (b"resnet18\n\x00\x01\x02", "--models-file {} is binary (a NUL byte at offset 9)"),
     (b"\x1f\x8b\x08\x00gzip", "--models-file {} is not UTF-8 text (byte 0x8b at offset 1)")],
)  # fmt: skip
def test_a_models_file_that_is_not_text_is_one_line(
    tmp_path: Path, content: bytes, start: str
) -> None:
    from test_sweep import _cli

    models = tmp_path / "models.txt"
    models.write_bytes(content)
    done = _cli("sweep", "--models-file", str(models), "--res", "32", "--out",
                str(tmp_path / "s.jsonl"))  # fmt: skip
    _one_line_error(done, start.format(models))
    assert not (tmp_path / "s.jsonl").exists()


# --- PNG plots ---------------------------------------------------------------------------------


def test_plots_draw_names_as_written_never_as_mathtext(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from archcalc.report.plots import draw_plots
    from archcalc.report.prediction_plot import draw_accuracy_throughput

    names = ["$\\undefinedcmd{$", "$x^$", "a|b"]  # mathtext would fail on the first two
    prediction = {"target": "t4", "batch_size": 1, "latency_ms": 1.0, "samples_per_sec": 1000.0}
    lines = [{**_ok(n, 224, 32, 10**9 * (i + 1), 10**6), "prediction": prediction}
             for i, n in enumerate(names)]  # fmt: skip
    rows = [{**to_row(line), "top1": 70.0 + i} for i, line in enumerate(lines)]
    drawn = draw_plots(rows, tmp_path)
    assert [path.name for _, path in drawn] == [
        "gmacs_vs_res.png", "k_by_res.png", "pareto.png", "accuracy_pareto.png",
    ]  # fmt: skip
    predicted = draw_accuracy_throughput(rows, tmp_path)
    assert predicted is not None and predicted[1].read_bytes()[:4] == b"\x89PNG"


def test_a_markdown_cell_cannot_split_its_row() -> None:
    text = render_table(["model", "n"], [["a|b", 1]], "markdown")
    assert text.splitlines()[2] == "| a\\|b    | 1   |"  # GitHub reads \| as a | in the cell
