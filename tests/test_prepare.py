"""prepare(): the one way every entry point gets its model (build, lifted arguments, eval,
device)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archcalc.errors import InvalidResolutionError, TraceError
from archcalc.profiling.prepare import (
    Ready,
    build_model,
    build_on_device,
    prepare,
    read_rules,
    trace_model,
)
from archcalc.sizes.validity import judge


@pytest.mark.slow
def test_crossvit_gets_the_img_size_it_resizes_to() -> None:
    # crossvit_tiny_240 resizes any input to 240x240 itself (its patch embeddings are fixed):
    # at 224 it must be built as configured (img_size 240), not for 224.
    ready = prepare("crossvit_tiny_240", 224)
    assert ready.build_kwargs == {"img_size": (240, 240)}
    # 240 / patch 12 = 20: the final token grid of the large branch
    assert ready.profile.final_map == (20, 20)


def test_an_invalid_size_is_refused_with_the_reason_and_chained_cause() -> None:
    # convnext_atto: stem 4x4/4 then three 2x2/2 downsamples: 24 -> 6 -> 3 -> 1 -> 0
    with pytest.raises(InvalidResolutionError, match="cannot run at 24x24") as info:
        prepare("convnext_atto", 24)
    assert isinstance(info.value.__cause__, TraceError)
    assert info.value.nearest == ((32, 32),)  # 32 -> 8 -> 4 -> 2 -> 1; none below 24 runs


def test_raise_if_invalid_only_raises_for_invalid_sizes() -> None:
    rules = read_rules("convnext_atto")
    judge(rules, (32, 32)).raise_if_invalid()  # 32 -> 8 -> 4 -> 2 -> 1: runs
    cause = TraceError("forward failed")
    with pytest.raises(InvalidResolutionError, match="nearest valid: 32x32") as info:
        judge(rules, (24, 24)).raise_if_invalid(cause=cause)
    assert info.value.__cause__ is cause and info.value.nearest == ((32, 32),)


def test_reuse_skips_the_build_and_the_module_is_in_eval_mode() -> None:
    first = prepare("resnet10t", 64)
    again = trace_model("resnet10t", 96, reuse=first.built)
    assert again.built is first.built and not first.built.module.training
    assert again.profile.final_map == (3, 3)  # ceil(96 / 32)


def test_a_user_module_is_used_as_it_is() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1)).train()
    ready = prepare(model, 16, device="cpu")
    assert ready.built.module is model and model.training  # never moved, mode kept
    assert next(model.parameters()).device == torch.device("cpu")
    # 4 out x 3 in x 3 x 3 kernel x 8 x 8 outputs = 6912 MACs
    assert ready.profile.macs == 4 * 3 * 3 * 3 * 8 * 8


def test_build_model_only_builds_and_an_untraced_ready_has_no_profile() -> None:
    built = build_model("resnet10t", 224)
    assert not built.module.training  # archcalc's own build is in eval mode
    ready = Ready(built, (224, 224), "meta", None)
    with pytest.raises(TraceError, match="was not traced"):
        _ = ready.profile


def test_prepare_takes_no_internal_cache_arguments() -> None:
    import inspect

    from archcalc import measure

    for public in (prepare, measure):
        names = set(inspect.signature(public).parameters)
        assert not names & {"traced", "reuse", "trace", "strict"}, public.__name__


@pytest.mark.slow
def test_an_earlier_trace_is_reused_for_a_real_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from archcalc.profiling import prepare as module

    first = prepare("crossvit_tiny_240", 224)  # lifts img_size: it resizes inputs itself
    assert first.build_kwargs == {"img_size": (240, 240)}

    def no_trace(*args: object, **kwargs: object) -> None:
        raise AssertionError("traced again")

    monkeypatch.setattr(module, "profile_built", no_trace)
    built = build_on_device("crossvit_tiny_240", first.profile, first.build_kwargs, "cpu")
    assert next(built.module.parameters()).device.type == "cpu"
    with torch.inference_mode():  # built with the lifted arguments: it runs at 224
        assert built.module(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
