"""Training-step MACs (forward + autograd's backward, counted on meta) against hand arithmetic.

The backward of a conv or linear layer runs two products the size of its forward: the input
gradient and the weight gradient. A training step therefore costs 3 x the forward, less the
input gradient of the first layer (the image needs none) and of any layer that only frozen
layers precede; parameter-free products (attention's QK^T and AV) cost 2 x their forward
backwards (the gradients of both operands), so they stay at 3 x too.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import archcalc
from archcalc.core.count import count_forward

# 1 x 3 x 8 x 8 input. conv1 3 -> 8, 3x3, padding 1: 8*8 positions x 8 out x 27 = 13_824 MACs.
# conv2 depthwise 8 -> 8 (groups 8), 3x3: 8*8 positions x 8 out x 9 = 4_608 MACs.
CONV1, CONV2 = 13_824, 4_608


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
    )


@pytest.mark.parametrize(
    ("frozen", "train_macs", "why"),
    [
        # torch 2.14's own convolution_backward formula counts conv2's weight gradient x8
        # (the groups are forgotten): 2*CONV1 + 2*CONV2 + 8*CONV2 = 73_728.
        (None, 2 * CONV1 + 3 * CONV2, "conv1: fwd + weight grad; conv2: fwd + input + weight"),
        (0, CONV1 + 2 * CONV2, "conv1 frozen: nothing flows back into it"),
        (2, 2 * CONV1 + 2 * CONV2, "conv2 frozen: its input gradient still feeds conv1"),
    ],
)
def test_small_net_by_hand(frozen: int | None, train_macs: int, why: str) -> None:
    net = _net()
    if frozen is not None:
        net[frozen].requires_grad_(False)
    p = archcalc.profile(net, 8, train=True)
    assert p.macs == CONV1 + CONV2
    assert p.train_macs == train_macs, why
    assert all(w.grad is None for w in net.parameters())  # the user's module is left untouched


def test_resnet50_is_three_forwards_less_the_first_conv_input_gradient() -> None:
    p = archcalc.profile("resnet50", 224, train=True)
    # conv1: 7x7, 3 -> 64, stride 2 -> 112x112: 112*112 positions x 64 out x 7*7*3 MACs
    conv1 = 112 * 112 * 64 * 7 * 7 * 3
    assert conv1 == 118_013_952
    assert p.macs / 1e9 == pytest.approx(4.089, abs=0.0005)  # torchvision's _ops
    assert p.train_macs == 3 * p.macs - conv1


def test_vit_attention_backward_is_twice_its_forward() -> None:
    p = archcalc.profile("vit_tiny_patch16_224", 224, train=True)
    # patch embedding: 14*14 patches x 192 out x 16*16*3 in; its input gradient is not run.
    # Every other product (linear layers, QK^T, AV) costs 3 x its forward in a step.
    patch_embed = 14 * 14 * 192 * 16 * 16 * 3
    assert p.train_macs == 3 * p.macs - patch_embed


def test_train_macs_are_opt_in_and_in_the_json() -> None:
    assert archcalc.profile("resnet18", 64).train_macs is None
    p = archcalc.profile("resnet18", 64, train=True)
    data = json.loads(json.dumps(p.to_dict()))
    assert data["train_macs"] == p.train_macs
    assert archcalc.Profile.from_dict(data) == p


def test_real_device_takes_the_meta_count() -> None:
    net = _net()
    assert archcalc.profile(net, 8, device="cpu", train=True).train_macs == 2 * CONV1 + 3 * CONV2


def test_replayed_meta_calls_give_the_same_counts() -> None:
    # resnet18's repeated blocks are answered from the first call's layout: same totals.
    from archcalc.core.trace import eval_mode
    from archcalc.profiling.prepare import build_model

    module = build_model("resnet18", 96).module
    skip = {t.untyped_storage()._cdata for t in module.state_dict().values()}
    counts = []
    for meta in (False, True):
        with eval_mode(module), count_forward("core", skip, meta=meta) as (counter, result):
            x = torch.empty(1, 3, 96, 96, device="meta")
            counter.track(x)
            module(x)
            counts.append(result())
    assert counts[0] == counts[1]
