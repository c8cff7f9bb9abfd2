"""The one converter (archcalc.serialize) and the JSON Schemas generated from the same metadata.

Old documents are literal: a schema-1 profile (before receptive fields, training MACs and the
fused flags) and a schema-2 one must load as they did. Real outputs (a profile, a timing, a
suggestion, a scaling, sweep lines) are validated against the shipped schemas.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from torch import nn

import archcalc
import archcalc.schemas
from archcalc.results import Environment, Memory, Profile, ReceptiveField, Stage
from archcalc.serialize import Serialized, from_json, json_field, json_schema, to_json
from archcalc.timing.stats import Timing

jsonschema = pytest.importorskip("jsonschema")


class Cell(NamedTuple):
    side: int
    ok: bool


@dataclass(frozen=True)
class Inner(Serialized):
    a: int
    b: tuple[int, int] | None = None


@dataclass(frozen=True, kw_only=True)
class Outer(Serialized):
    version: int = 3
    h: int = json_field(group="size")
    w: int = json_field(group="size", name="width")
    inner: Inner = json_field(flatten=True)
    cells: tuple[Cell, ...] = ()
    score: float = json_field(then=("double",))
    hidden: str = json_field(default="x", skip=True)

    @property
    def double(self) -> float:
        return 2 * self.score


OUTER = Outer(h=4, w=5, inner=Inner(1, (2, 3)), cells=(Cell(8, True),), score=1.5)


def test_every_option_writes_the_expected_object() -> None:
    assert OUTER.to_dict() == {
        "version": 3,
        "size": {"h": 4, "width": 5},
        "a": 1,
        "b": [2, 3],
        "cells": [{"side": 8, "ok": True}],
        "score": 1.5,
        "double": 3.0,
    }
    assert list(OUTER.to_dict()) == ["version", "size", "a", "b", "cells", "score", "double"]


def test_round_trip_and_defaults_for_missing_keys() -> None:
    assert Outer.from_dict(json.loads(json.dumps(OUTER.to_dict()))) == OUTER
    old = {"size": {"h": 4, "width": 5}, "a": 1, "score": 2}  # no version, b, cells, double
    loaded = Outer.from_dict(old)
    assert loaded == Outer(h=4, w=5, inner=Inner(1), score=2.0)
    assert isinstance(loaded.score, float) and loaded.version == 3


def test_a_missing_required_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"'size\.width'"):
        from_json(Outer, {"size": {"h": 4}, "a": 1, "score": 1})


def test_the_schema_describes_exactly_what_is_written() -> None:
    schema = json_schema(Outer)
    assert schema["required"] == ["version", "size", "a", "b", "cells", "score", "double"]
    assert schema["properties"]["b"] == {
        "anyOf": [
            {"type": "array", "prefixItems": [{"type": "integer"}] * 2, "minItems": 2,
             "maxItems": 2},
            {"type": "null"},
        ]
    }  # fmt: skip
    jsonschema.validate(OUTER.to_dict(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**OUTER.to_dict(), "extra": 1}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**OUTER.to_dict(), "size": {"h": 4}}, schema)


#: A schema-1 profile as archcalc wrote it: a 3x3 conv (stride 2, 8 channels) on a 1x3x8x8
#: input: 4x4 map, 8*3*9 = 216 weights + 8 biases = 224 params, 16 cells x 216 = 3,456 MACs.
PROFILE_V1 = {
    "schema_version": 1,
    "model": "net",
    "convention": "core",
    "input": {"batch_size": 1, "channels": 3, "height": 8, "width": 8},
    "output_stride": None,
    "global_stride": [2, 2],
    "final_map": [4, 4],
    "final_channels": 8,
    "final_layout": "nchw",
    "prefix_tokens": 0,
    "aligned": True,
    "aligned_below": None,
    "aligned_above": None,
    "params": 224,
    "trainable_params": 224,
    "macs": 3456,
    "flops": 6912,
    "stages": [
        {"name": "conv", "height": 4, "width": 4, "channels": 8, "stride": [2, 2], "macs": 3456}
    ],
    "memory": {
        "param_bytes": 896, "buffer_bytes": 0, "activation_bytes": 512,
        "peak_activation_bytes": 768, "saved_activation_bytes": 768,
        "train_step_bytes": 4352, "train_step_bytes_half": 3968,
    },
    "environment": {
        "archcalc": "0.1.0", "torch": "2.5.0", "timm": "1.0.0", "device": "meta",
        "dtype": "float32", "threads": 2,
    },
}  # fmt: skip


def _profile_v2() -> dict[str, object]:
    """The same profile at schema 2: receptive fields (3 px, stride 2), training MACs, flags."""
    data = copy.deepcopy(PROFILE_V1)
    field = {"size": [3, 3], "stride": [2, 2], "context": "local", "reason": None}
    data |= {"schema_version": 2, "receptive_field": field, "train_macs": 6912}
    data |= {"fusable": False, "reparameterized": False}
    data["stages"][0]["receptive_field"] = field  # type: ignore[index]
    return data


def test_a_schema_1_profile_loads() -> None:
    p = Profile.from_dict(PROFILE_V1)
    assert (p.schema_version, p.height, p.width, p.final_map) == (1, 8, 8, (4, 4))
    assert (p.params, p.macs, p.flops, p.train_macs) == (224, 3456, 6912, None)
    assert p.receptive_field is None and p.stages == (
        Stage("conv", 4, 4, 8, (2, 2), 3456, receptive_field=None),
    )
    assert p.memory == Memory(896, 0, 512, 768, 768, 4352, 3968)
    assert p.environment == Environment("0.1.0", "2.5.0", "1.0.0", "meta", "float32", 2)
    assert (p.fusable, p.reparameterized) == (False, False)


def test_a_schema_2_profile_loads_and_round_trips() -> None:
    data = _profile_v2()
    p = Profile.from_dict(data)
    assert p.receptive_field == ReceptiveField((3, 3), (2, 2), "local")
    assert p.stages[0].receptive_field == p.receptive_field and p.train_macs == 6912
    assert to_json(p) == data  # the same keys, values and nesting as written
    jsonschema.validate(data, archcalc.schemas.load("profile"))


#: A schema-1 timing: three samples, 10, 12 and 11 ms.
TIMING_V1 = {
    "schema_version": 1, "model": "net",
    "input": {"batch_size": 2, "channels": 3, "height": 8, "width": 8},
    "device": "cpu", "channels_last": False, "compiled": False, "compile_time_s": None,
    "min_run_time_s": 0.1, "warmup": {"runs": 3, "time_s": 0.4}, "warmup_stable": True,
    "runs": 3, "median_s": 0.011, "p10_s": 0.0102, "p90_s": 0.0118, "iqr_s": 0.001,
    "mean_s": 0.011, "images_per_s": 181.8, "warnings": [], "peak_memory_bytes": None,
    "memory_method": "none", "samples_s": [0.010, 0.012, 0.011],
    "environment": PROFILE_V1["environment"],
}  # fmt: skip


def test_a_schema_1_timing_loads_and_its_statistics_are_derived() -> None:
    t = Timing.from_dict(TIMING_V1)
    assert (t.batch_size, t.warmup_runs, t.warmup_s) == (2, 3, 0.4)
    assert t.samples_s == (0.01, 0.012, 0.011)
    assert t.median_s == 0.011 and t.images_per_s == pytest.approx(2 / 0.011)
    jsonschema.validate(TIMING_V1, archcalc.schemas.load("timing"))


def test_the_shipped_schemas_are_the_generated_ones() -> None:
    assert archcalc.schemas.stale() == []
    assert set(archcalc.schemas.NAMES) == {p.stem for p in archcalc.schemas.FOLDER.glob("*.json")}


def test_a_stale_schema_file_is_found(tmp_path: Path) -> None:
    written = archcalc.schemas.write(tmp_path)
    assert sorted(p.stem for p in written) == sorted(archcalc.schemas.NAMES)
    assert archcalc.schemas.stale(tmp_path) == []
    (tmp_path / "timing.json").write_text("{}\n")
    (tmp_path / "scaling.json").unlink()
    assert archcalc.schemas.stale(tmp_path) == ["timing", "scaling"]


def test_an_unknown_schema_name_is_a_user_error() -> None:
    with pytest.raises(archcalc.InvalidArgumentError, match="no schema 'profiles'"):
        archcalc.schemas.load("profiles")


def _valid(data: object, name: str) -> None:
    jsonschema.Draft202012Validator(archcalc.schemas.load(name)).validate(data)


@pytest.fixture(scope="module")
def resnet18_64() -> Profile:
    return archcalc.profile("resnet18", 64)


def test_real_profile_and_sweep_lines_validate(resnet18_64: Profile) -> None:
    from archcalc.sweep.run import ModelTask, SweepSettings, profile_task

    data = json.loads(json.dumps(resnet18_64.to_dict()))
    _valid(data, "profile")
    assert Profile.from_dict(data) == resnet18_64
    # resnet18 at 64: global stride 32, 2x2 final map; 0 px leaves nothing to trace
    task = ModelTask("resnet18", ((64, 64), (0, 0)), SweepSettings())
    ok, failed = list(profile_task(task))
    assert (ok["status"], ok["final_map"], failed["status"]) == ("ok", [2, 2], "error")
    for line in (ok, failed):
        _valid(json.loads(json.dumps(line)), "sweep_line")
    with pytest.raises(jsonschema.ValidationError):
        _valid({**failed, "status": "ok"}, "sweep_line")


def test_sweep_target_line_carries_the_prediction(tmp_path: Path) -> None:
    from archcalc.report.rows import to_row
    from archcalc.sweep.run import ModelTask, SweepSettings, profile_task
    from archcalc.timing.predict.api import predict
    from archcalc.timing.predict.targets import load_target

    target = load_target("rtx4090")
    task = ModelTask("resnet18", ((64, 64),), SweepSettings(batch_size=4, target=target))
    (line,) = profile_task(task)
    _valid(json.loads(json.dumps(line)), "sweep_line")
    alone = predict("resnet18", 64, target=target, batch_size=4)  # what every command says
    p = line["prediction"]
    assert (p["predicted"], p["target"], p["batch_size"]) == (True, "rtx4090", 4)
    assert p["latency_ms"] == alone.latency_ms
    assert p["samples_per_sec"] == pytest.approx(4e3 / p["latency_ms"])
    _valid(p, "prediction")
    row = to_row(line)
    assert (row["pred_latency_ms"], row["pred_target"]) == (p["latency_ms"], "rtx4090")
    assert "prediction" not in next(
        profile_task(ModelTask("resnet18", ((64, 64),), SweepSettings()))
    )


def test_inspect_and_scale_json_with_target_validate() -> None:
    """``--target`` puts a ``prediction`` beside each profile and scale point: the shipped
    schemas describe it (and ``inspect --latency``'s ``timing``)."""
    from click.testing import CliRunner

    from archcalc.cli import main

    args = ["resnet18", "--res", "64", "--target", "rtx4090", "--format", "json", "--no-cache"]
    inspected = CliRunner().invoke(main, ["inspect", *args])
    assert inspected.exit_code == 0, inspected.output
    (profile,) = json.loads(inspected.output)
    assert profile["prediction"]["predicted"] is True
    _valid(profile, "profile")
    with pytest.raises(jsonschema.ValidationError):
        _valid({**profile, "prediction": {"latency_ms": 1.0}}, "profile")
    scale = ["scale", "resnet18", "--min", "64", "--max", "96", "--steps", "2", "--format", "json"]
    scaled = CliRunner().invoke(main, [*scale, "--target", "rtx4090"])
    assert scaled.exit_code == 0, scaled.output
    data = json.loads(scaled.output)
    assert [p["prediction"]["target"] for p in data["points"]] == ["rtx4090", "rtx4090"]
    _valid(data, "scaling")


@pytest.mark.usefixtures("brief_warmup")
def test_real_timing_validates() -> None:
    settings = archcalc.TimingSettings(min_run_time_s=0.01, warmup_max_s=0.01)
    t = archcalc.measure(nn.Sequential(nn.Conv2d(3, 4, 3)), 16, settings=settings)
    data = json.loads(json.dumps(t.to_dict()))
    _valid(data, "timing")
    assert Timing.from_dict(data) == t


def test_real_suggestion_scaling_and_sizes_validate() -> None:
    s = archcalc.suggest("coarse", ["resnet18"], latency=False, train_batch=archcalc.TrainBatch(8))
    data = json.loads(json.dumps(s.to_dict()))
    _valid(data, "suggestion")
    back = type(s).from_dict(data)  # build_kwargs and per-option train_macs are not JSON
    assert back.to_dict() == data and back.chosen.profile == s.chosen.profile
    assert [a["chosen"] for a in data["alternatives"]].count(True) == 1
    scaling = archcalc.scale("resnet18", 64, 128, steps=2)
    _valid(json.loads(json.dumps(scaling.to_dict())), "scaling")
    assert type(scaling).from_dict(scaling.to_dict()) == scaling
    _valid(archcalc.check_resolution("resnet18", 65).to_dict(), "validity")
    found = archcalc.size_range("resnet18", 60, 70)
    _valid(found.to_dict(), "size_range")
    assert type(found).from_dict(found.to_dict()) == found
