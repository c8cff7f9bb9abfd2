"""Reports: rows from sweep lines, the --where language, Pareto front, summary, documents, PNGs.

The fixture is a hand-made sweep file; its numbers are chosen so the expected rows follow
by arithmetic (k = ceil(side / stride), gmacs = macs / 1e9, params_m = params / 1e6).
"""

from __future__ import annotations

import gzip
import itertools
import json
import struct
import subprocess
from pathlib import Path

import pytest

from archcalc.errors import InvalidArgumentError
from archcalc.report.rows import (
    FIELDS,
    family,
    filter_rows,
    load_rows,
    normalise_reason,
    pareto_front,
    sort_rows,
    summarise,
    to_row,
)
from archcalc.report.where import compile_where

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _ok(
    model: str, res: int, stride: int, macs: int, params: int, latency_s: float | None = None
) -> dict:
    k = -(-res // stride)
    line = {
        "model": model, "convention": "core", "status": "ok", "error": None,
        "input": {"batch_size": 1, "channels": 3, "height": res, "width": res},
        "global_stride": [stride, stride], "final_map": [k, k], "final_channels": 512,
        "params": params, "macs": macs,
        "memory": {"peak_activation_bytes": 2 * 2**20, "train_step_bytes": 100 * 2**20},
    }  # fmt: skip
    return line if latency_s is None else {**line, "latency_s": latency_s}


def _error(
    model: str, res: int, reason: str, kind: str = "exception", kind_type: str = "TraceError"
) -> dict:
    return {
        "model": model, "convention": "core", "status": "error",
        "input": {"batch_size": 1, "channels": 3, "height": res, "width": res},
        "error": {"kind": kind, "type": kind_type, "reason": reason},
    }  # fmt: skip


LINES = [
    # resnet18: stride 32, 1.814 GMACs at 224 (timm/torchvision table), x (res/224)^2 elsewhere
    _ok("resnet18", 224, 32, 1_814_000_000, 11_690_000, 0.010),
    _ok("resnet18", 448, 32, 7_256_000_000, 11_690_000, 0.040),
    _ok("resnet18", 160, 32, 925_510_000, 11_690_000, 0.005),  # k = ceil(160/32) = 5
    _ok("mobilenetv3_small_050", 224, 32, 23_000_000, 1_590_000, 0.004),
    _ok("mobilenetv3_small_050", 448, 32, 92_000_000, 1_590_000, 0.012),
    _ok("vit_tiny_patch16_224", 224, 16, 1_254_000_000, 5_720_000, 0.008),  # k = 14
    _ok("resnet50", 224, 32, 4_110_000_000, 25_560_000, 0.030),  # dominated by resnet18
    _error("vit_tiny_patch16_224", 48, "vit_tiny_patch16_224 fails at 48x48: AssertionError: x"),
    _error("swin_tiny", 48, "swin_tiny fails at 48x48: AssertionError: x"),
    _error("eva_giant", 448, "no result within 120 s", "timeout", "TimeoutError"),
]


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in LINES) + '{"torn')
    return path


@pytest.mark.parametrize(
    ("model", "expected"),
    [("resnet50", "resnet"), ("resnet50.a1_in1k", "resnet"), ("resnet18d", "resnet"),
     ("efficientnetv2_s", "efficientnetv2"), ("tf_efficientnet_b0", "efficientnet"),
     ("vit_base_patch16_224", "vit"), ("mobilenetv3_small_050", "mobilenetv3"),
     ("convnext_tiny", "convnext"), ("res2net50_26w_4s", "res2net")],
)  # fmt: skip
def test_family(model: str, expected: str) -> None:
    assert family(model) == expected


def test_row_fields_follow_from_the_line() -> None:
    row = to_row(LINES[2])
    assert set(row) == set(FIELDS)
    assert (row["res"], row["k"], row["stride"]) == (160, 5, 32)
    assert row["gmacs"] == pytest.approx(0.92551) and row["params_m"] == pytest.approx(11.69)
    assert row["gflops"] == pytest.approx(2 * 0.92551) and row["latency_ms"] == pytest.approx(5.0)
    assert row["peak_act_mb"] == 2.0 and row["train_mb"] == 100.0


def test_normalise_reason_groups_models_and_sizes() -> None:
    assert (
        normalise_reason(LINES[7])
        == normalise_reason(LINES[8])
        == ("<model> fails at HxW: AssertionError: x")
    )
    assert normalise_reason(LINES[9]) == "no result within N s"


ROWS = [to_row(x) for x in LINES]
MOBILE = "mobilenetv3_small_050"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("k>=5 and k<=9 and gmacs<2", {("resnet18", 224), ("resnet18", 160), (MOBILE, 224)}),
        ("5 <= k <= 9 and gmacs < 2", {("resnet18", 224), ("resnet18", 160), (MOBILE, 224)}),
        ("k == 14 and not (stride == 32)", {("vit_tiny_patch16_224", 224)}),
        ("model == 'resnet50' or res > 400 and gmacs > 1", {("resnet50", 224), ("resnet18", 448)}),
        ("latency_ms < 5", {(MOBILE, 224)}),
        ("status != 'ok' and res == 448", {("eva_giant", 448)}),
        ("k > -1 and family == 'mobilenetv3'", {(MOBILE, 224), (MOBILE, 448)}),
        ("gmacs > 100", set()),
    ],
)  # fmt: skip
def test_where(where: str, expected: set) -> None:
    assert {(r["model"], r["res"]) for r in filter_rows(ROWS, where=where)} == expected


@pytest.mark.parametrize(
    "where",
    ['__import__("os").system("true")', "k + 1 > 2", "kk > 1", "k >", "k is None", "k in (1, 2)",
     "gmacs < True", "lambda: 1", "k < -gmacs", "(k)", "k < 1; k > 2", "k < [1]"],
)  # fmt: skip
def test_where_rejects_anything_but_comparisons(where: str) -> None:
    with pytest.raises(InvalidArgumentError, match="--where"):
        compile_where(where, FIELDS)


def test_simple_bounds_match_the_where_expression() -> None:
    flags = filter_rows(ROWS, k_range=(5, 9), max_gmacs=2)
    assert flags == filter_rows(ROWS, where="k>=5 and k<=9 and gmacs<=2")


@pytest.mark.parametrize(
    ("points", "front"),
    [
        ([(1, 5), (2, 3), (3, 4), (4, 1)], [0, 1, 3]),  # (3, 4) is beaten by (2, 3)
        ([(2, 2), (1, 3), (1, 4), (3, 2)], [1, 0]),  # same x: the lower y; same y: the lower x
        ([(1, 1), (2, 2), (3, 3)], [0]),
        ([], []),
    ],
)
def test_pareto_front(points: list, front: list) -> None:
    assert pareto_front(points) == front


def test_sort_rows_descending_and_missing_last() -> None:
    ordered = sort_rows(ROWS, "-gmacs")
    assert ordered[0]["model"] == "resnet18" and ordered[0]["res"] == 448
    assert all(r["gmacs"] is None for r in ordered[-3:])
    with pytest.raises(InvalidArgumentError, match="cannot sort"):
        sort_rows(ROWS, "speed")


def test_summary(sweep_file: Path) -> None:
    rows, bad = load_rows([sweep_file])
    summary = summarise(rows)
    assert (bad, summary.models, summary.ok, summary.errors, summary.error_models) == (
        1,
        6,
        7,
        3,
        3,
    )
    assert summary.resolutions == ((48, 48), (160, 160), (224, 224), (448, 448))
    first = summary.error_groups[0]
    assert (first.count, first.kind, first.examples) == (
        2,
        "exception",
        ("vit_tiny_patch16_224", "swin_tiny"),
    )


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    """``archcalc report ARGS`` in-process (click's ``CliRunner``): exit code, stdout, stderr."""
    from click.testing import CliRunner

    from archcalc.cli import main

    result = CliRunner().invoke(main, ["report", *args])
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.slow
def test_markdown_report_with_plots(sweep_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    gz = tmp_path / "sweep.jsonl.gz"
    gz.write_bytes(gzip.compress(sweep_file.read_bytes()))
    out = tmp_path / "out" / "report.md"
    done = _report(str(gz), "-o", str(out), "--plots", str(tmp_path / "out" / "plots"),
                   "--where", "k>=5 and k<=9 and gmacs<2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "| pairs with an error | 3 (3 models)" in text
    assert "| 2       | exception | TraceError   | <model> fails at HxW: AssertionError: x" in text
    assert "## Results (3 rows; where k>=5 and k<=9 and gmacs<2)" in text
    # top-1 of the most accurate published weight (timm results-imagenet.csv):
    # resnet18.fb_swsl_ig1b_ft_in1k 73.286, mobilenetv3_small_050.lamb_in1k 57.918
    assert (
        "| resnet18              | 160x160 | 32       | 5x5     | -         | 11.69        "
        "| 0.926   | 5.00" in text
    )
    assert "| top-1 (%)   |" in text and "| 2.0              | 73.29       |" in text
    assert "| 2.0              | 57.92       |" in text
    assert "resnet50" not in text.split("## Results")[1]
    images = [
        line[line.index("](") + 2 : -1] for line in text.splitlines() if line.startswith("![")
    ]
    assert images == ["plots/gmacs_vs_res.png", "plots/k_by_res.png", "plots/latency_ms_vs_res.png",
                      "plots/pareto.png", "plots/accuracy_pareto.png"]  # fmt: skip
    for image in images:
        width, height = _png_size(out.parent / image)
        assert width >= 200 and height >= 150 and (out.parent / image).stat().st_size > 5000


def test_csv_report(sweep_file: Path) -> None:
    csv = _report(str(sweep_file), "--format", "csv", "--errors", "--where", "res == 48")
    assert csv.returncode == 0, csv.stderr
    lines = csv.stdout.splitlines()
    assert lines[0].startswith("model,family,status,height,width,stride,k,k_w")
    assert sorted(x.split(",")[0] for x in lines[1:]) == ["swin_tiny", "vit_tiny_patch16_224"]


def test_predicted_lines_get_a_predicted_column(tmp_path: Path) -> None:
    """Lines of ``sweep --target`` carry a prediction: the report shows it, labelled."""
    from archcalc.report.documents import render_report

    prediction = {"predicted": True, "target": "t4", "batch_size": 8, "latency_ms": 2.5,
                  "samples_per_sec": 3200.0}  # fmt: skip
    lines = [{**_ok("resnet18", 224, 32, 1_820_000_000, 11_690_000), "prediction": prediction},
             _ok("resnet18", 448, 32, 7_280_000_000, 11_690_000)]  # fmt: skip
    rows = [to_row(line) for line in lines]
    assert (rows[0]["pred_latency_ms"], rows[0]["pred_samples_per_sec"]) == (2.5, 3200.0)
    assert rows[1].get("pred_latency_ms") is None
    summary = summarise(rows)
    text = render_report(summary, rows, [], fmt="markdown", title="t", filters="")
    assert "PREDICTED latency (ms): not measured, predicted on t4 for a batch of 8" in text
    table = [line for line in text.splitlines() if line.startswith("| resnet18")]
    assert [cells.split("|")[8].strip() for cells in table] == ["2.50", "-"]  # 3 digits
    csv = render_report(summary, rows, [], fmt="csv", title="t", filters="").splitlines()
    assert csv[0].endswith(",pred_latency_ms,pred_samples_per_sec,pred_target,pred_batch_size")
    assert csv[1].endswith(",2.5,3200.0,t4,8") and csv[2].endswith(",,,,")


def test_test_models_left_out_unless_asked(sweep_file: Path, tmp_path: Path) -> None:
    toy = tmp_path / "toy.jsonl"
    toy.write_text(json.dumps(_ok("test_vit", 224, 16, 1_000_000, 10_000)) + "\n")
    plain = _report(str(sweep_file), str(toy), "--format", "csv")
    assert plain.returncode == 0, plain.stderr
    assert "test_vit" not in plain.stdout and "resnet18" in plain.stdout
    kept = _report(str(sweep_file), str(toy), "--format", "csv", "--include-test")
    assert kept.returncode == 0, kept.stderr
    assert [x for x in kept.stdout.splitlines() if x.startswith("test_vit,")]


def test_front_labels_ends_and_at_most_ten_between() -> None:
    from archcalc.report.plots import front_labels

    xs = [1.05**i for i in range(200)]  # evenly spread on the log axis
    picked = front_labels(xs)
    assert picked[0] == 0 and picked[-1] == 199 and len(picked) == 12
    # 10 places at 199/11 = 18.1 steps apart: the nearest points 18, 36, 54, 72, 90, 109...
    assert picked[1:4] == [18, 36, 54]
    crowded = [1.0, *[100 + i / 100 for i in range(50)], 1e4]  # 50 points in 0.5 % of the axis
    labels = front_labels(crowded)
    assert labels[0] == 0 and labels[-1] == 51
    assert len(labels) == 3  # one label for the whole crowd, none piled on it
    assert front_labels([5.0, 2.0]) == [0, 1] and front_labels([]) == []
    spread = [xs[i] for i in picked]
    gaps = [b / a for a, b in itertools.pairwise(spread)]
    assert min(gaps) >= 1.05**9  # at least half a spacing (18.1 / 2 steps) apart


def test_bad_where_is_one_line(sweep_file: Path) -> None:
    done = _report(str(sweep_file), "--where", "__import__('os')")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("archcalc: error: --where")


def test_rows_from_several_files_are_unique(sweep_file: Path) -> None:
    """A pair found in two files (shards that overlap, a rerun) is one row, as after merge."""
    once, _ = load_rows([sweep_file])
    twice, bad = load_rows([sweep_file, sweep_file])
    assert len(twice) == len(once) == len(LINES) and bad == 2


def test_receptive_field_rows_from_schema_2_and_schema_1_lines() -> None:
    gated = {"size": [427, 427], "stride": [32, 32], "context": "gate", "reason": None}
    row = to_row({**LINES[2], "schema_version": 2, "receptive_field": gated})
    assert (row["rf"], row["rf_w"], row["rf_context"]) == (427, 427, "gate")
    assert compile_where("rf > res and rf_context == 'gate'", FIELDS)(row)
    old = to_row(LINES[2])  # a schema-1 line: no receptive field
    assert (old["rf"], old["rf_w"], old["rf_context"]) == (None, None, None)


def test_sort_ties_follow_model_and_size_not_file_order() -> None:
    from archcalc.report.rows import sort_rows

    def row(model: str, side: int, gmacs: float) -> dict[str, object]:
        return {"model": model, "height": side, "width": side, "gmacs": gmacs}

    # two workers may write b before a: equal GMACs must still list a first, then by size
    lines = [row("b", 224, 1.0), row("a", 448, 1.0), row("a", 224, 1.0), row("c", 224, 0.5)]
    order = [(r["model"], r["height"]) for r in sort_rows(lines, "gmacs")]
    assert order == [("c", 224), ("a", 224), ("a", 448), ("b", 224)]
