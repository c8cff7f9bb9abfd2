"""Custom MAC formulas: ``archcalc.register_formula`` and ``use_formulas`` on a custom op.

``archcalc_test::mix`` is a 1x1 convolution written as one custom operator: ``w`` (d, c)
mixes the c channels of ``x`` (n, c, h, w) into d. On the meta device only its fake kernel
runs, so no aten formula sees its arithmetic: without a formula it costs 0 MACs, with one
it costs n x d x c x h x w, counted by hand below.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import archcalc
from archcalc.core.formulas import FORMULAS, active_formulas


@torch.library.custom_op("archcalc_test::mix", mutates_args=())
def mix(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nchw,dc->ndhw", x, w)


@mix.register_fake
def _(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x.new_empty(x.shape[0], w.shape[0], *x.shape[2:])


def _mix_backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
    x, w = ctx.saved_tensors
    dx = mix(grad, w.t()) if ctx.needs_input_grad[0] else None
    return dx, torch.einsum("ndhw,nchw->dc", grad, x)


def _mix_save(ctx: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs)


mix.register_autograd(_mix_backward, setup_context=_mix_save)


def mix_macs(x_shape: tuple[int, ...], w_shape: tuple[int, ...], *, out_shape: object) -> int:
    """One multiply-accumulate per output element and input channel."""
    n, c, h, w = x_shape
    return n * w_shape[0] * c * h * w


class Mix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mix(x, self.weight)


def mixer() -> nn.Sequential:
    """One ``Mix`` stage (a child module, so its output is the final map)."""
    return nn.Sequential(Mix())


#: 8 outputs x 3 inputs x 16 x 16 cells, batch 1.
MIX_MACS = 8 * 3 * 16 * 16


def test_an_unknown_custom_op_costs_nothing() -> None:
    assert archcalc.profile(mixer(), 16).macs == 0


def test_use_formulas_counts_the_custom_op_inside_the_block_only() -> None:
    with archcalc.use_formulas({mix: mix_macs}):
        assert archcalc.profile(mixer(), 16).macs == MIX_MACS
        assert archcalc.profile(mixer(), 16, batch_size=2).macs == 2 * MIX_MACS
    assert archcalc.profile(mixer(), 16).macs == 0


def test_register_formula_counts_it_until_unregistered() -> None:
    archcalc.register_formula(torch.ops.archcalc_test.mix.default, mix_macs)
    try:
        assert archcalc.profile(mixer(), (16, 16)).macs == MIX_MACS
    finally:
        FORMULAS.unregister(mix)
    assert torch.ops.archcalc_test.mix not in active_formulas()


def test_a_formula_overrides_torch_s() -> None:
    # a 2x2 conv, 1 -> 5 channels, on a 2x2 input: one output cell, 5 x 1 x 2 x 2 = 20 MACs
    conv = nn.Sequential(nn.Conv2d(1, 5, 2))
    assert archcalc.profile(conv, (2, 2), in_chans=1).macs == 20
    with archcalc.use_formulas({torch.ops.aten.convolution: lambda *shapes, out_shape: 7}):
        assert archcalc.profile(conv, (2, 2), in_chans=1).macs == 7


def test_the_training_step_counts_the_custom_backward() -> None:
    # backward: no input gradient; the weight gradient's einsum (8 x 3, summed over the
    # 16 x 16 cells) is one more 8 x 3 x 16 x 16 by torch's formula: forward + backward = 2x
    with archcalc.use_formulas({mix: mix_macs}):
        p = archcalc.profile(mixer(), 16, train=True)
    assert (p.macs, p.train_macs) == (MIX_MACS, 2 * MIX_MACS)


@pytest.mark.parametrize("op", ["mix", 42, None])
def test_register_formula_rejects_what_is_not_an_operator(op: object) -> None:
    with pytest.raises(archcalc.InvalidArgumentError, match="torch operator"):
        archcalc.register_formula(op, mix_macs)


def test_register_formula_rejects_a_formula_that_is_not_callable() -> None:
    with pytest.raises(archcalc.InvalidArgumentError, match="callable"):
        archcalc.use_formulas({mix: 3}).__enter__()
