"""A fixed sample of timm's published table (fvcore convention): three rows in the fast lane,
all 32 in the full suite.

Rows copied from shared/reference/timm_published.csv (timm's own benchmark CSV: params in
millions and GMACs, both rounded to 0.01). A row matches when our value is within the bar
(1 % for MACs, 0.1 % for params) or rounds to the published figure. The whole table is
checked by benchmarks/validate_published.py.
"""

from __future__ import annotations

import pytest

import archcalc

#: The fast lane checks three small rows (a CNN, a mobile net, a ViT); the full suite all.
FAST = {"resnet18", "mobilenetv3_large_100", "vit_small_patch16_224"}
#: arch, img_size, param_count_m, gmacs
PUBLISHED = [
    ("resnet18", 160, 11.69, 0.93),
    ("resnet50", 288, 25.56, 6.8),
    ("convnext_tiny", 288, 28.59, 7.39),
    ("efficientnet_b0", 256, 5.29, 0.52),
    ("mobilenetv3_large_100", 256, 5.48, 0.29),
    ("vit_small_patch16_224", 224, 22.05, 4.61),
    ("regnety_040", 224, 20.65, 4.0),
    ("mixer_b16_224", 224, 59.88, 12.62),
    ("coat_tiny", 224, 5.5, 4.35),
    ("cait_xxs24_224", 224, 11.96, 2.53),
    ("pit_s_224", 224, 23.46, 2.88),
    ("efficientformer_l1", 224, 12.29, 1.3),
    ("mobilevit_s", 256, 5.58, 2.03),
    ("maxvit_tiny_tf_224", 224, 30.92, 5.6),
    ("caformer_s18", 224, 26.34, 4.13),
    ("poolformer_s12", 224, 11.92, 1.82),
    ("dla34", 224, 15.74, 3.07),
    ("densenet121", 224, 7.98, 2.87),
    ("inception_v3", 299, 23.83, 5.73),
    ("tf_efficientnet_b3", 300, 12.23, 1.87),
    ("ghostnet_100", 224, 5.18, 0.15),
    ("hrnet_w18_small", 224, 13.19, 1.61),
    ("res2net50_26w_4s", 224, 25.7, 4.28),
    ("edgenext_small", 256, 5.59, 1.26),
    ("pvt_v2_b0", 224, 3.67, 0.57),
    ("crossvit_tiny_240", 240, 7.01, 1.57),
    ("xcit_tiny_12_p16_224", 224, 6.72, 1.24),
    ("twins_svt_small", 224, 24.06, 2.94),
    ("mvitv2_tiny", 224, 24.17, 4.7),
    ("eva02_tiny_patch14_224", 224, 5.5, 1.7),
    ("davit_tiny", 224, 28.36, 4.54),
    ("cspdarknet53", 256, 27.64, 6.57),
]


def matches(ours: float, published: float, tolerance: float) -> bool:
    return abs(ours - published) <= tolerance * published or round(ours, 2) == published


@pytest.mark.parametrize(
    ("arch", "img_size", "params_m", "gmacs"),
    [pytest.param(*row, marks=() if row[0] in FAST else pytest.mark.slow) for row in PUBLISHED],
)
def test_published_row(arch: str, img_size: int, params_m: float, gmacs: float) -> None:
    p = archcalc.profile(arch, img_size, convention="fvcore")
    assert matches(p.macs / 1e9, gmacs, 0.01), f"{p.macs / 1e9:.4f} G vs {gmacs} G"
    assert matches(p.params / 1e6, params_m, 0.001), f"{p.params / 1e6:.4f} M vs {params_m} M"
