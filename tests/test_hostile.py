"""Hostile input on the files archcalc writes and reads back (issue 27): every case is one
line and exit 2 (or a one-line error from the API), and nothing is lost: the files that were
there keep their bytes, and no temporary file is left behind.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from helpers import round_target

from archcalc.cli import main
from archcalc.errors import BadFileError, InvalidArgumentError
from archcalc.files import check_json, refuse_overwriting, write_atomic
from archcalc.schemas import load
from archcalc.timing.predict.calibrate import calibrate
from archcalc.timing.predict.model import DeviceProfile
from archcalc.timing.predict.tables import Measured
from archcalc.timing.predict.targets import (
    broken_targets,
    load_target,
    save_target,
    target_to_dict,
)

#: Models whose features ship with archcalc at 224 (float32 and float16): no tracing in these tests.
MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "efficientnet_b0", "convnext_tiny",
          "mobilenetv3_large_100", "deit_tiny_patch16_224", "vit_small_patch16_224",
          "regnetx_002", "densenet121", "ghostnet_100")  # fmt: skip
HEADER = "model,infer_img_size,infer_batch_size,infer_samples_per_sec\n"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


def one_line_error(args: list[str], *needles: str) -> str:
    """Run ``args``: exit 2, one line, naming each of ``needles``."""
    code, text = cli(*args)
    assert code == 2, (args, text)
    assert len(text.strip().splitlines()) == 1, (args, text)
    for needle in needles:
        assert needle in text, (args, needle, text)
    return text


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (temporary files included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def table(path: Path) -> Path:
    """A measured CSV of 12 rows (batches 1, 8, 32; made-up throughputs)."""
    rows = [f"{m},224,{(1, 8, 32)[i % 3]},{100 + 37 * i}\n" for i, m in enumerate(MODELS)]
    path.write_text(HEADER + "".join(rows))
    return path


def device(name: str = "toy", **changes: object) -> DeviceProfile:
    error = {"median_pct": 5.0, "p90_pct": 9.0, "method": "in-sample"}
    return round_target(**{"name": name, "error": error, **changes})


# --- one atomic write ------------------------------------------------------------------------


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.txt"
    write_atomic(path, "first\n")
    write_atomic(path, b"second\n")
    assert path.read_bytes() == b"second\n"
    assert snapshot(tmp_path) == {os.path.join("sub", "out.txt"): b"second\n"}
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # as a plain write leaves it


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("folder", "is a folder"),  # the target itself is a folder
        ("plain/x.json", "plain is a file, not a folder"),  # its parent is a regular file
    ],
)
def test_write_atomic_refuses_and_leaves_nothing(tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("keep me")
    before = snapshot(tmp_path)
    with pytest.raises(InvalidArgumentError, match=message):
        write_atomic(tmp_path / target, "data")
    assert snapshot(tmp_path) == before


def test_write_atomic_failure_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.json"
    path.write_text("old")

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(InvalidArgumentError, match=r"t.json: No space left on device"):
        write_atomic(path, "new")
    monkeypatch.undo()
    assert snapshot(tmp_path) == {"t.json": b"old"}


def test_an_output_may_not_be_an_input(tmp_path: Path) -> None:
    source = tmp_path / "m.csv"
    source.write_text("x")
    os.link(source, tmp_path / "link.csv")
    for same in (source, tmp_path / "." / "m.csv", tmp_path / "link.csv"):
        with pytest.raises(InvalidArgumentError, match=r"--out .* is the table: writing it"):
            refuse_overwriting({"--out": same}, [source], "the table")
    refuse_overwriting({"--out": tmp_path / "new.csv", "-o": None}, [source], "the table")


# --- calibrate: outputs, names, fits ---------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("folder", "it is a folder"),
        ("plain/t.json", "plain is a file, not a folder"),
        ("m.csv", "is the measured table read (--from)"),  # the table itself
        ("./m.csv", "is the measured table read (--from)"),  # ... spelled otherwise
    ],
)
def test_calibrate_out_refused_nothing_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, out: str, message: str
) -> None:
    source = table(tmp_path / "m.csv")
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain").write_text("keep me")
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)  # "./m.csv" is relative
    one_line_error(["calibrate", "probe", "--from", str(source), "--out", out], message)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x y"])
def test_target_name_is_not_a_path(tmp_path: Path, private_cache: Path, name: str) -> None:
    source = table(tmp_path / "m.csv")
    one_line_error(["calibrate", name, "--from", str(source)], "is not a name", "--out")
    with pytest.raises(InvalidArgumentError, match="is not a name"):
        save_target(device(name))  # into the saved-targets folder: a name only
    assert not list(private_cache.parent.rglob("*.json"))  # nothing saved, in or out of it


def test_a_diverged_fit_never_replaces_a_saved_target(private_cache: Path) -> None:
    saved = save_target(device("mine"))
    before = saved.read_bytes()
    # batch 0 (what bench JSON rows once passed through): log(0) -> NaN constants and error
    rows = [Measured(m, 224, 0, 50.0, {}) for m in MODELS]
    with pytest.raises(InvalidArgumentError, match=r"diverged \(\d+ of 31 constants"):
        calibrate("mine", rows, kind="cpu", dtype="float32")
    nan = device("mine", fixed=float("nan"))
    with pytest.raises(InvalidArgumentError, match="fixed_s_per_call is not a finite number"):
        save_target(nan)
    with pytest.raises(InvalidArgumentError, match=r"rate_macs_per_s\.conv must be > 0"):
        save_target(device("mine", rate={**device().rate, "conv": -1.0}))
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["mine.json"]


# --- malformed bench JSON --------------------------------------------------------------------

ROW = {"input": {"height": 224, "width": 224, "batch_size": 4}, "timing": {"images_per_s": 9.0}}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"model": "resnet18", "rows": [', "not archcalc bench JSON (Expecting value"),
        (json.dumps({"model": "resnet18", "rows": [1]}), "rows[0] is not an object"),
        (json.dumps({"model": "resnet18", "rows": {}}), "rows is not a list"),
        (json.dumps({"model": 7, "rows": []}), "model is not a string"),
        (json.dumps({"rows": []}), "model is missing"),
        (
            json.dumps({"model": "resnet18", "rows": [{**ROW, "input": {"height": "x"}}]}),
            "rows[0].input.width is missing",
        ),
        (
            json.dumps({"model": "resnet18", "rows": [{**ROW, "timing": 3}]}),
            "rows[0].timing is not an object or null",
        ),
        (
            json.dumps({"model": "resnet18", "rows": [ROW]})
            + "\n"
            + json.dumps(
                {"model": "resnet18", "rows": [{**ROW, "input": {**ROW["input"], "batch_size": 0}}]}
            ),
            "document 2: rows[0].input.batch_size must be >= 1 (0)",
        ),
    ],
)
def test_malformed_bench_json(tmp_path: Path, text: str, problem: str) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(text)
    for command in (["calibrate", "x", "--from"], ["predict", "--target", "rtx4090", "--from"]):
        one_line_error([*command, str(bench)], str(bench), problem)


# --- target files ----------------------------------------------------------------------------


def _edited(edit: object) -> bytes:
    data = target_to_dict(device())
    edit(data)  # type: ignore[operator]
    return json.dumps(data).encode()


BAD_TARGETS = [
    (b"\xff\xfe{", "not an archcalc target file (not UTF-8 text)"),
    (b'{"format": "archcalc-target", ', "not an archcalc target file (not JSON"),
    (b"[1, 2]", "not an archcalc target file (no format"),
    (
        _edited(lambda d: d.update(version=3)),  # op classes of before feature version 5
        "version 3, this archcalc reads 4: calibrate it",
    ),
    (
        _edited(lambda d: d["error"].pop("p90_pct")),
        "corrupted target file (error.p90_pct is missing)",
    ),
    (_edited(lambda d: d.pop("constants")), "(constants is missing)"),
    (
        _edited(lambda d: d["constants"]["bandwidth_bytes_per_s"].pop("norm")),
        "constants.bandwidth_bytes_per_s.norm is missing",
    ),
    (
        _edited(lambda d: d["constants"].update(fixed_s_per_call="1e-4")),
        "constants.fixed_s_per_call is not a number ('1e-4')",
    ),
    (
        _edited(lambda d: d["constants"].update(fixed_s_per_call=0)),
        "constants.fixed_s_per_call must be > 0 (0)",
    ),
    (_edited(lambda d: d.update(kind="tpu")), "kind is 'tpu', not one of gpu, cpu"),
    (_edited(lambda d: d.update(error=[])), "error is not an object"),
    (
        _edited(lambda d: d["constants"].update(fixed_s_per_call=1e-4)).replace(b"0.0001", b"NaN"),
        "(not JSON: NaN is not a JSON number)",
    ),
    (
        _edited(lambda d: d["constants"].update(fixed_s_per_call=1e-4)).replace(
            b"0.0001", b"1e999"
        ),
        "constants.fixed_s_per_call is not a finite number (inf)",
    ),
]


@pytest.mark.parametrize(("raw", "problem"), BAD_TARGETS)
def test_bad_target_file_is_named_with_its_problem(
    tmp_path: Path, private_cache: Path, raw: bytes, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(raw)
    with pytest.raises(BadFileError) as caught:
        load_target(str(path))
    assert caught.value.path == str(path) and problem in caught.value.problem
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)  # sweep workers
    table_csv = table(tmp_path / "m.csv")
    commands = [
        ["inspect", "resnet18", "--res", "64", "--target", str(path)],
        ["scale", "resnet18", "--min", "64", "--max", "96", "--steps", "2", "--target", str(path)],
        ["predict", "--target", str(path), "--from", str(table_csv)],
    ]
    for args in commands:
        one_line_error(args, str(path), problem)
    # saved under a name: loading it by that name says what is wrong (not "unknown target"),
    # and ``targets`` lists it as broken beside the good ones
    (private_cache / "targets").mkdir(parents=True)
    (private_cache / "targets" / "mine.json").write_bytes(raw)
    one_line_error(["inspect", "resnet18", "--res", "64", "--target", "mine"], "mine.json", problem)
    code, text = cli("targets")
    assert code == 0, text
    # the table may split to fit 100 columns: each part repeats the target's name
    row = " ".join(line for line in text.splitlines() if line.startswith("mine "))
    assert "BROKEN: " in row and problem in row and "rtx4090" in text
    code, text = cli("targets", "--format", "json")
    assert json.loads(text)["mine"]["broken"] == broken_targets()["mine"][1]
    assert problem in json.loads(text)["mine"]["broken"]
    assert path.read_bytes() == raw  # nothing rewritten


def test_target_schema_is_shipped_and_agrees_with_jsonschema() -> None:
    """The runtime check reads the shipped schema's keywords as jsonschema does: the shipped
    targets pass both, each corrupt file that parses fails both."""
    schema = load("target")
    for name in ("rtx4090", "rtx3090", "rtx5090", "i7-12700h"):
        data = target_to_dict(load_target(name))
        jsonschema.validate(data, schema)
        check_json(data, schema)
    for raw, _ in BAD_TARGETS[4:11]:
        data = json.loads(raw)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, schema)
        with pytest.raises(InvalidArgumentError):
            check_json(data, schema)
    empty = target_to_dict(device(error={}))  # error not measured: an empty block is valid
    jsonschema.validate(empty, schema)
    check_json(empty, schema)


# --- predict and sweep -----------------------------------------------------------------------


def test_predict_refuses_batch_zero(tmp_path: Path) -> None:
    bench = tmp_path / "b.json"
    row = {**ROW, "input": {**ROW["input"], "batch_size": 0}}
    bench.write_text(json.dumps({"model": "resnet18", "rows": [row]}))
    one_line_error(
        ["predict", "--target", "rtx4090", "--from", str(bench)], "batch_size must be >= 1"
    )
    csv = tmp_path / "b.csv"
    csv.write_text("model,infer_img_size,infer_batch_size\nresnet18,224,0\n")
    one_line_error(["predict", "--target", "rtx4090", "--from", str(csv)], "must be positive")


def test_sweep_out_may_not_be_its_models_file(tmp_path: Path) -> None:
    models = tmp_path / "models.txt"
    models.write_text("resnet18\n")
    args = ["sweep", "--models-file", str(models), "--res", "64", "--out", str(models)]
    one_line_error(args, "is the --models-file read")
    assert snapshot(tmp_path) == {"models.txt": b"resnet18\n"}


def test_sweep_models_file_must_be_text(tmp_path: Path) -> None:
    models = tmp_path / "models.bin"
    models.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    args = ["sweep", "--models-file", str(models), "--res", "64", "--out", str(tmp_path / "o")]
    one_line_error(args, "is not UTF-8 text")
    assert snapshot(tmp_path) == {"models.bin": b"\x89PNG\r\n\x1a\n\xff\xfe"}


def test_calibrate_threads_is_a_click_range() -> None:
    one_line_error(["calibrate", "--device", "cpu", "--threads", "0"], "0 is not in the range x>=1")
