"""Receptive fields: the per-axis rules, whole networks by hand arithmetic, and contexts.

Every expected number is derived in the comments (the textbook recurrence: a layer of kernel
k, stride s, dilation d at input spacing j adds (k - 1) * d * j pixels and multiplies the
spacing by s; Araujo et al., "Computing receptive fields of convolutional neural networks",
Distill 2019).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import archcalc
from archcalc.core.receptive import axis as receptive
from archcalc.core.receptive.axis import IDENTITY
from archcalc.formatting import field_text
from archcalc.results import Profile, ReceptiveField


@pytest.mark.parametrize(
    ("layers", "size", "jump"),
    [
        ([(3, 1, 1, 1)], 3, 1),  # one 3x3: 1 + 2 = 3
        ([(3, 1, 1, 1), (3, 1, 1, 1)], 5, 1),  # 1 + 2 + 2
        ([(3, 2, 1, 1), (3, 1, 1, 1)], 7, 2),  # 1 + 2 (j 1 -> 2) + 2 * 2
        ([(3, 1, 2, 2)], 5, 1),  # dilation 2: 1 + 2 * 2
        ([(7, 2, 3, 1), (3, 2, 1, 1)], 11, 4),  # resnet stem: 1 + 6 = 7 (j 2), + 2 * 2 = 11 (j 4)
        ([(2, 2, 0, 1), (2, 2, 0, 1)], 4, 4),  # two 2x2/2 pools: 1 + 1 + 1 * 2
    ],
)
def test_index_map_recurrence(
    layers: list[tuple[int, int, int, int]], size: int, jump: int
) -> None:
    axis = IDENTITY
    for kernel, stride, padding, dilation in layers:
        axis = receptive.index_map(axis, stride, -padding, (kernel - 1) * dilation)
    assert (axis.size, axis.jump) == (size, jump)


def test_padding_moves_the_field_not_its_size() -> None:
    # 3x3, padding 1: cell 0 reads pixels -1..1; valid (padding 0): pixels 0..2
    same = receptive.index_map(IDENTITY, 1, -1, 2)
    valid = receptive.index_map(IDENTITY, 1, 0, 2)
    assert (same.first(0), same.last(0), valid.first(0), valid.last(0)) == (-1, 1, 0, 2)


def test_windows_and_shifted_windows() -> None:
    # Swin: 7-cell windows, then windows shifted by 3. A shifted window 7m+3..7m+9 spans the
    # plain windows 7m..7m+6 and 7m+7..7m+13: 14 cells.
    plain = receptive.window(IDENTITY, 7)
    assert plain.size == 7
    assert receptive.window(plain, 7, offset=3).size == 14
    # HaloNet: 8-cell blocks with a 3-cell halo: 3 + 8 + 3 = 14
    assert receptive.window(IDENTITY, 8, halo=3).size == 14


def test_nearest_upsampling_then_3x3() -> None:
    # x2 nearest: cell o reads floor(o / 2); a 3x3 after it reads o-1..o+1, whose halves span
    # two source cells for every o (even o: o/2 - 1, o/2; odd: (o-1)/2, (o+1)/2): 2 pixels.
    up = receptive.upsample(IDENTITY, 2, "nearest")
    assert receptive.index_map(up, 1, -1, 2).size == 2


def test_union_of_offset_paths() -> None:
    # 3x3/2 padding 1 (pixels 2o-1..2o+1) beside 2x2/2 avg-pool (2o..2o+1): union 2o-1..2o+1
    conv = receptive.index_map(IDENTITY, 2, -1, 2)
    pool = receptive.index_map(IDENTITY, 2, 0, 1)
    both = receptive.union(conv, pool)
    assert both is not None and (both.size, both.first(5), both.last(5)) == (3, 9, 11)
    assert receptive.union(conv, IDENTITY) is None  # spacing 2 vs 1: no cell-by-cell union


@pytest.mark.parametrize(
    ("model", "stages"),
    [
        # resnet18: stem 7x7/2 -> 7 (j 2); max-pool 3x3/2 -> 11 (j 4); layer1 4 x 3x3 at j 4
        # -> 11 + 32 = 43; layer2 3x3/2 at j 4 -> 51 (j 8) + 3 x 16 = 99; layer3 99 + 16 = 115
        # (j 16) + 3 x 32 = 211; layer4 211 + 32 = 243 (j 32) + 3 x 64 = 435
        ("resnet18", [7, 43, 99, 211, 435]),
        # resnet50 (timm: the stride on the 3x3): 11 after the stem; layer1 3 x 3x3 at j 4 -> 35;
        # layer2 35 + 8 = 43 (j 8) + 3 x 16 = 91; layer3 91 + 16 = 107 (j 16) + 5 x 32 = 267;
        # layer4 267 + 32 = 299 (j 32) + 2 x 64 = 427
        ("resnet50", [7, 35, 91, 267, 427]),
        # vgg16 features: 2 x 3x3 -> 5; pool 2/2 -> 6 (j 2); 2 x 3x3 -> 14; pool -> 16 (j 4);
        # 3 x 3x3 -> 40; pool -> 44 (j 8); 3 x 3x3 -> 92; pool -> 100 (j 16); 3 x 3x3 -> 196;
        # pool -> 212 (j 32)
        ("vgg16", [5, 14, 40, 92, 196, 212]),
    ],
)
def test_published_networks_by_hand(model: str, stages: list[int]) -> None:
    p = archcalc.profile(model, 224)
    fields = [s.receptive_field for s in p.stages if s.receptive_field is not None]
    assert [f.size[0] for f in fields if f.size] == stages
    assert p.receptive_field == ReceptiveField((stages[-1], stages[-1]), (32, 32), "local")


class Branched(nn.Module):
    """Two branches concatenated, a dilated conv, a max-pool (derivation in the test)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 5, stride=2, padding=2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.c = nn.Conv2d(8, 4, 3, padding=2, dilation=2)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.up(self.b(x))], dim=1)
        return self.pool(self.c(y))


def test_branched_toy_by_hand() -> None:
    # Along one axis, cell o of the concatenation sees:
    #   branch a (3x3): o-1..o+1; branch b (5x5/2 pad 2): cell m sees 2m-2..2m+2, and the x2
    #   upsampling reads m = floor(o/2): even o: o-2..o+2, odd o: o-3..o+1.
    #   union: even o: o-2..o+2, odd o: o-3..o+1 (5 pixels each).
    # c (3x3, dilation 2, pad 2) reads o-2, o, o+2 (same parity): even o-4..o+4, odd o-5..o+3.
    # pool 2x2/2 reads 2p (even: 2p-4..2p+4) and 2p+1 (odd: 2p-4..2p+4): 9 pixels, spacing 2.
    # (The textbook recurrence, blind to the parity, would say 5 + 4 + 1 = 10.)
    p = archcalc.profile(Branched(), 64)
    assert p.receptive_field == ReceptiveField((9, 9), (2, 2), "local")
    # the same on real tensors: the gradient support of one output cell
    model = Branched().double()
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64, requires_grad=True)
    model(x)[0, :, 16, 16].sum().backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    assert (int(rows.min()), int(rows.max())) == (2 * 16 - 4, 2 * 16 + 4)


class Excite(nn.Module):
    """Squeeze-and-excitation: the map scaled by a gate computed from its global mean."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Conv2d(8, 8, 1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True)))


class Gated(nn.Module):
    """A 3x3 conv, then a squeeze-and-excitation gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.se = Excite()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))


class TokenMixer(nn.Module):
    """A 4x4 patch embedding, then a linear layer across the tokens (an MLP-Mixer step)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 4, stride=4)
        self.mix = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x).flatten(2)  # (B, 8, 64 tokens)
        return self.mix(t).view(x.shape[0], 8, 8, 8)


class Flip(nn.Module):
    """Mirror the map left to right: an operation archcalc does not analyse."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flip(x, dims=(3,))


class Flipped(nn.Sequential):
    """A 3x3 conv, then a flip."""

    def __init__(self) -> None:
        super().__init__(nn.Conv2d(3, 8, 3, padding=1), Flip())


def test_contexts() -> None:
    gated = archcalc.profile(Gated(), 32).receptive_field
    assert gated == ReceptiveField((3, 3), (1, 1), "gate")  # the conv path: 3; pooled gate
    mixed = archcalc.profile(TokenMixer(), 32).receptive_field
    assert mixed is not None and (mixed.size, mixed.context) == (None, "global")
    flipped = archcalc.profile(Flipped(), 32).receptive_field
    assert flipped is not None and flipped.context == "unknown" and "flip" in str(flipped.reason)


def test_global_attention_and_windows() -> None:
    vit = archcalc.profile("vit_tiny_patch16_224", 224).receptive_field
    assert vit is not None and vit.context == "global"
    # swin at 448: patches 4 px; stage 1 (112x112, windows of 7 then shifted by 3): 14 cells
    # (see test_windows_and_shifted_windows) x 4 px = 56 px
    swin = archcalc.profile("swin_tiny_patch4_window7_224", 448)
    assert swin.stages[0].receptive_field == ReceptiveField((56, 56), (4, 4), "local")


def test_json_round_trip_and_version_1() -> None:
    p = archcalc.profile("resnet18", 48)
    data = json.loads(json.dumps(p.to_dict()))
    assert data["schema_version"] == 3
    assert data["receptive_field"] == {
        "size": [435, 435], "stride": [32, 32], "context": "local", "reason": None
    }  # fmt: skip
    assert data["stages"][-2]["receptive_field"]["size"] == [435, 435]
    assert Profile.from_dict(data) == p
    old = {k: v for k, v in data.items() if k != "receptive_field"}
    old["stages"] = [{k: v for k, v in s.items() if k != "receptive_field"} for s in old["stages"]]
    loaded = Profile.from_dict({**old, "schema_version": 1})
    assert loaded.receptive_field is None and loaded.stages[0].receptive_field is None


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (ReceptiveField((435, 435), (32, 32), "local"), "435"),
        (ReceptiveField((427, 300), (32, 32), "gate"), "427x300 + gate"),
        (ReceptiveField(None, None, "global"), "global"),
        (ReceptiveField(None, None, "unknown", "flip is not analysed"), "unknown"),
        (None, "-"),
    ],
)
def test_field_text(field: ReceptiveField | None, text: str) -> None:
    assert field_text(field) == text
