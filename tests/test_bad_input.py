"""Bad input everywhere: the API raises an ArchcalcError subclass; the CLI says one line, exit 2."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import archcalc
from archcalc.cli import main
from archcalc.errors import (
    ArchcalcError,
    DeviceUnavailableError,
    InvalidArgumentError,
    InvalidResolutionError,
    UnknownModelError,
)

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"model": "resnet_does_not_exist"}, UnknownModelError),
        ({"model": 42}, UnknownModelError),
        ({"resolution": 0}, InvalidResolutionError),
        ({"resolution": -224}, InvalidResolutionError),
        ({"resolution": "abc"}, InvalidResolutionError),
        ({"resolution": "224x"}, InvalidResolutionError),
        ({"resolution": 100000}, InvalidResolutionError),
        ({"resolution": 2.5}, InvalidResolutionError),
        ({"resolution": 24}, InvalidResolutionError),  # convnext below 32 px: the map vanishes
        ({"device": "tpu"}, InvalidArgumentError),
        ({"convention": "flops"}, InvalidArgumentError),
        ({"batch_size": 0}, InvalidArgumentError),
        ({"in_chans": -1}, InvalidArgumentError),
        ({"output_stride": 0}, InvalidArgumentError),
    ],
)
def test_profile_rejects(kwargs: dict[str, Any], error: type[ArchcalcError]) -> None:
    args = {"model": "convnext_atto", "resolution": 64} | kwargs
    with pytest.raises(error):
        archcalc.profile(args.pop("model"), args.pop("resolution"), **args)


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_cuda_without_cuda() -> None:
    with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
        archcalc.profile("resnet18", 64, device="cuda")


@pytest.mark.parametrize("res", [0, -3, "x", "224x", 100000])
def test_check_resolution_rejects(res: Any) -> None:
    with pytest.raises(InvalidResolutionError):
        archcalc.check_resolution("resnet18", res)


def test_real_tensor_run_refused_from_the_meta_estimate() -> None:
    # 16384^2 px x 64 images through resnet18 needs terabytes of activations
    with pytest.raises(archcalc.InsufficientMemoryError, match="host memory"):
        archcalc.profile("resnet18", 16384, batch_size=64, device="cpu")


RESOLUTIONS = st.one_of(
    st.integers(-5, 20000),
    st.text(max_size=10),
    st.tuples(st.integers(-2, 600), st.integers(-2, 600)),
    st.lists(st.integers(0, 600), max_size=3),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    res=RESOLUTIONS, model=st.sampled_from(["resnet18", "convnext_atto", "vit_tiny_patch16_224"])
)
def test_any_resolution_profiles_or_raises_archcalc_error(res: Any, model: str) -> None:
    try:
        p = archcalc.profile(model, res)
    except ArchcalcError:
        return
    assert min(p.final_map) >= 1


@st.composite
def conv_stacks(draw: st.DrawFn) -> nn.Sequential:
    """Random conv/pool stacks: kernels, strides, dilations, ceil modes; paddings up to
    (k - 1) / 2 and no ceil mode with padding: those can grow a map by a fraction, which the
    tracer cannot tell from an NHWC layout (it reads growth only by whole factors)."""
    layers: list[nn.Module] = []
    chans = draw(st.integers(1, 4))
    for _ in range(draw(st.integers(1, 5))):
        k, s = draw(st.integers(1, 7)), draw(st.integers(1, 4))
        pad = draw(st.sampled_from([0, (k - 1) // 2]))
        if draw(st.booleans()):
            out = draw(st.integers(1, 8))
            pad = "same" if s == 1 and draw(st.booleans()) else pad
            layers.append(nn.Conv2d(chans, out, k, s, pad, dilation=draw(st.integers(1, 2))))
            chans = out
        else:
            ceil = pad == 0 and draw(st.booleans())  # ceil mode + padding can add a cell
            layers.append(nn.MaxPool2d(k, s, pad, ceil_mode=ceil))
    return nn.Sequential(*layers)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=60, deadline=None)
@given(model=conv_stacks(), h=st.integers(1, 80), w=st.integers(1, 80), chans=st.integers(1, 4))
def test_any_module_and_shape_profiles_or_raises_archcalc_error(
    model: nn.Sequential, h: int, w: int, chans: int
) -> None:
    try:
        p = archcalc.profile(model, (h, w), in_chans=chans)
    except ArchcalcError:
        return
    maps = [(h, w)]
    x = torch.zeros(1, chans, h, w)
    with torch.no_grad():
        for layer in model:
            x = layer(x)
            maps.append(tuple(x.shape[-2:]))
    # the final map is the last output, unless a pool collapsed the map to 1x1 (read as a head)
    assert p.final_map == maps[-1] or (maps[-1] == (1, 1) and p.final_map in maps)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "resnet_nope"],
        ["inspect", "resnet18", "--res", "0"],
        ["inspect", "resnet18", "--res", "-5"],
        ["inspect", "resnet18", "--res", "abc"],
        ["inspect", "resnet18", "--res", "224x"],
        ["inspect", "resnet18", "--res", "100000"],
        ["inspect", "convnext_atto", "--res", "24"],
        ["inspect", "resnet18", "--batch-size", "0"],
        ["inspect", "resnet18", "--convention", "nope"],
        ["inspect", "resnet18", "--latency", "--device", "tpu"],
        ["sizes", "resnet_nope"],
        ["sizes", "resnet18", "--min", "0"],
        ["sizes", "resnet18", "--min", "64", "--max", "32"],
        ["sizes", "resnet18", "--max", "100000"],
        ["suggest", "--task", "nope", "--no-latency"],
        ["suggest", "--task", "coarse", "--levels", "/nonexistent/levels.toml", "--no-latency"],
        ["bench", "resnet18", "--device", "tpu"],
        ["bench", "resnet18", "--res", "100000"],
        ["sweep", "--models", "resnet18", "--res", "224x", "--out", "/tmp/x.jsonl"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    assert err.startswith("archcalc: error: ") and err.count("\n") == 1
    assert "Traceback" not in out + err


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", [["inspect", "resnet18", "--latency"], ["bench", "resnet18"]])
def test_cli_cuda_without_cuda(command: list[str]) -> None:
    code, _, err = cli(*command, "--device", "cuda")
    assert code == 2 and "no CUDA device" in err


def test_cli_sizes_output() -> None:
    code, out, _ = cli("sizes", "convnext_atto", "--min", "24", "--max", "100")
    assert code == 0
    rows = [line.split()[:2] for line in out.splitlines() if line[:1].isdigit()]
    # aligned sides are multiples of the stride 32; k = side / 32; 32 is the smallest that runs
    assert rows == [["32x32", "1x1"], ["64x64", "2x2"], ["96x96", "3x3"]]
    assert "min_size 32x32" in out
