"""check_resolution / size_range: rules read off the modules, checked against real meta forwards."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archcalc
from archcalc.core.build import build
from archcalc.core.trace import profile_built
from archcalc.errors import ArchcalcError, InvalidArgumentError, InvalidResolutionError
from archcalc.profiling.accepts import check_resolution, size_range
from archcalc.profiling.prepare import read_rules
from archcalc.sizes.constraints import Rules
from archcalc.sizes.validity import judge


def forward_map(model: str, res: tuple[int, int]) -> tuple[int, int] | None:
    """The final map of one unchecked meta forward, or None when timm's forward fails."""
    try:
        built = build(model, res)
        return profile_built(built, res).final_map
    except ArchcalcError:
        return None


@pytest.mark.parametrize(
    ("model", "side", "valid"),
    [
        # convnext: stem 4x4/4, three 2x2/2 downsamples: 32->8->4->2->1; 31->7->3->1->0
        ("convnext_atto", 32, True),
        ("convnext_atto", 31, False),
        # Keras documents InceptionV3's smallest input as 75 px (unpadded 3x3 convs and pools)
        ("inception_v3", 75, True),
        ("inception_v3", 74, False),
        # a 16-px patch needs 16 px; built with img_size, any larger side runs (floor)
        ("vit_tiny_patch16_224", 16, True),
        ("vit_tiny_patch16_224", 15, False),
        ("vit_tiny_patch16_224", 300, True),
        # "same"-padded convs: a 1 px input stays 1 px through every stride
        ("resnet18", 1, True),
        # HRNet adds a branch upsampled x8 to the stride-4 one: 48 -> 12 vs ceil(48/32)=2 -> 16
        ("hrnet_w18_small", 48, False),
        ("hrnet_w18_small", 64, True),
        # HaloAttn needs whole 8-cell blocks at stride 16 (a probe forward shows it refuses)
        ("eca_halonext26ts", 224, False),
        ("eca_halonext26ts", 256, True),
    ],
)
@pytest.mark.slow
def test_validity_matches_a_real_forward(model: str, side: int, valid: bool) -> None:
    v = check_resolution(model, side)
    assert v.valid is valid
    assert (forward_map(model, (side, side)) is not None) is valid
    if not valid:
        assert v.reason and "\n" not in v.reason and model in v.reason


@pytest.mark.parametrize(
    ("model", "min_size"),
    [("convnext_atto", 32), ("inception_v3", 75), ("vit_tiny_patch16_224", 16)],
)
@pytest.mark.slow
def test_min_size_is_the_smallest_side_that_runs(model: str, min_size: int) -> None:
    v = check_resolution(model, 224)
    assert v.min_size == (min_size, min_size)
    assert forward_map(model, (min_size, min_size)) is not None
    assert forward_map(model, (min_size - 1, min_size - 1)) is None


def test_invalid_size_gives_reason_and_nearest_valid_sizes() -> None:
    v = check_resolution("convnext_atto", 24)
    assert not v.valid
    assert v.nearest_below is None and v.nearest_above == (32, 32)
    assert "vanishes" in (v.reason or "") and "32x32" in (v.reason or "")
    with pytest.raises(InvalidResolutionError, match="nearest valid: 32x32"):
        archcalc.profile("convnext_atto", 24)


def test_non_square_checks_each_axis() -> None:
    v = check_resolution("convnext_atto", (64, 24))
    assert not v.valid and v.nearest_above == (64, 32)
    assert forward_map("convnext_atto", (64, 24)) is None
    assert forward_map("convnext_atto", (64, 32)) == (2, 1)


def test_fixed_size_is_lifted_with_img_size() -> None:
    v = check_resolution("vit_tiny_patch16_224", 300)
    assert v.valid and not v.aligned
    assert v.build_kwargs == {"img_size": (300, 300)}
    assert any("instead of refusing" in n for n in v.notes)
    fixed = [c for c in v.constraints if c.kind == "fixed_size"]
    assert fixed and fixed[0].lift == "img_size|dynamic_img_size" and not fixed[0].hard
    # 300 // 16 = 18 patches per side (the conv drops the last 12 px)
    assert v.final_map == (18, 18) == archcalc.profile("vit_tiny_patch16_224", 300).final_map
    assert (v.nearest_below, v.nearest_above) == ((288, 288), (304, 304))


def test_swin_windows_are_soft_and_suggest_window_size() -> None:
    v = check_resolution("swin_tiny_patch4_window7_224", 256)
    # timm pads windows: 256 runs, but stage maps 64/32/16/8 are not whole 7-cell windows
    assert v.valid and not v.aligned
    assert (v.nearest_below, v.nearest_above) == ((224, 224), (448, 448))
    assert any("window_size=8" in n for n in v.notes)  # gcd(64, 32, 16, 8)
    assert forward_map("swin_tiny_patch4_window7_224", (256, 256)) == (8, 8)


@pytest.mark.slow
def test_sizes_swin_tiny_checked_against_forwards() -> None:
    found = size_range("swin_tiny_patch4_window7_224", 32, 1024)
    # aligned = multiples of window 7 x patch 4 x downsampling 8 = 224
    assert [(s, k) for s, k, _ in found.sizes] == [(224, 7), (448, 14), (672, 21), (896, 28)]
    for side, k, _ in found.sizes:
        assert forward_map("swin_tiny_patch4_window7_224", (side, side)) == (k, k)


@pytest.mark.slow
def test_sizes_vit_base_checked_against_forwards() -> None:
    found = size_range("vit_base_patch16_224", 32, 1024)
    # multiples of the 16-px patch, k = side / 16
    assert [(s, k) for s, k, _ in found.sizes] == [(16 * k, k) for k in range(2, 65)]
    for side, k, _ in found.sizes[::9] + found.sizes[-1:]:
        assert forward_map("vit_base_patch16_224", (side, side)) == (k, k)


def test_sizes_all_lists_unaligned_sides_too() -> None:
    found = size_range("convnext_atto", 28, 40, aligned=False)
    assert [s for s, _, _ in found.sizes] == list(range(32, 41))
    assert [a for s, _, a in found.sizes if s in (32, 33)] == [True, False]


@pytest.mark.parametrize(("low", "high"), [(0, 10), (64, 32), (32, 100000)])
def test_size_range_rejects_bad_bounds(low: int, high: int) -> None:
    with pytest.raises(InvalidArgumentError):
        size_range("resnet18", low, high)


def test_validity_json_keys() -> None:
    d = check_resolution("convnext_atto", 24).to_dict()
    assert set(d) >= {"valid", "reason", "nearest_below", "nearest_above", "constraints"}
    assert {c["kind"] for c in d["constraints"]} == {"stride", "min_size"}


@pytest.fixture(scope="module")
def convnext_rules() -> Rules:
    return read_rules("convnext_atto")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(side=st.integers(1, 96), width=st.integers(1, 96))
@pytest.mark.slow
def test_judged_validity_matches_meta_forward(convnext_rules: Rules, side: int, width: int) -> None:
    """Property: the arithmetic verdict equals what a real meta forward does."""
    v = judge(convnext_rules, (side, width))
    got = forward_map("convnext_atto", (side, width))
    assert v.valid is (got is not None)
    if got is not None:
        assert v.final_map == got


@pytest.mark.slow
def test_model_that_resizes_its_input_runs_as_built() -> None:
    # CrossViT interpolates any input to its own 240 x 240 (timm's crossvit.scale_image), while
    # building it for 224 trips timm's patch count (224 // 12 * 224 // 12 = 336, not 18 * 18)
    v = check_resolution("crossvit_tiny_240", 224)
    assert v.valid and v.build_kwargs == {"img_size": (240, 240)}
    assert v.final_map == (20, 20) == archcalc.profile("crossvit_tiny_240", 224).final_map


def test_validity_prints_its_row_and_reason() -> None:
    v = check_resolution("resnet18", 230)
    # 230 runs (k = ceil(230 / 32) = 8) but is not a multiple of 32: 224 and 256 are
    assert str(v).splitlines()[2].split() == [
        "resnet18", "230x230", "yes", "no", "8x8", "32", "224x224", "256x256",
    ]  # fmt: skip
    assert "aligned: 224x224 or 256x256" in str(v)
    assert repr(v) == (
        "Validity(model='resnet18', resolution=(230, 230), valid=True, aligned=False, "
        "final_map=(8, 8))"
    )
