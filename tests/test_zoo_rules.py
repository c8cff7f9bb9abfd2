"""The size rules that leave no raw exception in the zoo: each on a hand-made module (where the
arithmetic is done by hand) and on one timm architecture at a size where it fires and one where
it does not; the refusal found by trying sizes; the defect at every size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archcalc.core.build import build
from archcalc.core.trace import profile_built
from archcalc.errors import ArchcalcError, InvalidResolutionError, TraceError
from archcalc.profiling.accepts import check_resolution
from archcalc.profiling.prepare import read_rules
from archcalc.sizes.probe import tried_sizes
from archcalc.sizes.validity import judge


def runs(module: nn.Module, side: int) -> bool:
    """One unchecked meta forward of ``module`` at ``side`` x ``side``."""
    try:
        profile_built(build(module, (side, side)), (side, side))
    except ArchcalcError:
        return False
    return True


class Joined(nn.Module):
    """A strided conv (3x3, pad 1: ceil(n/2)) and a 2x2 average pool (floor(n/2)) of the same
    map, added: they agree only on even sides (the DLA root / anti-aliased ResNet pattern)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.pool = nn.AvgPool2d(2, 2)
        self.widen = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.widen(self.pool(x))


def test_joined_branches_hand_made() -> None:
    rules = read_rules(Joined(), reference=(32, 32))
    # 33: the conv makes ceil(33/2) = 17, the pool floor(33/2) = 16
    odd = judge(rules, (33, 33))
    assert not odd.valid and not runs(Joined(), 33)
    assert "pool makes a 16 px map of a 33 px one" in (odd.reason or "")
    assert "has 17 px (it needs a multiple of 2 there)" in (odd.reason or "")
    assert odd.nearest_below == (32, 32) and odd.nearest_above == (34, 34)  # stride 2
    assert judge(rules, (34, 34)).valid and runs(Joined(), 34)


@pytest.mark.parametrize(("model", "side", "valid"), [("dla34", 48, False), ("dla34", 64, True)])
def test_joined_branches_dla(model: str, side: int, valid: bool) -> None:
    # dla34 at 48: level5 gets a 3 px map: its strided conv makes 2, its max pool 1
    v = check_resolution(model, side)
    assert v.valid is valid
    if not valid:
        assert "level5" in (v.reason or "") and "3 px" in (v.reason or "")
        assert (v.nearest_below, v.nearest_above) == ((32, 32), (64, 64))


class Stem(nn.Module):
    """A hybrid patch embedding: a stride-4 CNN stem, then whole 2x2 patches of its map."""

    def __init__(self, img_size: int) -> None:
        super().__init__()
        self.img_size, self.patch_size, self.feature_ratio = (img_size,) * 2, (2, 2), (4, 4)
        self.strict_img_size, self.dynamic_img_pad = True, False
        self.stem = nn.Conv2d(3, 8, 4, stride=4)
        self.proj = nn.Conv2d(8, 16, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stem(x))


class Hybrid(nn.Module):
    def __init__(self, img_size: int = 32) -> None:  # img_size: the fixed size is lifted
        super().__init__()
        self.patch_embed = Stem(img_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(x)


def test_hybrid_stem_hand_made() -> None:
    rules = read_rules(Hybrid(), reference=(32, 32))
    # whole 2-px patches of a 1/4 map: sides must be multiples of 2 x 4 = 8
    assert rules.step == (8, 8)
    v = judge(rules, (36, 36))
    assert not v.valid
    assert "multiples of 8 (patch_embed takes whole 2x2 patches of its 1/4 stem map)" in (
        v.reason or ""
    )
    assert judge(rules, (40, 40)).valid


@pytest.mark.parametrize(
    ("model", "side", "step"),
    [
        # hybrid ViT: ResNet stem at stride 4, 8 px patches of it: multiples of 32
        ("vit_tiny_r_s16_p8_224", 48, 32),
        # Twins: stage 4 takes whole 2x2 patches of the 1/16 map: multiples of 32
        ("twins_svt_small", 48, 32),
    ],
)
def test_whole_patches_real(model: str, side: int, step: int) -> None:
    refused = check_resolution(model, side)
    assert not refused.valid and f"multiples of {step}" in (refused.reason or "")
    assert check_resolution(model, 2 * step).valid


class SoftPool(nn.Module):
    """Gemma-4-style soft-token pooling: 4 px patches pooled in whole 2x2 cells."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_size, self.pooling_kernel_size, self.global_pool = (4, 4), 2, "soft"
        self.proj = nn.Conv2d(3, 8, 4, stride=4)
        self.pool = nn.AvgPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.proj(x))


def test_soft_pool_cells_hand_made() -> None:
    rules = read_rules(SoftPool(), reference=(32, 32))
    v = judge(rules, (36, 36))  # 36 px = 9 patches: not whole 2x2 cells of 4 px patches (8)
    assert not v.valid and "multiples of 8" in (v.reason or "")
    assert "pools whole 2x2 cells of 4x4 patches" in (v.reason or "")
    assert judge(rules, (40, 40)).valid


def test_soft_pool_cells_gemma4() -> None:
    pytest.importorskip("timm.models.gemma4_vit")
    # 16 px patches pooled 3x3: multiples of 48; 224 is not (the nearest are 192 and 240)
    v = check_resolution("gemma4_vit_167m_enc", 224)
    assert not v.valid and "multiples of 48" in (v.reason or "")
    assert (v.nearest_below, v.nearest_above) == ((192, 192), (240, 240))
    assert check_resolution("gemma4_vit_167m_enc", 240).valid


class Merger(nn.Module):
    merge_size = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # NHWC grid -> 2x2 tokens merged
        b, h, w, c = x.shape
        torch._assert(h % 2 == 0 and w % 2 == 0, "grid must be divisible by merge_size")
        return x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).flatten(3)


class Merging(nn.Module):
    """Qwen3-ViT-style: 4 px patches, then 2x2 neighbouring tokens merged into one."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 6, 4, stride=4)  # 6 channels: no side of the grid
        self.merger = Merger()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merger(self.proj(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def test_token_merger_hand_made() -> None:
    rules = read_rules(Merging(), reference=(32, 32))
    v = judge(rules, (36, 36))  # a 9x9 grid of 4 px patches: not whole 2x2 groups
    assert not v.valid and not runs(Merging(), 36)
    assert "multiples of 8 (merger merges whole 2x2 groups of a 1/4 map)" in (v.reason or "")
    assert judge(rules, (40, 40)).valid and runs(Merging(), 40)


@pytest.mark.slow
def test_token_merger_qwen3() -> None:
    pytest.importorskip("timm.models.qwen3_vit")
    # 16 px patches merged 2x2: multiples of 32; 48 px is a 3x3 grid
    v = check_resolution("qwen3_vit_88m_enc", 48)
    assert not v.valid and "multiples of 32" in (v.reason or "")
    assert check_resolution("qwen3_vit_88m_enc", 64).valid


class Needs(nn.Module):
    """Fails on a map smaller than ``least`` (as an attention bias built for one size does)."""

    def __init__(self, least: int) -> None:
        super().__init__()
        self.least = least

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.shape[-1] >= self.least, "map too small")
        return x


class Net(nn.Module):
    """A stride-8 stem and a block needing a map of at least ``least``: sides >= 8 x least."""

    def __init__(self, least: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 8, stride=8)
        self.block = Needs(least)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))


@pytest.mark.parametrize(
    ("least", "side", "below", "above"),
    [
        (4, 24, None, (32, 32)),  # 3 px map at 24; 32 px is one grid step (8) up
        (8, 24, None, (64, 64)),  # 32, 40, 48 fail: bisected between 24 and 64 (the reference)
        (2, 8, None, (16, 16)),  # nothing below a 1 px map
    ],
)
def test_sizes_tried_hand_made(
    least: int, side: int, below: tuple[int, int] | None, above: tuple[int, int]
) -> None:
    net = Net(least)
    rules = read_rules(net, reference=(64, 64))
    assert judge(rules, (side, side)).valid  # no rule read explains the failure
    with pytest.raises(TraceError) as failure:
        profile_built(build(net, (side, side)), (side, side))
    refusal = tried_sizes(net, rules, (side, side), failure.value)
    assert isinstance(refusal, InvalidResolutionError) and refusal.__cause__ is failure.value
    map_side = side // 8
    found = failure.value.diagnosis  # the tracer's, as fields: read, never parsed
    assert found is not None and (found.module, found.module_type) == ("block", "Needs")
    assert found.input_shape == (1, 8, map_side, map_side)
    assert f"block (Needs) fails on its 1x8x{map_side}x{map_side} input" in str(refusal)
    assert refusal.nearest == tuple(p for p in (below, above) if p)
    hint = ", ".join(f"{p[0]}x{p[1]}" for p in (below, above) if p)
    assert str(refusal).endswith(f"nearest valid (tried): {hint}")
    assert runs(net, above[0]) and not runs(net, above[0] - 8)


@pytest.mark.slow
def test_sizes_tried_efficientformer() -> None:
    import archcalc

    # EfficientFormer's last-stage attention bias is built for a 7x7 map: only 224 px gives it
    with pytest.raises(InvalidResolutionError, match=r"stages\.3.*nearest valid \(tried\): 224x"):
        archcalc.profile("efficientformer_l1", 448)
    assert archcalc.profile("efficientformer_l1", 224).final_map == (7, 7)


def test_failing_at_the_default_size_too_is_a_defect(monkeypatch: pytest.MonkeyPatch) -> None:
    from archcalc.errors import ArchitectureDefectError
    from archcalc.profiling import prepare

    def broken(model: str, **_: object) -> None:
        raise TraceError(
            f"{model} fails at 224x224: RuntimeError: boom", cause="RuntimeError: boom"
        )

    monkeypatch.setattr(prepare, "read_rules", broken)
    first = TraceError("resnet18 fails at 48x48: RuntimeError: boom")
    with pytest.raises(ArchitectureDefectError) as defect:
        prepare.rules_after("resnet18", (48, 48), first, in_chans=3, output_stride=None)
    assert str(defect.value) == (
        "resnet18 fails at every size tried (48x48, 224x224): RuntimeError: boom"
    )
    assert defect.value.cause == "RuntimeError: boom"  # the failure's field, not its text


class OwnTensors(nn.Module):
    """Makes a tensor of its own in forward without a device (as ConViT and SAM-ViT do)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + torch.arange(x.shape[-1], dtype=x.dtype)


def test_a_forward_making_cpu_tensors_is_traced_on_meta() -> None:
    # the arange lands on the CPU unless meta is the default device while tracing
    with pytest.raises(RuntimeError):
        OwnTensors()(torch.empty(1, 3, 8, 8, device="meta"))
    traced = profile_built(build(OwnTensors(), (8, 8)), (8, 8))
    assert traced.final_map == (8, 8)
