"""Say precisely why a forward failed: which module was running, with what input, and the fix.

``running_module`` hooks every submodule for one forward and keeps the innermost one that
started but did not finish; ``explain`` turns the error into a ``Diagnosis`` naming it (its
``str()`` is one line), and spells out the two common user-module mismatches (input channels, a
Linear layer sized for one resolution). Callers read the diagnosis's fields, never its text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from archcalc.errors import Diagnosis, first_line

__all__ = ["diagnose", "explain", "running_module"]


@contextmanager
def running_module(model: nn.Module) -> Iterator[list[tuple[str, nn.Module, tuple[int, ...]]]]:
    """Yield a stack of (name, module, input shape) of the modules still inside ``forward``."""
    stack: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    handles = []
    for name, m in model.named_modules():
        if not name:
            continue

        def pre(mod: nn.Module, inputs: tuple[Any, ...], name: str = name) -> None:
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            stack.append((name, mod, tuple(x.shape) if x is not None else ()))

        def post(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if stack and stack[-1][1] is mod:
                stack.pop()

        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()


def explain(
    error: BaseException, stack: list[tuple[str, nn.Module, tuple[int, ...]]], in_chans: int
) -> Diagnosis:
    """The error's first line, the module that raised it (innermost of ``stack``) and the
    likely fix."""
    cause = first_line(error, with_type=True)
    if not stack:
        return Diagnosis(cause)
    name, mod, shape = stack[-1]
    return Diagnosis(cause, name, type(mod).__name__, shape, _hint(mod, shape, in_chans))


def _hint(mod: nn.Module, shape: tuple[int, ...], in_chans: int) -> str:
    """The fix for the two mismatches users hit most with their own modules."""
    if isinstance(mod, nn.modules.conv._ConvNd) and len(shape) >= 2 and shape[1] != mod.in_channels:
        return (
            f"it expects {mod.in_channels} input channels but gets {shape[1]} "
            f"(in_chans={in_chans}): pass in_chans={mod.in_channels} or rebuild the layer"
        )
    if isinstance(mod, nn.Linear) and shape and shape[-1] != mod.in_features:
        return (
            f"it expects {mod.in_features} features but gets {shape[-1]}: the layer is sized "
            "for one input resolution (use adaptive pooling before it, or that resolution)"
        )
    return ""


def diagnose(
    module: nn.Module,
    state: dict[str, torch.Tensor] | None,
    x: torch.Tensor,
    error: BaseException,
    in_chans: int,
) -> Diagnosis:
    """Rerun a failed forward with every module hooked and explain ``error``."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return explain(error, [], in_chans)
    with running_module(module) as stack:
        try:
            if state is None:
                module(x)
            else:
                torch.func.functional_call(module, state, (x,))
        except Exception:  # noqa: BLE001 - the first failure is being explained
            return explain(error, stack, in_chans)
    return explain(error, [], in_chans)
