"""The CLI: lazy imports, inspect output in every format, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from archcalc.cli import main
from archcalc.errors import UnknownModelError


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_import_does_not_load_torch_or_timm() -> None:
    code = "import sys, archcalc.cli; print('torch' in sys.modules, 'timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_inspect_table_side_by_side() -> None:
    code, out, _ = run("inspect", "resnet18", "--res", "48", "--res", "224", "--res", "448")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.startswith("resnet18  ")]
    # model, res, k x k: 48 -> 2x2, 224 -> 7x7, 448 -> 14x14 at stride 32, the same for every
    # row, so in a note under the table (which fits 100 columns)
    assert [r[:3] for r in rows] == [
        ["resnet18", "48x48", "2x2"],
        ["resnet18", "224x224", "7x7"],
        ["resnet18", "448x448", "14x14"],
    ]
    assert "One value in every row: stride 32, RF (px) 435, channels 512" in out
    assert max(map(len, out.splitlines())) <= 100
    assert "nearest aligned sizes: 32x32 and 64x64" in out.replace("\n  ", " ")  # wrapped
    assert "train GMACs" in out


def test_notes_under_tables_wrap_at_100_columns() -> None:
    import archcalc

    text = str(archcalc.profile("resnet18", 224))
    notes = text.split("\n\n", 1)[1].splitlines()
    assert len(notes) > 2 and max(map(len, notes)) <= 100  # the legend was one 294-char line
    assert notes[1].startswith("  ")  # continuation lines indented
    for args in (["inspect", "resnet18", "--res", "224"], ["sizes", "resnet18", "--max", "96"]):
        code, out, _ = run(*args)
        assert code == 0
        legend = out.rstrip().split("\n\n")[-1].splitlines()
        assert legend and max(map(len, legend)) <= 100


def test_inspect_json_schema() -> None:
    code, out, _ = run("inspect", "resnet18", "--res", "64", "--res", "96x64", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [d["final_map"] for d in data] == [[2, 2], [3, 2]]
    assert data[1]["input"] == {"batch_size": 1, "channels": 3, "height": 96, "width": 64}
    assert set(data[0]["memory"]) >= {
        "param_bytes", "activation_bytes", "peak_activation_bytes", "train_step_bytes"
    }  # fmt: skip
    assert set(data[0]["environment"]) >= {"archcalc", "torch", "timm", "device"}
    assert data[0]["stages"][-1]["name"] == "head"
    # a step: 3 x the forward, less conv1's input gradient (7x7x3 -> 64 on a 32x32 map)
    assert data[0]["train_macs"] == 3 * data[0]["macs"] - 32 * 32 * 64 * 7 * 7 * 3


@pytest.mark.parametrize(("fmt", "marker"), [("markdown", "| model"), ("csv", "model,res,")])
def test_inspect_other_formats(fmt: str, marker: str) -> None:
    code, out, _ = run("inspect", "resnet18", "--res", "64", "--stages", "--format", fmt)
    assert code == 0
    assert out.startswith(marker)
    assert "layer4" in out


def test_inspect_layers_table() -> None:
    code, out, _ = run("inspect", "resnet18", "--res", "64", "--layers", "--depth", "1")
    assert code == 0
    assert "Layers of resnet18 at 64x64" in out
    assert "11,689,512" in out  # the whole model's parameters on the root row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "resnet5O"], "unknown model 'resnet5O'; closest: resnet50"),
        (["inspect", "resnet18", "--res", "224x"], "'224x' is not a size"),
        (["inspect", "resnet18", "--res", "0"], "must be positive"),
        (["inspect", "resnet18", "--res", "100000"], "absurdly large"),
        (["inspect", "resnet18", "--batch-size", "0"], "batch_size must be a positive integer"),
        (["inspect", "resnet18", "--convention", "thop"], "'thop' is not one of"),
        (["inspect", "vit_base_patch16_224", "--output-stride", "16"], "output_stride"),
        (["inspect", "convnext_tiny", "--res", "16"], "convnext_tiny"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("archcalc: error: ")
    assert message in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(main, ["--debug", "inspect", "resnet5O"])
    assert result.exit_code != 0
    assert result.exception is not None  # re-raised instead of the one-line message
    # the original error propagates (CliRunner keeps it); without --debug: SystemExit(2)
    assert isinstance(result.exception, UnknownModelError)
    assert "archcalc: error:" not in result.stderr
    plain = CliRunner().invoke(main, ["inspect", "resnet5O"])
    assert isinstance(plain.exception, SystemExit) and plain.exit_code == 2
    assert plain.stderr.startswith("archcalc: error: unknown model 'resnet5O'")


def test_suggest_fits_100_columns_and_csv_keeps_every_column() -> None:
    args = ["suggest", "--task", "fine-grained", "--backbone", "resnet18", "--no-latency"]
    code, out, _ = run(*args, "--no-training")
    assert code == 0
    assert max(map(len, out.splitlines())) <= 100  # the headline and the table were 142 wide
    # one backbone: output stride, stride (32) and params (11.69 M) are the same in every row
    assert "One value in every row: output stride default, stride 32, params (M) 11.69" in out
    code, out, _ = run(*args, "--format", "csv")
    assert code == 0
    header = out.splitlines()[0].split(",")
    assert {"output stride", "stride", "params (M)", "latency (ms)"} <= set(header)
