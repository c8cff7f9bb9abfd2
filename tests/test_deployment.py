"""Deployment settings of a target (compiled, layout, torch version), the prior a calibration
starts from, and error bands that say where they were measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import round_target

from archcalc.cli import main
from archcalc.core.ops import OP_CLASSES
from archcalc.errors import InvalidArgumentError
from archcalc.report.prediction import predicted_label
from archcalc.timing.predict.features import Features
from archcalc.timing.predict.model import Deployment, DeviceProfile, predict_features
from archcalc.timing.predict.tables import deployment_of
from archcalc.timing.predict.targets import (
    calibration_prior,
    load_target,
    save_target,
    target_to_dict,
)

CONV = OP_CLASSES.index("conv")
MEASURED = {
    "median_pct": 8.0,
    "p90_pct": 24.0,
    "method": "leave-one-family-out",
    "batch_sizes": [256, 1024],
    "input_sizes": [160, 512],
}


def device(**changes: object) -> DeviceProfile:
    """Round constants at float16, an error measured at batch 256-1024 and 160-512 px."""
    return round_target(**{"dtype": "float16", "error": MEASURED, **changes})


#: timm's dtype names read as torch's: amp is float16 autocast, fp32 is float32.
F16, F32 = "float16", "float32"
TIMM_NAMES = [
    ("benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv", "gpu", F16, 0, "channels_last", "2.4.0"),
    ("benchmark-infer-amp-nchw-pt291-cu130-5090-dynamo.csv", "gpu", F16, True, "nchw", "2.9.1"),
    ("benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv", "cpu", F32, 1, "nchw", "2.4.0"),
    ("benchmark-infer-amp-nchw-pt2100-cu130-b200.csv", "gpu", F16, False, "nchw", "2.10.0"),
    ("l4.csv", None, None, None, None, None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), [(row[0], row[1:]) for row in TIMM_NAMES])
def test_deployment_from_timm_file_names(name: str, expected: tuple[object, ...]) -> None:
    d = deployment_of(name)
    assert (d.kind, d.dtype, d.compiled, d.layout, d.torch_version) == expected


def test_band_only_where_the_error_was_measured() -> None:
    features = Features(np.array([[CONV, 1e9, 1e6, 1e6, 1]]))
    band = "±8 % median, ±24 % P90 (leave-one-family-out)"
    assert predict_features(device(), features, 256, size=(224, 224)).error_band == band
    assert (
        predict_features(device(), features, 1024).error_band == band
    )  # size unknown: batch decides
    assert predict_features(device(), features, 1, size=(224, 224)).error_band == (
        "not validated for this target at batch 1 (measured at batch 256-1024)"
    )
    assert predict_features(device(), features, 512, size=(640, 480)).error_band == (
        "not validated for this target at 640x480 (measured at 160-512 px)"
    )
    one = device(error={**MEASURED, "batch_sizes": [1, 1]})
    assert one.band_at(8) == "not validated for this target at batch 8 (measured at batch 1)"
    older = device(error={"median_pct": 8.0, "p90_pct": 24.0, "method": "in-sample"})
    assert older.band_at(1) == "±8 % median, ±24 % P90 (in-sample)"  # no range recorded
    assert predicted_label("t", "float16", 1, device().band_at(1)) == (
        "PREDICTED, not measured: t (float16), batch 1, error not validated for this target at "
        "batch 1 (measured at batch 256-1024)"
    )


def test_inspect_labels_an_unvalidated_batch(tmp_path: Path) -> None:
    target = str(save_target(device(name="toy"), tmp_path / "toy.json"))
    args = ["inspect", "resnet18", "--res", "64", "--target", target, "--batch-size", "256"]
    result = CliRunner().invoke(main, args)
    text = " ".join(result.stdout.split())
    assert result.exit_code == 0, result.stdout
    assert "error not validated for this target at 64x64 (measured at 160-512 px)" in text
    assert "±8 %" not in text


def test_deployment_round_trips_and_bad_layout_is_refused(tmp_path: Path) -> None:
    compiled = device(deployment=Deployment(True, "channels_last", "2.9.1"))
    path = save_target(compiled, tmp_path / "c.json")
    assert load_target(str(path)) == compiled
    for bad in ({"layout": "nhwc"}, {"compiled": "yes"}):
        path.write_text(json.dumps({**target_to_dict(compiled), **bad}))
        refused = r"corrupted target file \((layout is 'nhwc'|compiled is not true or false)"
        with pytest.raises(InvalidArgumentError, match=refused):
            load_target(str(path))
    old = {k: v for k, v in target_to_dict(device()).items() if k != "compiled"}
    path.write_text(json.dumps(old))  # written before targets stated their deployment
    assert load_target(str(path)).deployment.compiled is False


def test_calibration_starts_from_the_matching_deployment() -> None:
    assert calibration_prior("gpu", "float16").name == "rtx4090"
    assert calibration_prior("gpu", "bfloat16", compiled=True).name == "rtx5090-compiled"
    assert calibration_prior("gpu", "float16", layout="channels_last").name == "rtx3090-nhwc"
    # compiled and channels-last: none ships both; one of the two matching ones, by preference
    both = calibration_prior("gpu", "float16", compiled=True, layout="channels_last")
    assert both.name == "rtx5090-compiled"
    assert calibration_prior("cpu", "float32").name == "i7-12700h"  # compiled, the only CPU one
    assert calibration_prior("gpu", "float32").name == "generic-gpu"


def test_calibrate_reads_the_deployment_from_the_file_name(tmp_path: Path) -> None:
    table = tmp_path / "benchmark-infer-amp-nhwc-pt240-cu124-l4.csv"
    lines = ["model,infer_img_size,infer_batch_size,infer_samples_per_sec"]
    lines += [f"resnet18,{s},{b},{1000 + s + b}" for s in (160, 224) for b in (8, 16, 32, 64, 256)]
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "l4.json"
    result = CliRunner().invoke(main, ["calibrate", "l4", "--from", str(table), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "float16, eager, channels_last, torch 2.4.0, started from rtx3090-nhwc" in result.output
    target = load_target(str(out))
    assert target.deployment == Deployment(False, "channels_last", "2.4.0")
    assert (target.error["batch_sizes"], target.error["input_sizes"]) == ([8, 256], [160, 224])
    flags = ["--compiled", "--layout", "nchw", "--torch-version", "2.9.1"]
    args = ["calibrate", "l4", "--from", str(table), "--out", str(out), *flags]
    assert CliRunner().invoke(main, args).exit_code == 0
    target = load_target(str(out))
    assert target.deployment == Deployment(True, "nchw", "2.9.1")
    assert target.source["prior"] == "rtx5090-compiled"
