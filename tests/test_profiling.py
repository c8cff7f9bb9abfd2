"""profile(): stride, k x k, channels, params and MACs of real timm models against known values.

Params and ``core`` MACs: torchvision's weight metadata for the same architectures
(``num_params`` exact, ``_ops`` GMACs to 3 decimals, shared/reference/torchvision_published.csv).
``fvcore`` MACs: timm's published benchmark table (GMACs to 2 decimals).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import archcalc
from archcalc.results import Profile

# model, stride, k, channels, layout, params (torchvision num_params), core GMACs (tv _ops),
# fvcore GMACs (timm published)
MODELS_AT_224 = [
    ("resnet18", 32, 7, 512, "NCHW", 11_689_512, 1.814, 1.82),
    ("resnet50", 32, 7, 2048, "NCHW", 25_557_032, 4.089, 4.11),
    ("convnext_tiny", 32, 7, 768, "NCHW", 28_589_128, 4.456, 4.47),
    ("efficientnet_b0", 32, 7, 1280, "NCHW", 5_288_548, 0.386, 0.40),
    ("mobilenetv3_large_100", 32, 7, 960, "NCHW", 5_483_032, 0.217, 0.23),
    ("vit_base_patch16_224", 16, 14, 768, "tokens", 86_567_656, 17.564, 17.58),
    ("swin_tiny_patch4_window7_224", 32, 7, 768, "NHWC", 28_288_354, 4.491, 4.51),
]


#: resnet18 at 64: 1,814,073,344 MACs at 224 (torchvision's _ops), of which the fc layer is
#: 512 x 1000 = 512,000; every conv map at 64 is 2/7 of its side at 224 (32..2 vs 112..7), so
#: conv MACs scale by 4/49: 1,813,561,344 x 4 / 49 + 512,000 = 148,557,824.
RESNET18_MACS_AT_64 = 148_557_824


@pytest.mark.parametrize(
    ("name", "stride", "k", "channels", "layout", "params", "core_g", "fvcore_g"), MODELS_AT_224
)
def test_known_models_at_224(
    name: str,
    stride: int,
    k: int,
    channels: int,
    layout: str,
    params: int,
    core_g: float,
    fvcore_g: float,
) -> None:
    core = archcalc.profile(name, 224)
    assert core.global_stride == (stride, stride)
    assert core.final_map == (k, k)
    assert core.final_channels == channels
    assert core.final_layout == layout
    assert core.aligned
    assert core.params == params == core.trainable_params
    assert core.macs / 1e9 == pytest.approx(core_g, abs=0.0005)  # published to 3 decimals
    fvcore = archcalc.profile(name, 224, convention="fvcore")
    assert round(fvcore.macs / 1e9, 2) == pytest.approx(fvcore_g)  # published to 2 decimals
    assert fvcore.macs > core.macs  # norm and pooling terms only add


@pytest.mark.parametrize(
    ("name", "res", "convention", "gmacs"),
    [
        # torchinfo's module hooks report 0.46 G and 2.3 G for these (issue #2): it misses
        # attention matmuls and linear layers on 3-D tokens, and convnext's NHWC blocks.
        ("vit_large_patch16_224", 224, "fvcore", 61.6),  # timm's published table: 61.60
        ("convnext_base", 448, "core", 61.4),  # 15.355 G at 224 (torchvision) x 4 = 61.42
    ],
)
def test_counts_that_module_hooks_miss(name: str, res: int, convention: str, gmacs: float) -> None:
    assert round(archcalc.profile(name, res, convention=convention).macs / 1e9, 1) == gmacs


def test_vit_tokens_carry_a_class_token() -> None:
    p = archcalc.profile("vit_base_patch16_224", 224)
    assert p.prefix_tokens == 1  # 197 tokens = 14 x 14 patches + the class token


def test_resnet50_at_448_ends_at_14x14() -> None:
    p = archcalc.profile("resnet50", 448)
    assert (p.final_map, p.global_stride, p.aligned) == ((14, 14), (32, 32), True)


def test_resnet18_at_48_is_2x2_and_not_aligned() -> None:
    p = archcalc.profile("resnet18", 48)
    assert p.final_map == (2, 2)  # ceil(48 / 32) = 2
    assert p.global_stride == (32, 32)
    assert not p.aligned
    assert (p.aligned_below, p.aligned_above) == ((32, 32), (64, 64))


def test_stride_survives_a_1x1_map() -> None:
    # resnet18 at 4 px: 2x2 after the stem, 1x1 from layer1 on; timm declares 4..32
    p = archcalc.profile("resnet18", 4)
    assert (p.final_map, p.global_stride) == ((1, 1), (32, 32))


def test_output_stride_16_doubles_the_map() -> None:
    p = archcalc.profile("resnet50", 224, output_stride=16)
    assert (p.final_map, p.global_stride) == ((14, 14), (16, 16))
    assert p.params == 25_557_032  # dilation changes no weights
    assert p.output_stride == 16


def test_non_square_input() -> None:
    p = archcalc.profile("resnet50", (448, 320))
    assert p.final_map == (14, 10)  # 448 / 32, 320 / 32
    assert (p.height, p.width) == (448, 320)


@pytest.mark.slow
def test_tagged_name_is_the_same_architecture() -> None:
    assert archcalc.profile("resnet50.a1_in1k", 224).macs == archcalc.profile("resnet50").macs
    tagged = archcalc.profile("resnet50.a1_in1k", 224)
    assert tagged.macs / 1e9 == pytest.approx(4.089, abs=0.0005)  # torchvision's _ops
    assert tagged.params == 25_557_032  # torchvision's num_params


def test_hand_built_sequential() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1),  # 64 -> 32: 32*32*16*27 = 442,368 MACs
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),  # 32 -> 16: 16*16*32*144 = 1,179,648 MACs
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),  # 320 MACs
    )
    p = archcalc.profile(net, 64)
    assert (p.final_map, p.global_stride, p.final_channels) == ((16, 16), (4, 4), 32)
    assert p.macs == 442_368 + 1_179_648 + 320
    assert p.params == (16 * 27 + 16) + 2 * 16 + (32 * 144 + 32) + (32 * 10 + 10)
    assert [(s.name, s.stride, s.macs) for s in p.stages] == [
        ("0..2", (2, 2), 442_368),  # conv, BN and ReLU at stride 2
        ("3..4", (4, 4), 1_179_648),  # conv and ReLU at stride 4; the pool ends the path
        ("head", None, 320),
    ]


@pytest.mark.slow
def test_stage_macs_sum_to_total() -> None:
    for name in ("resnet18", "vit_base_patch16_224", "swin_tiny_patch4_window7_224"):
        p = archcalc.profile(name, 224)
        assert sum(s.macs for s in p.stages) == p.macs


@pytest.mark.parametrize(
    ("name", "res"),
    [("resnet18", 64), pytest.param("deit_tiny_patch16_224", 224, marks=pytest.mark.slow)],
)
def test_same_counts_on_meta_and_cpu(name: str, res: int) -> None:
    # deit_tiny on real CPU tensors runs the fused attention kernel that torch's
    # FlopCounterMode skips (1.07 G instead of 1.25 G); archcalc counts it as on meta.
    meta = archcalc.profile(name, res)
    cpu = archcalc.profile(name, res, device="cpu")
    assert cpu.macs == meta.macs
    if name == "resnet18":
        assert meta.macs == RESNET18_MACS_AT_64
    assert (cpu.final_map, cpu.global_stride, cpu.params) == (
        meta.final_map,
        meta.global_stride,
        meta.params,
    )


@pytest.mark.slow
def test_deit_tiny_counts_fused_attention() -> None:
    p = archcalc.profile("deit_tiny_patch16_224", 224, device="cpu")
    assert round(p.macs / 1e9, 2) == 1.25  # timm's table: 1.26 with fvcore's LayerNorm terms


def test_no_grad_module_tracker_failure_does_not_happen() -> None:
    # FlopCounterMode's module tracker fails on pit_s_224 under no_grad; our counter does not.
    with torch.no_grad():
        p = archcalc.profile("pit_s_224", 224, convention="fvcore")
    assert round(p.macs / 1e9, 2) == 2.88  # timm's published table


def test_memory_by_hand() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    mem = archcalc.profile(net, 4).memory
    # input 3*4*4*4 B = 192; conv output and relu output 8*4*4*4 B = 512 each
    assert mem.param_bytes == 8 * 27 * 4
    assert mem.activation_bytes == 512 + 512
    assert mem.peak_activation_bytes == 192 + 512 + 512  # input, conv out, relu out alive
    assert mem.saved_activation_bytes == 192 + 512  # conv saves its input, relu its output
    assert mem.train_step_bytes == 864 + 12 * 216 + 704  # weights + grad + 2 moments + saved
    assert mem.train_step_bytes_half == 864 + 12 * 216 + 704 // 2


def test_batch_scales_macs() -> None:
    one = archcalc.profile("resnet18", 64)
    four = archcalc.profile("resnet18", 64, batch_size=4)
    assert four.macs == 4 * one.macs
    assert four.params == one.params
    assert one.macs == RESNET18_MACS_AT_64


def test_json_round_trip() -> None:
    p = archcalc.profile("resnet18", 48)
    data = json.loads(json.dumps(p.to_dict()))
    assert Profile.from_dict(data) == p
    assert data["flops"] == 2 * data["macs"]
    assert list(data) == [
        "schema_version", "model", "convention", "input", "output_stride", "global_stride",
        "final_map", "final_channels", "final_layout", "receptive_field", "prefix_tokens",
        "aligned", "aligned_below", "aligned_above", "params", "trainable_params", "macs", "flops",
        "train_macs", "stages", "memory", "environment", "fusable", "reparameterized",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"model": "resnet5O"}, archcalc.UnknownModelError),
        ({"model": "resnet50", "resolution": 0}, archcalc.InvalidResolutionError),
        ({"model": "resnet50", "batch_size": 0}, archcalc.InvalidArgumentError),
        ({"model": "resnet50", "convention": "thop"}, archcalc.InvalidArgumentError),
        ({"model": "resnet50", "device": "tpu"}, archcalc.InvalidArgumentError),
        ({"model": "vit_base_patch16_224", "output_stride": 8}, archcalc.InvalidArgumentError),
        # 4 B x 1e9 x 1e9 x 15 x 179: the storage size would overflow int64 (found by the fuzz)
        (
            {"model": "resnet18", "resolution": (15, 179), "batch_size": 10**9, "in_chans": 10**9},
            archcalc.InvalidArgumentError,
        ),
    ],
)
def test_bad_arguments_raise_archcalc_errors(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        archcalc.profile(**kwargs)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(archcalc.UnknownModelError, match="resnet50"):
        archcalc.profile("resnet5O")


def test_failing_forward_names_model_size_and_cause() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 7))  # a 7x7 kernel cannot run on a 4x4 input
    with pytest.raises(archcalc.TraceError, match=r"Sequential fails at 4x4: RuntimeError"):
        archcalc.profile(net, 4)


def test_profile_prints_its_inspect_row_and_notes() -> None:
    p = archcalc.profile("resnet18", 230)
    lines = str(p).replace("\n  ", " ").splitlines()  # notes wrapped at 100 columns, joined
    # ceil(230 / 32) = 8; receptive field 435 px (issue 10's hand arithmetic); params
    # 11,689,512 (torchvision) -> 11.69 M
    row = lines[2].split()[:7]
    assert row == ["resnet18", "230x230", "32", "8x8", "435", "512", "11.69"]
    assert any("nearest aligned sizes: 224x224 and 256x256" in line for line in lines)
    assert len(lines) == 7  # header, rule, row, blank, units note, RF note, alignment note
    assert repr(p).startswith("Profile(model='resnet18', resolution=(230, 230), batch_size=1")
    assert p._repr_markdown_().startswith("| model ")


@pytest.mark.slow
def test_reparameterize_gives_timms_published_fused_numbers() -> None:
    # timm's benchmark table (shared/reference/timm_published.csv) lists repvgg_a0 at 224 in
    # its fused form: 1.36 GMACs, 8.31 M params (fvcore); the training-time form has 9.11 M
    # (the table's results_param_count_m column). mobileone_s4 (2.98 / 14.84) is checked in
    # benchmarks/validate_published.py: its CPU build is too slow for a unit test.
    fused = archcalc.profile("repvgg_a0", 224, convention="fvcore", reparameterize=True)
    assert (round(fused.macs / 1e9, 2), round(fused.params / 1e6, 2)) == (1.36, 8.31)
    assert fused.fusable and fused.reparameterized
    trained = archcalc.profile("repvgg_a0", 224, convention="fvcore")
    assert round(trained.params / 1e6, 2) == 9.11
    assert trained.fusable and not trained.reparameterized
    assert "fused deploy form" in str(fused)


def test_reparameterize_leaves_a_model_with_nothing_to_fuse_alone() -> None:
    plain = archcalc.profile("resnet18", 64)
    asked = archcalc.profile("resnet18", 64, reparameterize=True)
    assert asked == plain and not asked.fusable and not asked.reparameterized


@pytest.mark.slow
def test_prepare_reparameterized_on_cpu_has_no_batchnorm_left() -> None:
    from archcalc.profiling.prepare import prepare

    ready = prepare("repvgg_a0", 64, device="cpu", reparameterize=True)
    assert ready.built.reparameterized and ready.profile.reparameterized
    assert not any(isinstance(m, nn.BatchNorm2d) for m in ready.built.module.modules())
    assert all(p.device.type == "cpu" for p in ready.built.module.parameters())


def test_fused_note_gives_the_change_in_percent() -> None:
    from dataclasses import replace

    from helpers import make

    from archcalc.results import fused_note

    trained = make("net", 224)  # 224 * 224 * 1000 = 50,176,000 MACs, 11,000,000 params
    fused = replace(trained, macs=45_158_400, params=9_900_000, reparameterized=True)
    # 45,158,400 / 50,176,000 = 0.9 and 9.9 M / 11 M = 0.9: both -10.0 %
    assert fused_note(trained, fused) == (
        "net has a fused deploy form (timm's reparameterize_model): at 224x224 it has 0.045 "
        "GMACs (-10.0%) and 9.90 M params (-10.0%); --reparameterize profiles it."
    )
