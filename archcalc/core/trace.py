"""One traced forward of a built model -> Profile: stages, stride, final k x k, MACs, memory.

The forward runs in eval mode (every submodule's mode restored after) with the MAC counter and
the stage recorder attached. A user module whose weights live on another device is traced
with empty stand-ins through ``torch.func.functional_call``, never copied. With ``train``, the
same meta trace continues with autograd's backward (training-step MACs): still in eval mode,
so dropout and drop-path keep every branch and the counted ops are those of a training step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from archcalc.core.build import Built, has_fused_form
from archcalc.core.count import Counter, Counts, count_forward
from archcalc.core.devices import environment
from archcalc.core.diagnose import diagnose
from archcalc.core.geometry import aligned_neighbours
from archcalc.core.receptive.tracker import FieldTracker
from archcalc.core.stages import Record, candidate_modules, interpret, record_outputs
from archcalc.errors import ArchcalcError, InvalidArgumentError, TraceError, first_line
from archcalc.results import Memory, Pair, Profile

__all__ = ["ADAM_STATE_BYTES", "eval_mode", "profile_built"]

#: Bytes per trainable parameter a training step adds with Adam: gradient + two moments (float32).
ADAM_STATE_BYTES = 12


def profile_built(
    built: Built,
    resolution: Pair,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    convention: str = "core",
    device: str = "meta",
    output_stride: int | None = None,
    train: bool = False,
) -> Profile:
    """Profile an already built model (lets callers reuse one build across resolutions).

    ``train`` (meta device only) also counts the backward pass: ``Profile.train_macs``.
    """
    module = built.module
    if train and device != "meta":
        raise InvalidArgumentError(
            f"training-step MACs are counted on the meta device, not {device}: trace on meta"
        )
    trace = (batch_size, in_chans, convention, device, train)
    try:
        counts, records = _traced_forward(built, resolution, *trace)
    except TraceError as e:
        if device != "meta" or "device" not in str(e.__cause__):
            raise
        # a forward that makes CPU tensors of its own (torch.arange without a device: ConViT,
        # SAM-ViT, DINOv3 RoPE) meets the meta input: again, with meta as the default device
        with torch.device("meta"):
            counts, records = _traced_forward(built, resolution, *trace)
    traced = interpret(
        records, resolution, counts.grids, counts.macs, built.reductions, built.prefer_nhwc
    )
    if traced.final.kind == "none":
        names = ", ".join(candidate_modules(module, built.feature_names)[:4]) or "the model"
        cause = f"no output of {names} reads as a feature map (NCHW, NHWC or tokens)"
        raise TraceError(f"{built.name} at {resolution[0]}x{resolution[1]}: {cause}", cause=cause)
    stride = traced.global_stride
    pairs = zip(resolution, stride, strict=True)
    below, above = zip(*(aligned_neighbours(s, st) for s, st in pairs), strict=True)
    aligned = all(s % st == 0 for s, st in zip(resolution, stride, strict=True))
    params = list(module.parameters())
    return Profile(
        model=built.name,
        convention=convention,
        batch_size=batch_size,
        channels=in_chans,
        height=resolution[0],
        width=resolution[1],
        output_stride=output_stride,
        global_stride=stride,
        final_map=traced.final.grid,
        final_channels=traced.final.channels,
        final_layout=traced.final.kind,
        receptive_field=traced.final_field,
        prefix_tokens=traced.final.prefix_tokens,
        aligned=aligned,
        aligned_below=None if aligned or None in below else (below[0], below[1]),
        aligned_above=None if aligned else (above[0], above[1]),
        params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        macs=counts.macs,
        train_macs=None if counts.backward_macs is None else counts.macs + counts.backward_macs,
        stages=traced.stages,
        memory=_memory(module, counts),
        environment=environment(device),
        fusable=built.reparameterized or has_fused_form(module),
        reparameterized=built.reparameterized,
    )


def _traced_forward(
    built: Built,
    resolution: Pair,
    batch_size: int,
    in_chans: int,
    convention: str,
    device: str,
    train: bool,
) -> tuple[Counts, list[Record]]:
    """Run one eval-mode forward with the counter and the shape recorder attached (and with
    ``train``, autograd's backward of its outputs for every trainable parameter)."""
    module = built.module
    state = _state_on(module, device)
    own = dict(module.named_parameters()) | dict(module.named_buffers())
    skip = {t.untyped_storage()._cdata for t in (state or own).values()}
    names = candidate_modules(module, built.feature_names)
    make = torch.empty if device == "meta" else torch.randn
    x = make(batch_size, in_chans, *resolution, device=device)
    fields = FieldTracker()
    meta = device == "meta"
    counting = count_forward(convention, skip, fields, meta=meta, backward=train)
    with eval_mode(module), counting as (counter, result):
        with record_outputs(module, names, lambda: counter.macs, fields.field) as records:
            counter.track(x)
            fields.track(x)
            try:
                out = (
                    module(x) if state is None else torch.func.functional_call(module, state, (x,))
                )
            except ArchcalcError:
                raise
            except Exception as e:
                found = diagnose(module, state, x, e, in_chans)
                raise TraceError(
                    f"{built.name} fails at {resolution[0]}x{resolution[1]}: {found}",
                    cause=str(found),
                    diagnosis=found,
                ) from e
        if train:
            _backward(built, resolution, counter, out, (state or own).values())
        counts = result()
    return counts, records


def _backward(
    built: Built, resolution: Pair, counter: Counter, out: object, tensors: Iterable[torch.Tensor]
) -> None:
    """The traced forward's backward, counted; a failure is the model's, reported as such."""
    params = [t for t in tensors if t.is_floating_point()]
    try:
        counter.backward(out, params)
    except ArchcalcError:
        raise
    except Exception as e:
        cause = first_line(e, with_type=True)
        raise TraceError(
            f"{built.name}: the backward pass fails at {resolution[0]}x{resolution[1]}: {cause}",
            cause=cause,
        ) from e


def _state_on(module: nn.Module, device: str) -> dict[str, torch.Tensor] | None:
    """None when the module already lives on ``device``, else empty stand-ins placed there."""
    tensors = dict(module.named_parameters()) | dict(module.named_buffers())
    target = torch.device(device)
    if all(t.device.type == target.type for t in tensors.values()):
        return None
    return {
        name: torch.empty_like(t, device=device).requires_grad_(t.requires_grad)
        if t.is_floating_point()
        else torch.zeros_like(t, device=device)
        for name, t in tensors.items()
    }


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put the module in eval mode for the block and restore each submodule's mode after."""
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


def _memory(module: nn.Module, counts: Counts) -> Memory:
    params = list(module.parameters())
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    state = param_bytes + ADAM_STATE_BYTES * trainable
    return Memory(
        param_bytes=param_bytes,
        buffer_bytes=sum(b.numel() * b.element_size() for b in module.buffers()),
        activation_bytes=counts.activation_bytes,
        peak_activation_bytes=counts.peak_activation_bytes,
        saved_activation_bytes=counts.saved_activation_bytes,
        train_step_bytes=state + counts.saved_activation_bytes,
        train_step_bytes_half=state + counts.saved_half_bytes,
    )
