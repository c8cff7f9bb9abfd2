"""``archcalc.profile``: build -> one traced forward -> Profile (stride, k x k, MACs, memory)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from archcalc import __version__
from archcalc.build import Built, build, timm_version
from archcalc.count import Counts, count_forward
from archcalc.devices import check_device, device_name
from archcalc.diagnose import diagnose
from archcalc.errors import (
    ArchcalcError,
    InvalidArgumentError,
    InvalidResolutionError,
    TraceError,
)
from archcalc.geometry import aligned_neighbours, parse_resolution
from archcalc.results import Environment, Memory, Pair, Profile
from archcalc.trace import Record, candidate_modules, interpret, record_outputs
from archcalc.units import check_convention

__all__ = ["check_input_size", "check_positive", "eval_mode", "profile", "profile_built"]

#: Bytes per trainable parameter a training step adds with Adam: gradient + two moments (fp32).
ADAM_STATE_BYTES = 12
#: Largest input tensor accepted: beyond it even meta tensors overflow storage arithmetic.
MAX_INPUT_BYTES = 2**40


def check_positive(name: str, value: Any, *, optional: bool = False) -> int | None:
    """Return ``value`` if it is a positive int (or None when optional), else raise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
    return value


def profile(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int] = 224,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    convention: str = "core",
    device: str = "meta",
) -> Profile:
    """Profile ``model`` (timm name, ``arch.tag`` or ``nn.Module``) at ``resolution``.

    One forward on ``device`` (default ``meta``: no weights or activations allocated) gives
    the stages, final k x k map, global stride, MACs under ``convention`` and memory.
    """
    res = parse_resolution(resolution)
    check_positive("batch_size", batch_size)
    check_positive("in_chans", in_chans)
    check_positive("output_stride", output_stride, optional=True)
    check_convention(convention)
    dev = check_device(device)
    check_input_size(res, batch_size, in_chans)
    try:
        return _profile_on(model, res, batch_size, in_chans, output_stride, convention, dev, {})
    except TraceError as e:
        extra = _checked_size(model, res, in_chans, output_stride, e)
    return _profile_on(model, res, batch_size, in_chans, output_stride, convention, dev, extra)


def check_input_size(resolution: Pair, batch_size: int, in_chans: int) -> None:
    """Refuse an input tensor beyond ``MAX_INPUT_BYTES`` (float32) before building anything."""
    nbytes = 4 * batch_size * in_chans * resolution[0] * resolution[1]
    if nbytes > MAX_INPUT_BYTES:
        raise InvalidArgumentError(
            f"an input of {batch_size}x{in_chans}x{resolution[0]}x{resolution[1]} is "
            f"{nbytes / 2**40:.1f} TiB in float32 (limit {MAX_INPUT_BYTES // 2**40} TiB): "
            "lower --batch-size or --in-chans"
        )


def _profile_on(
    model: str | nn.Module,
    res: Pair,
    batch_size: int,
    in_chans: int,
    output_stride: int | None,
    convention: str,
    device: str,
    extra: dict[str, Any],
) -> Profile:
    """Build (with ``extra`` constructor arguments) and trace; memory-check real-tensor runs."""
    if device != "meta":
        _check_memory(model, res, batch_size, in_chans, output_stride, device, extra)
    built = build(
        model, res, in_chans=in_chans, output_stride=output_stride, device=device, **extra
    )
    return profile_built(
        built,
        res,
        batch_size=batch_size,
        in_chans=in_chans,
        convention=convention,
        device=device,
        output_stride=output_stride,
    )


def _checked_size(
    model: str | nn.Module,
    res: Pair,
    in_chans: int,
    output_stride: int | None,
    failure: TraceError,
) -> dict[str, Any]:
    """After a failed build or trace: refuse an invalid size with its reason and nearest valid
    sizes, or return the constructor arguments that lift the constraint (re-raise if none).

    The size rules cost a build and a forward of their own, so they are read only when the
    plain attempt fails; a size that runs needs no verdict to be profiled.
    """
    if not isinstance(model, str):
        raise failure
    from archcalc.validity import check_resolution

    validity = check_resolution(model, res, in_chans=in_chans, output_stride=output_stride)
    if not validity.valid:
        raise InvalidResolutionError(validity.reason or str(failure)) from failure
    if not validity.build_kwargs or validity.build_kwargs == {"img_size": res}:
        raise failure
    return validity.build_kwargs


def _check_memory(
    model: str | nn.Module,
    res: Pair,
    batch_size: int,
    in_chans: int,
    output_stride: int | None,
    device: str,
    extra: dict[str, Any],
) -> None:
    """Before a real-tensor run, estimate its memory from a meta trace and refuse if too big."""
    from archcalc.guards import check_host_memory, resident_bytes

    built = build(model, res, in_chans=in_chans, output_stride=output_stride, **extra)
    estimate = profile_built(
        built, res, batch_size=batch_size, in_chans=in_chans, output_stride=output_stride
    )
    check_host_memory(estimate, device, resident=resident_bytes(model, device))


def profile_built(
    built: Built,
    resolution: Pair,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    convention: str = "core",
    device: str = "meta",
    output_stride: int | None = None,
) -> Profile:
    """Profile an already built model (lets callers reuse one build across resolutions)."""
    module = built.module
    counts, records = _traced_forward(built, resolution, batch_size, in_chans, convention, device)
    traced = interpret(
        records, resolution, counts.grids, counts.macs, built.reductions, built.prefer_nhwc
    )
    if traced.final.kind == "none":
        raise TraceError(
            f"{built.name} at {resolution[0]}x{resolution[1]}: no output of "
            f"{', '.join(candidate_modules(module, built.feature_names)[:4]) or 'the model'} "
            "reads as a feature map (NCHW, NHWC or tokens)"
        )
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
        prefix_tokens=traced.final.prefix_tokens,
        aligned=aligned,
        aligned_below=None if aligned or None in below else (below[0], below[1]),
        aligned_above=None if aligned else (above[0], above[1]),
        params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        macs=counts.macs,
        stages=traced.stages,
        memory=_memory(module, counts),
        environment=_environment(device),
    )


def _traced_forward(
    built: Built, resolution: Pair, batch_size: int, in_chans: int, convention: str, device: str
) -> tuple[Counts, list[Record]]:
    """Run one eval-mode forward with the counter and the shape recorder attached."""
    module = built.module
    state = _state_on(module, device)
    own = dict(module.named_parameters()) | dict(module.named_buffers())
    skip = {t.untyped_storage()._cdata for t in (state or own).values()}
    names = candidate_modules(module, built.feature_names)
    make = torch.empty if device == "meta" else torch.randn
    x = make(batch_size, in_chans, *resolution, device=device)
    with eval_mode(module), count_forward(convention, skip) as (counter, result):
        with record_outputs(module, names, lambda: counter.macs) as records:
            counter.track(x)
            try:
                if state is None:
                    module(x)
                else:
                    torch.func.functional_call(module, state, (x,))
            except ArchcalcError:
                raise
            except Exception as e:
                raise TraceError(
                    f"{built.name} fails at {resolution[0]}x{resolution[1]}: "
                    f"{diagnose(module, state, x, e, in_chans)}"
                ) from e
        counts = result()
    return counts, records


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


def _environment(device: str) -> Environment:
    return Environment(
        archcalc=__version__,
        torch=torch.__version__,
        timm=timm_version(),
        device=device_name(device),
        dtype="float32",
        threads=torch.get_num_threads(),
    )
