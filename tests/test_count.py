"""MAC conventions by hand: torch's formulas (core) plus fvcore's norm/pool/upsample terms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archcalc


class _Attention(nn.Module):
    """One scaled-dot-product attention call on a 4x4 map read as 16 tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.flatten(2).transpose(1, 2).reshape(1, 16, 2, 4).transpose(1, 2)  # (1, 2, 16, 4)
        out = F.scaled_dot_product_attention(q, q, q)
        return out.transpose(1, 2).reshape(1, 16, 8).transpose(1, 2).reshape(1, 8, 4, 4)


class _Upsample(nn.Module):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode=self.mode)


# Every net sees a 1x8x4x4 input: 128 elements.
CASES = [
    # net, core MACs, fvcore MACs, where the numbers come from
    (nn.Conv2d(8, 4, 3, padding=1), 4608, 4608, "out 4x4x4 = 64 outputs, 8*3*3 MACs each"),
    (nn.BatchNorm2d(8), 0, 2 * 128, "eval BN with affine: 2 per element"),
    (nn.BatchNorm2d(8, affine=False), 0, 128, "eval BN without affine: 1 per element"),
    (nn.GroupNorm(2, 8), 0, 5 * 128, "group norm with affine: 5 per element"),
    (nn.LayerNorm(4, elementwise_affine=False), 0, 4 * 128, "layer norm without affine: 4"),
    (nn.InstanceNorm2d(8, affine=True), 0, 5 * 128, "instance norm with affine: 5"),
    (
        nn.Sequential(nn.Identity(), nn.AdaptiveAvgPool2d(1)),
        0,
        128,
        "adaptive average pool: 1 per input element",
    ),
    (_Upsample("nearest"), 0, 512, "nearest upsampling: 1 per output element (8x8x8)"),
    (_Upsample("bilinear"), 0, 4 * 512, "bilinear upsampling: 4 per output element"),
    (nn.ReLU(), 0, 0, "element-wise work is never counted"),
    (_Attention(), 2 * (2 * 16 * 16 * 4), 2 * (2 * 16 * 16 * 4), "QK^T and AV: 2 heads"),
]


@pytest.mark.parametrize(("net", "core", "fvcore", "why"), CASES)
def test_conventions_by_hand(net: nn.Module, core: int, fvcore: int, why: str) -> None:
    model = nn.Sequential(net)
    assert archcalc.profile(model, 4, in_chans=8).macs == core, why
    assert archcalc.profile(model, 4, in_chans=8, convention="fvcore").macs == fvcore, why


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_attention_counted_on_every_device(device: str) -> None:
    # On CPU tensors SDPA runs a fused kernel that torch's flop registry does not list.
    model = nn.Sequential(_Attention())
    assert archcalc.profile(model, 4, in_chans=8, device=device).macs == 2 * 2 * 16 * 16 * 4


def test_convention_does_not_change_params_or_map() -> None:
    core = archcalc.profile("resnet18", 64)
    fvcore = archcalc.profile("resnet18", 64, convention="fvcore")
    assert (core.params, core.final_map) == (fvcore.params, fvcore.final_map)
    # resnet18 BN layers in eval: 2 per element of every BN input, plus the global pool
    assert fvcore.macs > core.macs


def test_counting_restores_grad_mode_and_training_flags() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout())
    model.train()
    model[1].eval()
    archcalc.profile(model, 8, device="cpu")
    assert model.training and not model[1].training
    assert torch.is_grad_enabled()
