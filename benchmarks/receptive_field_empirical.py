"""Receptive fields measured on real tensors against archcalc's analysis, on >= 25 timm CNNs.

The measurement is the support of the gradient of the centre cell of the final map (timm's
``forward_features`` output, summed over channels) with respect to the input, in float64, with
nothing that could cancel or saturate:

* every conv/linear weight positive and averaging (uniform 0.5-1.5, divided by its fan-in
  sum), biases 0, every norm scale 1 and shift 0 (batch norm: running mean 0, variance 1);
* ReLU6/hard-tanh read as ReLU, hard-sigmoid as sigmoid, hard-swish as SiLU (unsaturated);
* max-pooling measured through an average pool of the same geometry (max sends the gradient
  to one cell only), ``-inf`` padding before it read as 0.

Each axis is measured on a thin input, long along that axis (the analysed field plus two
strides, rounded up to the global stride) and 2 strides (at least 96 px) across, so a 2000-pixel
field costs
little: convolution is separable, so the field along one axis does not depend on the other
axis's extent. A model with a global gate (squeeze-and-excitation, global context, group norm
statistics) should reach every input pixel: measured "global" while its convolutional field
is shorter than the input. Bar: the measured size equals the analysed one on every model
without a gate, and "global" on every model with one.

    nice python benchmarks/receptive_field_empirical.py [--models resnet18 resnet50@16 ...]
        [--rows-only]   # measure the height axis only (half the time; fields here are square)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

import archcalc

#: (timm name, output_stride or None): residual, dense, multi-branch, depthwise 7x7, SE or
#: not, dilated, group norm, space-to-depth, upsampling fusions.
MODELS: tuple[tuple[str, int | None], ...] = (
    ("resnet18", None),
    ("resnet50", None),
    ("resnet50d", None),
    ("resnext50_32x4d", None),
    ("resnet50", 16),
    ("seresnet50", None),
    ("ecaresnet50d", None),
    ("skresnet18", None),
    ("gcresnet50t", None),
    ("resnetv2_50x1_bit", None),
    ("densenet121", None),
    ("res2net50_26w_4s", None),
    ("dla34", None),
    ("hrnet_w18_small", None),
    ("inception_v3", None),
    ("xception41", None),
    ("dpn68", None),
    ("cspresnet50", None),
    ("cspdarknet53", None),
    ("selecsls42b", None),
    ("repvgg_a2", None),
    ("vgg16", None),
    ("convnext_tiny", None),
    ("convnext_tiny", 16),
    ("efficientnet_b0", None),
    ("efficientnet_b0", 16),
    ("mobilenetv2_100", None),
    ("mobilenetv3_large_100", None),
    ("mnasnet_100", None),
    ("regnetx_016", None),
    ("regnety_016", None),
    ("ghostnet_100", None),
    ("tresnet_m", None),
)

#: The short side of the thin inputs, at least (inception_v3 needs 75 px).
THIN = 96
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def averaging(model: nn.Module) -> None:
    """Positive averaging weights, zero biases, identity norms (see the module docstring)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if isinstance(module, _NORMS) or "norm" in type(module).__name__.lower():
                    p.fill_(1.0 if name == "weight" else 0.0)
                elif name == "bias":
                    p.zero_()
                elif p.dim() >= 2:
                    p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5)
                    p.div_(p.flatten(1).sum(1).view(-1, *[1] * (p.dim() - 1)))
            if (
                isinstance(module, nn.modules.batchnorm._BatchNorm)
                and module.running_var is not None
            ):
                module.running_mean.zero_()
                module.running_var.fill_(1.0)


def _pool_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
    values = dict(zip(names, args, strict=False)) | kwargs
    if values.get("dilation", 1) not in (1, (1, 1), [1, 1]):
        raise RuntimeError("dilated max-pooling has no average-pool twin")
    kernel = values["kernel_size"]
    return (
        values["input"],
        kernel,
        values.get("stride") or kernel,
        values.get("padding", 0),
        values.get("ceil_mode", False),
    )


class Unsaturated(TorchFunctionMode):
    """Swap saturating activations and max-pooling for their unsaturated twins."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in (F.relu6, F.hardtanh, torch._C._nn.hardtanh, torch._C._nn.relu6):
            return F.relu(args[0])
        if func in (F.hardsigmoid, torch._C._nn.hardsigmoid):
            return torch.sigmoid(args[0])
        if func in (F.hardswish, torch._C._nn.hardswish):
            return F.silu(args[0])
        if func in (F.max_pool2d, torch.max_pool2d, F.max_pool2d_with_indices):
            return F.avg_pool2d(*_pool_args(args, kwargs))
        if func in (F.adaptive_max_pool2d, torch._C._nn.adaptive_max_pool2d):
            return F.adaptive_avg_pool2d(
                args[0], args[1] if len(args) > 1 else kwargs["output_size"]
            )
        if func is F.pad and math.isinf(
            float(kwargs.get("value", args[3] if len(args) > 3 else 0) or 0)
        ):
            return F.pad(args[0], args[1], value=0.0)
        return func(*args, **kwargs)


def measured_extent(model: nn.Module, size: tuple[int, int], axis: int) -> tuple[int, int]:
    """(pixels along ``axis`` with a nonzero gradient of the centre final cell, input length)."""
    x = (torch.rand(1, 3, *size, dtype=torch.float64) + 0.5).requires_grad_(True)
    with Unsaturated():
        out = model.forward_features(x)
    k = out.shape[2:]
    out[0, :, k[0] // 2, k[1] // 2].sum().backward()
    support = x.grad.abs().sum(dim=(0, 1)).ne(0)  # type: ignore[union-attr]
    line = support.any(dim=1 - axis).nonzero().flatten()
    return int(line.max() - line.min() + 1), size[axis]


def check(name: str, output_stride: int | None, axes: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    """Analyse and measure one model along ``axes`` (0: rows, 1: columns)."""
    kwargs = {} if output_stride is None else {"output_stride": output_stride}
    probe = archcalc.profile(name, 224, output_stride=output_stride)
    rf, stride = probe.receptive_field, probe.global_stride[0]
    if rf is None or rf.size is None:
        return {"model": name, "os": output_stride, "analysed": getattr(rf, "context", "-")}
    model = timm.create_model(name, pretrained=False, **kwargs).double().eval()
    averaging(model)
    measured = []
    for axis in axes:
        long = math.ceil((rf.size[axis] + 2 * stride) / stride) * stride
        thin = max(2 * stride, THIN)
        size = (long, thin) if axis == 0 else (thin, long)
        analysed = archcalc.profile(name, size, output_stride=output_stride).receptive_field
        extent, length = measured_extent(model, size, axis)
        measured.append("global" if extent == length and analysed.size[axis] < length else extent)
    analysed_text = f"{rf.size[0]}x{rf.size[1]}" + (" + gate" if rf.context == "gate" else "")
    want = ["global" if rf.context == "gate" else rf.size[axis] for axis in axes]
    return {
        "model": name,
        "os": output_stride,
        "analysed": analysed_text,
        "measured": "x".join(str(m) for m in measured),
        "agree": measured == want,
    }


def _named(text: str) -> tuple[str, int | None]:
    name, _, stride = text.partition("@")
    return name, int(stride) if stride else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", nargs="+", help="timm names, NAME@16 for an output stride (default: the list)"
    )
    parser.add_argument("--rows-only", action="store_true", help="measure the height axis only")
    args = parser.parse_args()
    models = [_named(m) for m in args.models] if args.models else list(MODELS)
    axes = (0,) if args.rows_only else (0, 1)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    print(f"torch {torch.__version__}, timm {timm.__version__}, archcalc {archcalc.__version__}")
    print(f"{'model':28s} {'os':>3s} {'analysed':>16s} {'measured':>16s} agree  seconds")
    failures = 0
    for name, output_stride in models:
        start = time.perf_counter()
        try:
            row = check(name, output_stride, axes)
        except Exception as e:  # noqa: BLE001 - a failing model is a row, not the end of the run
            row = {"model": name, "analysed": "error", "measured": str(e).splitlines()[0][:60]}
        failures += row.get("agree") is False
        print(
            f"{name:28s} {output_stride or '-':>3} {row['analysed']:>16s} "
            f"{row.get('measured', '-'):>16s} {row.get('agree', '-')!s:5s} "
            f"{time.perf_counter() - start:7.1f}",
            flush=True,
        )
    print(f"{len(models) - failures}/{len(models)} agree (bar: all)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
