"""Scaling curves against arithmetic: CNN MACs grow as r^2, a ViT's global attention as N^2.

The law fitted is MACs ~ a*r^2 + b*r^4 (``archcalc.growth``); its r^4 share is the part of
the cost that global attention adds, and the local exponent is log(cost ratio) / log(side
ratio) between neighbouring sizes.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

import archcalc
from archcalc.growth import fit_growth, local_exponents
from archcalc.timing.scale import pick_sides


def test_fit_recovers_exact_coefficients() -> None:
    # 3 r^2 + 2e-6 r^4 at four sides: the least-squares solution is exact.
    sides = [100, 200, 400, 800]
    law = fit_growth(sides, [3 * r**2 + 2e-6 * r**4 for r in sides])
    assert law.quadratic == pytest.approx(3)
    assert law.quartic == pytest.approx(2e-6)
    # at r = 800: 2e-6 * 800^4 = 819_200 of 3 * 800^2 + 819_200 = 2_739_200
    assert law.quartic_share(800) == pytest.approx(819_200 / 2_739_200)
    assert law.max_residual == pytest.approx(0, abs=1e-9)


def test_fit_never_gives_a_negative_term() -> None:
    # Slightly sub-quadratic data (a fixed head cost would do this) must not read as
    # "negative attention": the r^4 term is pinned at 0 and r^2 refitted.
    sides = [100, 200, 400]
    law = fit_growth(sides, [r**2 - 1e-9 * r**4 for r in sides])
    assert law.quartic == 0 and law.quadratic > 0 and law.quadratic_only


def test_local_exponents_by_hand() -> None:
    # 4x the cost for 2x the side: exponent 2; 16x for 2x: 4; a missing value: None
    assert local_exponents([1, 2, 4, 8], [1, 4, 64, None]) == [None, 2.0, 4.0, None]


def test_sides_snap_to_valid_ones() -> None:
    # multiples of 32 from 96 to 896; targets 96 * (896/96)^(i/4) = 96, 168, 293, 513, 896;
    # 224 takes the place of 293 (log distance 0.27 < 0.29 to 168), 448 that of 513
    valid = range(96, 897, 32)
    assert pick_sides(valid, 96, 896, 5) == [96, 160, 224, 448, 896]
    assert pick_sides([224, 448], 96, 896, 10) == [224, 448]  # fewer valid sizes than steps
    assert pick_sides([], 96, 896, 3) == []


def test_default_ladder_holds_224_and_448() -> None:
    # the default ladder: 10 log steps from 96 to 896 (96, 123, 157, 201, 258, 330, 422, 540,
    # 692, 896) skips both; 224 replaces 201 and 448 replaces 422, the ends stay
    valid = range(32, 1025, 32)
    sides = pick_sides(valid, 96, 896, 10)
    assert sides == [96, 128, 160, 224, 256, 320, 448, 544, 704, 896]
    assert 448 not in pick_sides(valid, 96, 400, 10)  # out of range: not forced in
    assert pick_sides(valid, 200, 500, 2) == [224, 448]  # two steps: the anchors take them
    assert pick_sides(valid, 96, 896, 1) == [224, 448]  # one step taken by 224, 448 added


def test_resnet50_grows_quadratically() -> None:
    s = archcalc.scale("resnet50", 96, 896, steps=4)
    # 96 * (896/96)^(i/3) = 96, 202, 425, 896: 224 and 448 take the two middle steps
    assert s.sides == [96, 224, 448, 896]
    # convolutions: every layer's work is proportional to its map's area (r/stride)^2; the
    # classifier's 2048 x 1000 MACs are the only fixed cost (0.3 % of 0.75 G at 96)
    assert s.exponent == pytest.approx(2.00, abs=0.02)
    assert all(e == pytest.approx(2.00, abs=0.02) for e in [p.exponent for p in s.points[1:]])
    assert s.law.quadratic_only
    assert [p.final_map for p in s.points] == [(3, 3), (7, 7), (14, 14), (28, 28)]
    # a training step is 3 forwards less conv1's input gradient, at every size
    for p in s.points:
        conv1 = (p.side // 2) ** 2 * 64 * 7 * 7 * 3
        assert p.train_macs == 3 * p.macs - conv1


def _vit_hand(side: int) -> tuple[int, int]:
    """vit_base_patch16 at ``side``: (total MACs, attention MACs), by hand.

    p = (side/16)^2 patches, N = p + 1 tokens, D = 768, 12 blocks. Per block: qkv 3ND^2,
    projection ND^2, MLP 8ND^2 (hidden 4D), attention QK^T and AV 2N^2D. Patch embedding
    p x D x (3*16*16 = 768); head D x 1000 on the class token.
    """
    d, p = 768, (side // 16) ** 2
    n = p + 1
    attention = 12 * 2 * n * n * d
    return 12 * 12 * n * d * d + attention + p * d * 768 + d * 1000, attention


@pytest.mark.slow
def test_vit_attention_share_matches_hand_arithmetic() -> None:
    import timm

    with torch.device("meta"):
        vit = timm.create_model("vit_base_patch16_224", dynamic_img_size=True, pretrained=False)
    s = archcalc.scale(vit, 96, 896, steps=8)
    # multiples of the patch, 16, near 96, 132, 181, 249, 343, 471, 648, 896 (224 and 448 in
    # place of 249 and 471)
    assert s.sides == [96, 128, 176, 224, 352, 448, 656, 896]
    for side in (224, 896):
        total, attention = _vit_hand(side)
        # hand: 4.07 % at 224 (N = 197), 40.3 % at 896 (N = 3137)
        assert s.law.quartic_share(side) == pytest.approx(attention / total, rel=0.01)
    for point in s.points:
        assert point.macs == pytest.approx(_vit_hand(point.side)[0], rel=1e-5)
    assert not s.law.quadratic_only
    # the exponent climbs from about 2 towards 4 as attention takes over (just under 2 at
    # first: the class token and the head are fixed costs)
    exponents = [p.exponent for p in s.points[1:]]
    assert exponents == sorted(exponents) and 1.9 < exponents[0] < 2.2 < 2.5 < exponents[-1]


@pytest.mark.slow
def test_swin_stays_quadratic_at_its_valid_sizes() -> None:
    # swin_tiny (patch 4, window 7, stride 32): windows fit without padding when every
    # stage's map is a multiple of 7, so side = 32 * 7 * m: 224, 448, 672, 896. Attention
    # is computed inside 7x7 windows: per window 2 * 49^2 * C MACs, and the number of
    # windows is (map / 7)^2, proportional to r^2 like every linear layer. So the fit
    # finds no r^4 part and every exponent is 2 (up to the fixed 768 x 1000 head).
    s = archcalc.scale("swin_tiny_patch4_window7_224", 96, 896)
    assert s.sides == [224, 448, 672, 896]
    assert s.law.quartic_share(896) < 0.001
    assert all(p.exponent == pytest.approx(2.00, abs=0.01) for p in s.points[1:])
    assert [p.final_map for p in s.points] == [(7, 7), (14, 14), (21, 21), (28, 28)]


@pytest.mark.slow
def test_json_and_cli(tmp_path: pytest.TempPathFactory) -> None:
    from click.testing import CliRunner

    from archcalc.cli import main

    plot = tmp_path / "r18.png"  # type: ignore[operator]
    args = ["scale", "resnet18", "--min", "64", "--max", "128", "--steps", "2"]
    out = CliRunner().invoke(main, [*args, "--format", "json", "--plot", str(plot)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [p["side"] for p in data["points"]] == [64, 128]
    assert data["points"][1]["exponent"] == pytest.approx(2, abs=0.02)
    # resnet18's theoretical receptive field is 435 px at every size (it does not depend on r)
    assert [p["final_field"]["size"] for p in data["points"]] == [[435, 435]] * 2
    assert set(data["law"]) == {"quadratic", "quartic", "low", "high", "max_residual"}
    assert plot.stat().st_size > 0  # type: ignore[attr-defined]
    text = CliRunner().invoke(main, args)
    assert "quadratic: no global attention" in text.stdout
    bad = CliRunner().invoke(main, ["scale", "resnet18", "--min", "8", "--max", "20"])
    assert bad.exit_code == 2 and "no aligned size" in bad.stderr
    assert math.isfinite(data["exponent"])
