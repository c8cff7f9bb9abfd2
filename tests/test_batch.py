"""The largest training batch per GPU size: hand arithmetic on a small conv net, agreement with
``bench --find-max-batch``'s CPU estimate, the per-batch / per-epoch MACs, and input checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from torch import nn

import archcalc
from archcalc.checks import check_dtype
from archcalc.cli import main
from archcalc.errors import InvalidArgumentError
from archcalc.formatting import GIB
from archcalc.recommend.batch import (
    BatchFit,
    batch_fits,
    check_gpu_memory,
    largest_batch,
    step_bytes,
    usable_bytes,
)
from archcalc.recommend.decide import recommend
from archcalc.recommend.levels import Level
from archcalc.recommend.rules import Backbone
from archcalc.recommend.suggestion import Option
from archcalc.report.tables import batch_rows, suggest_report
from archcalc.timing import bench as bench_module


class Tiny(nn.Module):
    """conv 3->8 3x3 (216 weights + 8 biases), ReLU, global average pool, linear 8->2 (16 + 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: Any) -> Any:
        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))


#: 3*8*9 + 8 + 8*2 + 2 = 242 parameters, all trainable, no buffers.
PARAMS = 242
#: Adam's training step keeps weights, grads and 2 moments in float32: 16 B x 242 = 3,872 B.
FIXED = 16 * PARAMS
#: Saved for backward at 32x32, per image, float32: the conv's input 3*32*32*4 = 12,288 B, the
#: ReLU's output 8*32*32*4 = 32,768 B (the pool saves that same tensor again: counted once),
#: the linear's input 8*4 = 32 B (weights are parameters, not activations): 45,088 B.
SAVED = 3 * 32 * 32 * 4 + 8 * 32 * 32 * 4 + 8 * 4
#: The same three tensors at 2 B an element (float16 or bfloat16 autocast): 6,144 + 16,384 +
#: 16 = 22,544 B; autocast's cached 2-byte weight copies add 2 B x 242 = 484 B to the fixed part.
HALF_SAVED = 3 * 32 * 32 * 2 + 8 * 32 * 32 * 2 + 8 * 2
HALF_FIXED = FIXED + 2 * PARAMS
#: A GPU of 1 GiB + 1 MiB: 1 GiB reserved, then 90% of 1,048,576 B = 943,718 B usable.
GPU_GIB = 1 + 1 / 1024
USABLE = 943_718


@pytest.fixture(scope="module")
def tiny_profile() -> archcalc.Profile:
    return archcalc.profile(Tiny(), 32)


def test_static_training_memory_of_the_small_net(tiny_profile: archcalc.Profile) -> None:
    assert tiny_profile.params == PARAMS
    assert step_bytes(tiny_profile.memory, PARAMS, "float32") == (FIXED, SAVED)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision_memory_of_the_small_net(
    tiny_profile: archcalc.Profile, dtype: str
) -> None:
    # float16 and bfloat16 are both 2 bytes wide: the same hand-computed bytes for each
    assert step_bytes(tiny_profile.memory, PARAMS, dtype) == (HALF_FIXED, HALF_SAVED)
    assert (HALF_FIXED, HALF_SAVED) == (4_356, 22_544)
    (fit,) = batch_fits(tiny_profile, [GPU_GIB], dtype, epoch_images=3000)
    # floor((943,718 - 4,356) / 22,544) = floor(41.67) = 41
    assert (fit.dtype, fit.fixed_bytes, fit.per_image_bytes, fit.batch_size) == (
        dtype,
        HALF_FIXED,
        HALF_SAVED,
        41,
    )


def test_saved_activations_grow_linearly_with_the_batch() -> None:
    four = archcalc.profile(Tiny(), 32, batch_size=4)
    assert four.memory.saved_activation_bytes == 4 * SAVED
    assert step_bytes(four.memory, PARAMS, "float32", batch_size=4) == (FIXED, SAVED)


def test_largest_batch_by_hand(tiny_profile: archcalc.Profile) -> None:
    assert usable_bytes(int(GPU_GIB * GIB)) == USABLE  # int(0.9 * 1,048,576)
    f32, f16 = (
        batch_fits(tiny_profile, [GPU_GIB], d, epoch_images=3000)[0] for d in ("float32", "float16")
    )
    # float32: floor((943,718 - 3,872) / 45,088) = floor(20.84) = 20
    assert (f32.fixed_bytes, f32.per_image_bytes, f32.batch_size) == (FIXED, SAVED, 20)
    # float16: floor((943,718 - 4,356) / 22,544) = floor(41.67) = 41
    assert f16.batch_size == 41
    # 3,000 images in batches of 20: 150 steps; of 41: ceil(73.2) = 74.
    assert (f32.steps_per_epoch, f16.steps_per_epoch) == (150, 74)


def test_a_gpu_too_small_for_one_image_gives_zero() -> None:
    assert usable_bytes(GIB // 2) == 0  # less than the 1 GiB reserved
    assert largest_batch(FIXED, SAVED, FIXED + SAVED - 1) == 0
    assert largest_batch(FIXED, SAVED, FIXED + SAVED) == 1


@pytest.mark.usefixtures("brief_warmup")
def test_agrees_with_find_max_batch_on_cpu(
    tiny_profile: archcalc.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bench's CPU estimate searches (doubling, then bisecting) the largest b with
    # weights + buffers + b x (input + peak activations) <= budget; the closed form must agree.
    monkeypatch.setattr(bench_module, "host_budget_bytes", lambda: USABLE)
    report = bench_module.bench(
        Tiny(),
        [32],
        [1],
        find_max_batch=True,
        settings=archcalc.TimingSettings(min_run_time_s=0.01),
    )
    m = tiny_profile.memory
    fixed = m.param_bytes + m.buffer_bytes  # 242 x 4 = 968 B
    per_image = 3 * 32 * 32 * 4 + m.peak_activation_bytes  # the input + the live peak
    (found,) = report.max_batches
    # floor((943,718 - 968) / (12,288 + 77,824)) = floor(942,750 / 90,112) = 10
    assert found.batch_size == largest_batch(fixed, per_image, USABLE) == 10


def test_training_macs_per_batch_and_epoch() -> None:
    fit = BatchFit(80 * GIB, "float32", 0, 0, 1, batch_size=256, epoch_images=3000, train_macs=5)
    assert (fit.batch_macs, fit.epoch_macs, fit.steps_per_epoch) == (1280, 15_000, 12)
    unknown = BatchFit(80 * GIB, "float32", 0, 0, 1, batch_size=256, epoch_images=3000)
    assert (unknown.batch_macs, unknown.epoch_macs) == (None, None)
    assert unknown.to_dict()["train_macs"] is None


@pytest.mark.parametrize("bad", [0, -8, float("nan"), float("inf"), "24", True, [24, 0]])
def test_bad_gpu_memory(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="gpu_memory"):
        check_gpu_memory(bad)


def test_gpu_memory_and_dtype_accepted_forms() -> None:
    assert check_gpu_memory(None) == () and check_gpu_memory(24) == (24.0,)
    assert check_gpu_memory([24, 80.5]) == (24.0, 80.5)
    assert check_dtype("bfloat16") == "bfloat16"
    message = "dtype must be one of float32, float16, bfloat16, got 'amp'"
    with pytest.raises(InvalidArgumentError, match=message):
        check_dtype("amp")
    with pytest.raises(InvalidArgumentError, match=message):  # the API checks before building
        archcalc.suggest("coarse", latency=False, train_batch=archcalc.TrainBatch(24, "amp"))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_gpu_memory_table_and_json() -> None:
    base = ("suggest", "--task", "coarse", "--backbone", "resnet18", "--no-latency")
    code, out, _ = run(*base, "--gpu-memory", "24", "--gpu-memory", "80", "--dtype", "float16")
    assert code == 0
    assert "Largest training batch for resnet18 at 224x224 (static estimate, Adam, float16 " in out
    assert "training-step MACs: not available" not in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("24 ", "80 "))]
    assert [r[0] for r in rows] == ["24", "80"]
    code, out, _ = run(*base, "--gpu-memory", "24", "--epoch-images", "1000", "--format", "json")
    (fit,) = json.loads(out)["train_batches"]
    assert (fit["gpu_memory_bytes"], fit["dtype"], fit["epoch_images"]) == (
        24 * GIB,
        "float32",
        1000,
    )
    assert fit["steps_per_epoch"] == -(-1000 // fit["batch_size"])
    # resnet18 at 224: 3 x 1,814,073,344 forward MACs (torchvision) minus conv1's input
    # gradient, 112 x 112 x 64 x 7 x 7 x 3 = 118,013,952: 5,324,206,080 per image
    assert fit["train_macs"] == 3 * 1_814_073_344 - 118_013_952
    assert fit["batch_macs"] == fit["batch_size"] * fit["train_macs"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gpu-memory", "-1"), "gpu_memory (GiB) must be a positive number"),
        (("--gpu-memory", "lots"), "'lots' is not a valid float"),
        (("--dtype", "fp16"), "'fp16' is not one of 'float32', 'float16', 'bfloat16'"),
        (("--precision", "amp"), "No such option '--precision'"),  # renamed --dtype, no alias
        (("--epoch-images", "0"), "--epoch-images"),
    ],
)
def test_cli_bad_values_are_one_line_errors(args: tuple[str, ...], message: str) -> None:
    code, _, err = run("suggest", "--task", "coarse", "--no-latency", *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_train_macs_on_the_option_reach_the_batch_table(tiny_profile: archcalc.Profile) -> None:
    # Forward MACs of Tiny at 32x32: conv 3*8*9 x 32*32 = 221,184 + fc 8*2 = 16 -> 221,200;
    # the caller passes the training step as 3 x forward = 663,600 MACs per image.
    assert tiny_profile.macs == 221_200
    option = Option(tiny_profile, train_macs=3 * 221_200)
    level = Level("tiny", (32, 32), "a test", "everywhere")
    s = recommend(level, [option], [Backbone("Tiny")], gpu_memory=[GPU_GIB])
    (fit,) = s.train_batches
    # batch 20 (see above): 20 x 663,600 = 13,272,000; epoch 3,000 x 663,600 = 1,990,800,000.
    assert (fit.batch_size, fit.batch_macs, fit.epoch_macs) == (20, 13_272_000, 1_990_800_000)
    assert batch_rows(s) == [["1.001", "0.0008789", "20", "150", "0.013", "1.991"]]
    assert "training-step MACs: not available" not in suggest_report(s)
