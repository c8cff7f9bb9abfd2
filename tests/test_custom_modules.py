"""profile() on user nn.Modules: dict/tuple/list outputs, NHWC, tokens, non-square, in_chans."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archcalc
from archcalc.errors import TraceError


def down(cin: int, cout: int) -> nn.Sequential:
    """A 3x3 stride-2 "same" conv: a side n becomes ceil(n / 2)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.ReLU())


class Pyramid(nn.Module):
    """Three stride-2 stages; returns the stride-4 and stride-8 maps (a feature pyramid)."""

    def __init__(self, in_chans: int = 3, out: str = "dict") -> None:
        super().__init__()
        self.a, self.b, self.c = down(in_chans, 8), down(8, 16), down(16, 32)
        self.out = out

    def forward(self, x: torch.Tensor) -> object:
        b = self.b(self.a(x))
        c = self.c(b)
        return {"dict": {"p4": b, "p8": c}, "tuple": (b, c), "list": [b, c]}[self.out]


class ToNHWC(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class Tokens(nn.Module):
    """A 16-px patch embedding plus a class token: (B, 1 + h * w, C) output."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 32, 16, 16)
        self.cls = nn.Parameter(torch.zeros(1, 1, 32))
        self.mlp = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.proj(x).flatten(2).transpose(1, 2)
        return self.mlp(torch.cat([self.cls.expand(len(t), -1, -1), t], 1))


class Flat(nn.Module):
    """A Linear layer on the flattened map: only runs at the size it was written for (224)."""

    def __init__(self) -> None:
        super().__init__()
        self.f = down(3, 8)
        self.fc = nn.Linear(8 * 112 * 112, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.f(x).flatten(1))


@pytest.mark.parametrize("out", ["dict", "tuple", "list"])
@pytest.mark.parametrize(
    ("res", "k"),
    # three ceil-halvings: 224 -> 28; 320 x 192 -> 40 x 24; 225 x 97 -> 29 x 13
    [((224, 224), (28, 28)), ((320, 192), (40, 24)), ((225, 97), (29, 13))],
)
def test_container_outputs_use_the_deepest_map(out: str, res: tuple[int, int], k: tuple) -> None:
    p = archcalc.profile(Pyramid(out=out), res)
    assert p.final_map == k and p.global_stride == (8, 8) and p.final_channels == 32
    assert [s.stride for s in p.stages if s.stride] == [(2, 2), (4, 4), (8, 8)]


def test_nhwc_output_module() -> None:
    model = nn.Sequential(down(3, 8), down(8, 16), ToNHWC())
    p = archcalc.profile(model, (128, 96))
    assert p.final_map == (32, 24) and p.final_channels == 16


def test_token_output_non_square() -> None:
    p = archcalc.profile(Tokens(), (224, 160))
    # 224 / 16 = 14, 160 / 16 = 10 patches, plus one class token
    assert p.final_layout == "tokens" and p.final_map == (14, 10) and p.prefix_tokens == 1


@pytest.mark.parametrize("in_chans", [1, 4, 12])
def test_in_chans_other_than_three(in_chans: int) -> None:
    p = archcalc.profile(Pyramid(in_chans), 64, in_chans=in_chans)
    # first conv: 3 x 3 x in_chans x 8 weights + 8 biases
    assert p.final_map == (8, 8)
    assert p.params == (9 * in_chans * 8 + 8) + (9 * 8 * 16 + 16) + (9 * 16 * 32 + 32)


def test_channel_mismatch_says_which_layer_and_the_fix() -> None:
    with pytest.raises(
        TraceError, match=r"in a\.0 \(Conv2d.*expects 3 input channels but gets 1"
    ) as e:
        archcalc.profile(Pyramid(3), 64, in_chans=1)
    # the same as fields: the layer, its class, its input (batch 1, 1 channel, 64 x 64), the fix
    found = e.value.diagnosis
    assert found is not None and found.error.startswith("RuntimeError: ")
    assert (found.module, found.module_type, found.input_shape) == ("a.0", "Conv2d", (1, 1, 64, 64))
    assert found.hint.startswith("it expects 3 input channels but gets 1 (in_chans=1)")
    assert e.value.cause == str(found) and str(e.value) == f"Pyramid fails at 64x64: {found}"


def test_linear_sized_for_one_resolution_says_so() -> None:
    assert archcalc.profile(Flat(), 224).final_map == (112, 112)
    with pytest.raises(TraceError, match=r"in fc \(Linear.*expects 100352 features but gets"):
        archcalc.profile(Flat(), 256)


def test_output_without_a_map_says_why() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    with pytest.raises(TraceError, match="reads as a feature map") as e:
        archcalc.profile(model, 8)
    assert e.value.cause.startswith("no output of ") and e.value.diagnosis is None


def test_module_is_left_as_it_was() -> None:
    model = Pyramid()
    model.train()
    hooks = len(model.a[0]._forward_hooks)
    archcalc.profile(model, 32)
    assert model.training and len(model.a[0]._forward_hooks) == hooks
