"""The sizing rules: the k x k window (rules §3) and pipeline sizes (§4)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from archcalc.recommend.levels import find_level
from archcalc.recommend.rules import Backbone, field_lines, k_verdict, pipeline_for
from archcalc.results import Profile, ReceptiveField

COARSE = find_level("coarse")


@pytest.mark.parametrize(
    ("final_map", "large_expected", "layout", "status"),
    [
        ((1, 1), False, "nchw", "too-small"),
        ((2, 2), False, "nchw", "too-small"),  # 48 / 32 -> 2x2
        ((3, 3), False, "nchw", "good"),  # lower edge of the 3-9 window
        ((7, 7), False, "nchw", "good"),  # 224 / 32, the ImageNet norm
        ((9, 9), False, "nchw", "good"),  # upper edge
        ((10, 10), False, "nchw", "large"),  # 320 / 32
        ((14, 14), False, "nchw", "large"),  # 448 / 32 for a coarse task
        ((14, 14), True, "nchw", "expected-large"),  # 448 / 32, fine-grained: on purpose
        ((2, 7), False, "nchw", "too-small"),  # the short side decides
        ((14, 14), False, "tokens", "tokens"),  # ViT patch grid: the rule is for conv maps
        ((2, 2), False, "tokens", "too-small"),
    ],
)
def test_k_verdict(final_map, large_expected, layout, status) -> None:
    verdict = k_verdict(final_map, large_expected=large_expected, layout=layout)
    assert verdict.status == status
    assert "rules §3" in verdict.note


def test_k_verdict_names_the_imagenet_norm_only_at_7x7() -> None:
    assert "ImageNet norm" in k_verdict((7, 7)).note
    assert "ImageNet norm" not in k_verdict((5, 5)).note


@pytest.mark.parametrize(
    ("side", "crop_pct", "resize"),
    [
        (224, 0.875, 256),  # 224 / 0.875 = 256 exactly (the classic resize-256, crop-224)
        (448, 0.875, 512),
        (224, 0.95, 235),  # floor(235.79), as timm's eval transform computes it
        (48, 0.875, 54),  # floor(54.86)
        (224, 1.0, 224),  # crop_pct 1: no border cropped
    ],
)
def test_pipeline_sizes(side: int, crop_pct: float, resize: int) -> None:
    pipe = pipeline_for((side, side), Backbone("net", crop_pct=crop_pct), COARSE)
    assert pipe.eval_resize == pipe.train_resize == (resize, resize)
    assert pipe.eval_crop == pipe.train_crop == (side, side)


def test_backbone_from_cfg_falls_back_to_timm_defaults() -> None:
    info = Backbone.from_cfg("x", {})
    assert (info.crop_pct, info.mean, info.std) == (
        0.875,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
    )
    cfg = {"crop_pct": 0.95, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    assert Backbone.from_cfg("x", cfg).crop_pct == 0.95


def _profile_with_field(side: int, field: tuple[int, int] | None, context: str) -> Profile:
    import archcalc

    p = archcalc.profile("resnet18", side)
    return replace(p, receptive_field=ReceptiveField(field, (32, 32), context))


def test_field_lines() -> None:
    # 435 px at 48: 435 >= 2 x 48, so most of what a cell sees is padding; no warning
    warnings, reasons = field_lines(_profile_with_field(48, (435, 435), "local"), "r18 at 48")
    assert warnings == []
    assert reasons[0].endswith("sees 435 px of a 48 px input: most of it is padding")
    # 300 px at 224: between 224 and 448, a centre cell sees the whole image
    _, reasons = field_lines(_profile_with_field(224, (300, 300), "local"), "r18 at 224")
    assert reasons[0].endswith("a centre cell sees the whole image")
    # 150 px at 448: smaller than the input, a warning even with a gate
    warnings, _ = field_lines(_profile_with_field(448, (150, 150), "gate"), "v at 448")
    assert len(warnings) == 1 and "150 px, smaller than the 448 px input" in warnings[0]
    assert "gate" in warnings[0]
    _, reasons = field_lines(_profile_with_field(224, None, "global"), "vit")
    assert "whole input" in reasons[0]
