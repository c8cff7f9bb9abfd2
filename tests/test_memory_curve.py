"""A CPU target's memory curve (issue 26): bandwidth by working set, measured by
``calibrate --device cpu`` and applied to the memory term of the latency model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from archcalc.core.ops import COMPUTE_CLASSES, FEATURE_CLASSES, OP_CLASSES
from archcalc.errors import BadFileError, InvalidArgumentError
from archcalc.timing import bandwidth
from archcalc.timing.predict import calibrate as calibrate_module
from archcalc.timing.predict.api import predict
from archcalc.timing.predict.features import made_with, op_features
from archcalc.timing.predict.model import (
    Deployment,
    DeviceProfile,
    MemoryCurve,
    op_seconds,
    predict_features,
)
from archcalc.timing.predict.targets import load_target, save_target, target_to_dict

MIB = 2**20
#: Seconds per byte relative to the first size: 1 at 1 MiB, 2 at 4 MiB, 10 at 16 MiB.
CURVE = MemoryCurve(sizes=(MIB, 4 * MIB, 16 * MIB), bandwidth=(1e11, 5e10, 1e10))


def test_slowdown_by_hand() -> None:
    # linear in log size: 2 MiB is half way from 1 to 4 MiB (1 -> 2), 8 MiB half way from
    # 4 to 16 MiB (2 -> 10); flat below the first size and above the last
    sizes = [MIB / 4, MIB, 2 * MIB, 4 * MIB, 8 * MIB, 16 * MIB, 64 * MIB]
    expected = [1.0, 1.0, 1.5, 2.0, 6.0, 10.0, 10.0]
    assert CURVE.slowdown(np.array(sizes)).tolist() == pytest.approx(expected, rel=1e-12)
    as_torch = CURVE.slowdown(torch.tensor(sizes, dtype=torch.float64), torch)
    assert as_torch.tolist() == pytest.approx(expected, rel=1e-12)


def toy(curve: MemoryCurve | None = None) -> DeviceProfile:
    """A CPU with round constants: 1e10 MACs/s, 1e10 bytes/s, 1 µs per kernel, 100 µs fixed."""
    return DeviceProfile(
        name="toy-cpu",
        kind="cpu",
        dtype="float32",
        bytes_scale=1.0,
        rate=dict.fromkeys(COMPUTE_CLASSES, 1e10),
        bandwidth=dict.fromkeys(OP_CLASSES, 1e10),
        overhead=dict.fromkeys(OP_CLASSES, 1e-6),
        fixed=1e-4,
        deployment=Deployment(memory_curve=curve),
        source={"features": made_with()},
    )


def test_the_curve_multiplies_the_memory_time_only() -> None:
    # one elementwise op run twice, 0.5 MiB per image: at batch 4 each run moves 2 MiB,
    # 1.5 times slower per byte than in cache; compute and overhead are untouched
    row = np.array([OP_CLASSES.index("elementwise")]), np.zeros(1), np.array([MIB / 2])
    columns = (*row, np.zeros(1), np.array([2.0]))
    plain = op_seconds(toy().constants(), *columns, 4, 1.0)
    cached = op_seconds(toy().constants(), *columns, 4, 1.0, curve=CURVE)
    assert float(plain.memory[0]) == pytest.approx(2 * 2 * MIB / 1e10)
    assert float(cached.memory[0]) == pytest.approx(1.5 * 2 * 2 * MIB / 1e10)
    assert float(cached.overhead[0]) == float(plain.overhead[0]) == pytest.approx(2e-6)
    # the torch path (the fit) gives the same and a gradient on the bandwidths
    theta = torch.tensor(np.log(toy().constants()), requires_grad=True)
    tensors = [torch.from_numpy(np.asarray(c)) for c in columns]
    fitted = op_seconds(theta.exp(), *tensors, 4.0, 1.0, xp=torch, curve=CURVE)
    assert float(fitted.total[0].detach()) == pytest.approx(float(cached.total[0]), rel=1e-12)
    fitted.total.sum().backward()
    assert theta.grad is not None and float(theta.grad.abs().sum()) > 0


def test_without_a_curve_predictions_are_the_plain_formula() -> None:
    """Every shipped target has no curve: its predictions are the cost formula without any
    memory factor, summed here row by row (module docstring of the model)."""
    for target, model, batch in [
        ("i7-12700h", "mobilenetv2_100", 1),
        ("i7-12700h", "vit_tiny_patch16_224", 8),
        ("rtx4090", "mobilenetv2_100", 32),
    ]:
        profile = load_target(target)
        assert profile.deployment.memory_curve is None
        features = op_features(model, 224, dtype=profile.dtype)
        seconds = profile.fixed
        for cls, macs, activation, weight, count in features.rows.tolist():
            name = FEATURE_CLASSES[int(cls)]
            name = "elementwise" if name == "unknown" else name
            compute = batch * macs / profile.rate[name] if name in COMPUTE_CLASSES else 0.0
            memory = (batch * activation + weight) * profile.bytes_scale / profile.bandwidth[name]
            seconds += count * (math.hypot(compute, memory) + profile.overhead[name])
        latency = predict(model, 224, target=profile, batch_size=batch).latency_ms
        assert latency == pytest.approx(seconds * 1e3, rel=1e-12)


def test_a_flat_curve_changes_nothing() -> None:
    flat = MemoryCurve(sizes=(MIB, 64 * MIB), bandwidth=(3e10, 3e10))
    features = op_features("mobilenetv2_100", 224)
    for batch in (1, 32):
        plain = predict_features(toy(), features, batch).latency_ms
        assert predict_features(toy(flat), features, batch).latency_ms == plain


def test_target_file_keeps_the_curve(tmp_path: Path) -> None:
    path = save_target(toy(CURVE), tmp_path / "t.json")
    data = json.loads(path.read_text())
    assert data["version"] == 4
    assert data["memory_curve"] == {
        "working_set_bytes": [MIB, 4 * MIB, 16 * MIB],
        "bandwidth_bytes_per_s": [1e11, 5e10, 1e10],
    }
    assert load_target(str(path)) == toy(CURVE)
    # a version-3 file (the op classes before feature version 5) is refused; a curve whose
    # lists disagree too
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**target_to_dict(toy()), "version": 3}))
    with pytest.raises(BadFileError, match="target file version 3, this archcalc reads 4"):
        load_target(str(old))
    bad = tmp_path / "bad.json"
    data["memory_curve"]["bandwidth_bytes_per_s"] = [1e11, 5e10]
    bad.write_text(json.dumps(data))
    with pytest.raises(InvalidArgumentError, match="as many bandwidths as working sets"):
        load_target(str(bad))


def test_measure_bandwidth_with_a_fake_timer() -> None:
    # 2 µs per call; 100 GB/s up to 1 MiB, 10 GB/s above; the first round is twice as slow
    # (another process): each size keeps its fastest pass, less the tiny pass's 2 µs
    calls: list[int] = []

    def timer(nbytes: int, seconds: float) -> float:
        calls.append(nbytes)
        slow = 2.0 if len(calls) <= 3 else 1.0
        pass_s = 0.0 if nbytes == bandwidth.TINY else nbytes / (1e11 if nbytes <= MIB else 1e10)
        return slow * (2e-6 + pass_s)

    measured = bandwidth.measure_bandwidth([MIB // 2, MIB, 4 * MIB], rounds=2, timer=timer)
    assert calls == [bandwidth.TINY, MIB // 2, MIB, 4 * MIB] * 2
    assert measured == pytest.approx([1e11, 1e11, 1e10], rel=1e-9)


def test_calibrate_cpu_records_the_curve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake CPU whose memory follows a curve (4x slower per byte at 16 MiB, 10x at 64 MiB):
    ``calibrate_cpu`` measures the curve at its threads with a fifteenth of its budget, fits
    with it and keeps it; per image, its batch 32 is then much slower than its batch 1, as
    the fake CPU's is, and more than the same fit without the curve predicts."""
    truth = toy(MemoryCurve(sizes=(4 * MIB, 16 * MIB, 64 * MIB), bandwidth=(1e11, 2.5e10, 1e10)))
    curve = truth.deployment.memory_curve
    assert curve is not None

    def fake_bench(model: str, sizes: Any, batches: Any, settings: Any) -> Any:
        features = op_features(model, 224, trace=False)
        timing = None
        if features is not None:
            sps = predict_features(truth, features, batches[0]).samples_per_sec
            timing = SimpleNamespace(images_per_s=sps)
        return SimpleNamespace(rows=[SimpleNamespace(timing=timing)])

    def fake_bandwidth(sizes: Any, *, threads: int, seconds: float) -> list[float]:
        assert (tuple(sizes), threads, seconds) == (curve.sizes, 1, 4.0)
        return list(curve.bandwidth)

    monkeypatch.setattr("archcalc.timing.bench.bench", fake_bench)
    monkeypatch.setattr(bandwidth, "measure_bandwidth", fake_bandwidth)
    monkeypatch.setattr(bandwidth, "SIZES", curve.sizes)
    fitted, use = calibrate_module.calibrate_cpu("fake-cpu", seconds=60, threads=1)
    assert fitted.deployment.memory_curve == curve
    assert len(use.rows) == 11  # CPU_MODELS but mobilevit_xxs (no shipped features)
    flat, _ = calibrate_module.calibrate("flat", use.rows, kind="cpu", dtype="float32")
    assert flat.deployment.memory_curve is None
    features = op_features("lcnet_050", 224)  # under 4 MiB per op at batch 1
    at = {b: predict_features(fitted, features, b).latency_ms for b in (1, 32)}
    without = {b: predict_features(flat, features, b).latency_ms for b in (1, 32)}
    # per image, batch 32 costs 24x batch 1 with the curve, 14x without (the fake CPU: 82x)
    assert at[32] / at[1] > 1.5 * without[32] / without[1]
