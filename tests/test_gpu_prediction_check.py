"""benchmarks/gpu_prediction_check.py without a GPU: a fake timer with known throughputs checks
the calibrate / predict / compare logic, and CPU bfloat16 autocast checks the dtype comparison."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from archcalc.core.ops import OP_CLASSES
from archcalc.timing.predict.features import op_features
from archcalc.timing.predict.model import DeviceProfile, predict_features

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_prediction_check as check

#: 10 calibration models (calibrate's minimum), 2 held out; all with shipped 224 features.
CALIBRATE = (
    "resnet18", "resnet50", "mobilenetv2_100", "efficientnet_b0", "convnext_tiny",
    "vit_small_patch16_224", "deit_tiny_patch16_224", "regnety_016", "densenet121", "vgg11",
)  # fmt: skip
HELD_OUT = ("resnet34", "vit_tiny_patch16_224")
TOY = DeviceProfile(
    name="toy",
    kind="gpu",
    dtype="float16",
    bytes_scale=1.0,
    rate=dict.fromkeys(OP_CLASSES[:4], 5e13),
    bandwidth=dict.fromkeys(OP_CLASSES, 5e11),
    overhead=dict.fromkeys(OP_CLASSES, 3e-6),
    fixed=1e-4,
)


def twice_the_toy(model: str, batch: int, size: int) -> float:
    """A fake GPU exactly twice as fast as TOY at everything."""
    features = op_features(model, size, dtype="float16")
    return 2 * predict_features(TOY, features, batch).samples_per_sec


def test_calibrate_and_predict_with_a_fake_timer() -> None:
    rows = check.measure([*CALIBRATE, *HELD_OUT], twice_the_toy)
    assert len(rows) == 12 * 4
    target, checked = check.check(rows, CALIBRATE, prior=TOY)
    # every row but the 10 calibration rows (batch 256) is predicted
    assert len(checked) == 48 - 10
    assert {c.model for c in checked if c.held_out} == set(HELD_OUT)
    summary = {label: (n, cal, prior) for label, n, cal, prior in check.summarize(checked)}
    assert list(summary) == [
        "held-out models, every batch",
        "all models, batch 1",
        "all models, batch 8",
        "all models, batch 64",
    ]
    assert [n for n, _, _ in summary.values()] == [2 * 4, 12, 12, 12]
    for _, _, prior in summary.values():
        # the prior predicts exactly half of every measured throughput: |0.5 - 1| = 50 %
        assert prior["median_pct"] == pytest.approx(50.0)
        assert prior["p90_pct"] == pytest.approx(50.0)
    ratio = {(c.model, c.batch_size): c.predicted / c.measured for c in checked}
    # twice as fast is every time constant halved; at batch 256 the work and traffic terms
    # dominate, and calibration finds them for the models it never saw
    assert all(abs(ratio[m, 256] - 1) < 0.05 for m in HELD_OUT)
    # the per-kernel overheads that dominate batch 1 are not identified at batch 256: they stay
    # near the prior's (twice the truth; calibration's one overhead scale factor moves them
    # part of the way), so batch 1 is predicted too slow, between the prior (x0.5) and the
    # truth (x1), mostly nearer the prior -- what the GPU check measures on a real device
    batch_1 = [ratio[m, 1] for m in (*CALIBRATE, *HELD_OUT)]
    assert all(0.5 < r < 1 for r in batch_1)
    assert np.median(batch_1) < 0.75
    assert target.source["prior"] == "toy"


def test_a_failed_row_has_no_throughput() -> None:
    def out_of_memory(model: str, batch: int, size: int) -> float:
        if batch == 256:
            raise torch.cuda.OutOfMemoryError("fake")
        return 10.0

    rows = check.measure(["resnet18"], out_of_memory)
    assert [(r.batch_size, r.samples_per_sec) for r in rows] == [
        (1, 10.0),
        (8, 10.0),
        (64, 10.0),
        (256, None),
    ]


def test_compare_dtypes_by_hand() -> None:
    real = [("conv", True), ("_to_copy", True), ("relu", True), ("add", True), ("norm", False)]
    simulated = [("_to_copy", True), ("conv", True), ("relu", True), ("add", False)]
    simulated += [("norm", False), ("mean", False)]
    cmp = check.compare_dtypes(real, simulated)
    assert (cmp.matched, cmp.agree, cmp.unmatched_real, cmp.unmatched_simulated) == (4, 3, 0, 1)
    assert (cmp.real_casts, cmp.simulated_casts) == (1, 1)
    assert cmp.disagreements == Counter({"add: real 16-bit, simulated fp32": 1})


def test_real_cpu_autocast_against_the_simulated_cuda_one() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 4),
        nn.LayerNorm(4),
        nn.Softmax(-1),
    ).eval()
    real = check.real_dtypes(net, torch.randn(1, 3, 8, 8), torch.bfloat16)
    simulated = check.simulated_dtypes(net, 8)
    # conv, batch norm (keeps its input's dtype), relu and linear (addmm) run 16-bit in both;
    # CUDA's autocast (simulated) runs layer norm and softmax in fp32, CPU's in bfloat16
    assert [k for k, _ in real if k != "_to_copy"] == [
        "conv",
        "batch_norm",
        "relu",
        "addmm",
        "norm",
        "_softmax",
    ]
    cmp = check.compare_dtypes(real, simulated)
    assert (cmp.matched, cmp.agree) == (6, 4)
    assert cmp.disagreements == Counter(
        {"norm: real 16-bit, simulated fp32": 1, "_softmax: real 16-bit, simulated fp32": 1}
    )
    # casts: input, conv weight and bias, linear weight and bias; the simulation adds the cast
    # of the fp16 linear output up to fp32 for layer norm
    assert (cmp.real_casts, cmp.simulated_casts) == (5, 6)
