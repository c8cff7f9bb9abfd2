"""The one way a model gets ready for a trace or a timing: ``prepare``; and ``profile``.

``prepare`` builds the model (timm name, ``arch.tag`` or a user ``nn.Module``), traces it once
on the meta device, and when that fails reads the architecture's size rules: an invalid size
is refused with its reason and the nearest valid sizes, and a rule that a constructor argument
lifts (a fixed ``img_size``) is lifted. It then checks host memory and builds on the requested
device with the same arguments, in eval mode. Every entry point (profile, measure, bench,
suggest, sweep, the size checks, the layer table) gets its model here, so the same model is
never built two ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from archcalc.checks import check_convention, check_input_size, check_positive
from archcalc.core.build import Built, build, default_input_size, fuse
from archcalc.core.devices import check_device
from archcalc.core.geometry import parse_resolution
from archcalc.core.memory import check_host_memory, out_of_memory_as_error, resident_bytes
from archcalc.core.trace import profile_built
from archcalc.errors import ArchitectureDefectError, TraceError, without_lead
from archcalc.formatting import size
from archcalc.results import Pair, Profile
from archcalc.sizes.constraints import Rules
from archcalc.sizes.probe import derive_rules, tried_sizes
from archcalc.sizes.validity import judge

__all__ = ["Ready", "prepare", "profile", "read_rules"]

Resolution = int | str | tuple[int, int]


@dataclass(frozen=True)
class Ready:
    """A model ready to trace or time: built (lifted arguments applied) on ``device``.

    ``estimate`` is the meta-device profile that showed it runs at ``resolution`` (None when
    ``prepare`` was asked not to trace, or for a user module the tracer cannot read);
    ``build_kwargs`` are the constructor arguments the size rules lifted (empty if none).
    """

    built: Built
    resolution: Pair
    device: str
    estimate: Profile | None
    build_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def profile(self) -> Profile:
        """The meta estimate; a ``TraceError`` where there is none (not traced, or unreadable)."""
        if self.estimate is None:
            raise TraceError(f"{self.built.name} at {size(self.resolution)} was not traced")
        return self.estimate


def prepare(
    model: str | nn.Module,
    resolution: Resolution = 224,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    convention: str = "core",
    device: str = "meta",
    reuse: Built | None = None,
    trace: bool = True,
    strict: bool = True,
    train: bool = False,
    reparameterize: bool = False,
    traced: tuple[Mapping[str, Any], Profile] | None = None,
) -> Ready:
    """Build ``model`` for ``resolution`` on ``device``, ready for a trace or a timing.

    Args:
        model: a timm name (``resnet50``, ``resnet50.a1_in1k``) or a user ``nn.Module``
            (used as it is: never moved, its mode restored by whoever runs it).
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        batch_size, in_chans, convention: what the meta trace (``estimate``) runs with.
        output_stride: build with this global stride (timm models that support it).
        device: ``meta`` (default), ``cpu``, ``cuda`` or ``cuda:N``; a real device is
            memory-checked against the meta estimate first.
        reuse: a model already built from the same name and arguments to try first (a sweep
            or suggestion reuses one build across sizes); ignored for fixed-input-size archs.
        trace: False builds only (no estimate, no size rules): for the model's default size.
        strict: False lets a user module the tracer cannot read through (``estimate`` None).
        train: the meta trace also counts the backward pass (``estimate.train_macs``).
        reparameterize: the deploy-time form, fused by timm's ``reparameterize_model``
            (MobileOne, RepVGG, FastViT...): built with random weights on the CPU, fused, then
            traced on meta and moved to ``device``. No effect on a model with nothing to fuse
            or on a user module (fuse it yourself first).
        traced: ``(build_kwargs, estimate)`` of an earlier ``prepare`` of the same timm name
            with the same arguments (a timing after a profile): the meta trace is not run
            again. Ignored for a user module and with ``reparameterize``.

    Returns:
        A ``Ready`` with the built model, the meta estimate and the lifted arguments.

    Example:
        >>> prepare("crossvit_tiny_240", 224).build_kwargs  # it resizes inputs itself
        {'img_size': (240, 240)}
    """
    res = parse_resolution(resolution)
    check_positive("batch_size", batch_size)
    check_positive("in_chans", in_chans)
    check_positive("output_stride", output_stride, optional=True)
    check_convention(convention)
    dev = check_device(device)
    check_input_size(res, batch_size, in_chans)
    options = {"in_chans": in_chans, "output_stride": output_stride}
    if not trace:
        return Ready(_build(model, res, dev, {}, **options), res, dev, None)
    if traced is not None and isinstance(model, str) and not reparameterize and dev != "meta":
        kwargs, estimate = dict(traced[0]), traced[1]  # built for real below, not traced again
    else:
        trace_args = {"batch_size": batch_size, "convention": convention, "train": train}
        meta, kwargs, estimate = _traced(model, res, reuse, strict, **trace_args, **options)
        fusable = estimate is not None and estimate.fusable
        if reparameterize and isinstance(model, str) and fusable:
            fused = _fused(model, res, kwargs, estimate, **options)
            estimate = profile_built(fused, res, **trace_args, **options)
            if dev != "meta":
                check_host_memory(estimate, dev, resident=resident_bytes(model, dev))
                fused.module.to(dev)
            return Ready(fused, res, dev, estimate, kwargs)
        if dev == "meta":
            return Ready(meta, res, dev, estimate, kwargs)
    if estimate is not None:
        check_host_memory(estimate, dev, resident=resident_bytes(model, dev))
    return Ready(_build(model, res, dev, kwargs, **options), res, dev, estimate, kwargs)


def _fused(
    model: str,
    res: Pair,
    kwargs: dict[str, Any],
    estimate: Profile,
    *,
    in_chans: int,
    output_stride: int | None,
) -> Built:
    """The deploy form: built on the CPU with random weights (fusing does arithmetic on them;
    the host-memory check comes first) and fused by timm. A meta trace of it still allocates
    nothing more: the tracer runs CPU-resident weights as meta stand-ins."""
    check_host_memory(estimate, "cpu", resident=resident_bytes(model, "cpu"))
    return fuse(_build(model, res, "cpu", kwargs, in_chans=in_chans, output_stride=output_stride))


def _build(
    model: str | nn.Module,
    res: Pair,
    device: str,
    kwargs: dict[str, Any],
    *,
    in_chans: int,
    output_stride: int | None,
) -> Built:
    """``build`` in eval mode; running out of memory while building is a user error."""
    where = model if isinstance(model, str) else type(model).__name__
    with out_of_memory_as_error(device, f"building {where} at {size(res)}"):
        built = build(
            model, res, in_chans=in_chans, output_stride=output_stride, device=device, **kwargs
        )
    if isinstance(model, str):
        built.module.eval()  # archcalc's own build: a user module keeps its mode
    return built


def _traced(
    model: str | nn.Module,
    res: Pair,
    reuse: Built | None,
    strict: bool,
    *,
    batch_size: int,
    convention: str,
    train: bool,
    in_chans: int,
    output_stride: int | None,
) -> tuple[Built, dict[str, Any], Profile | None]:
    """Build on meta and trace once; after a failure, the size rules refuse or lift."""
    options = {"in_chans": in_chans, "output_stride": output_stride}
    trace = {"batch_size": batch_size, "convention": convention, "train": train, **options}
    built = reuse
    try:
        if built is None or built.img_size_arg:
            built = _build(model, res, "meta", {}, **options)
        return built, {}, profile_built(built, res, **trace)
    except TraceError as failure:
        if not isinstance(model, str):
            if strict or built is None:
                raise
            return built, {}, None
        rules = _rules_after(model, res, failure, **options)
        kwargs = _lifted(rules, res, failure)
        last = failure  # ``failure`` is unbound after the except block
    if kwargs:
        try:
            built = _build(model, res, "meta", kwargs, **options)
            return built, kwargs, profile_built(built, res, **trace)
        except TraceError as lifted_failure:
            last = lifted_failure
    raise tried_sizes(model, rules, res, last, **options)


def _rules_after(
    model: str, res: Pair, failure: TraceError, *, in_chans: int, output_stride: int | None
) -> Rules:
    """The size rules, read after ``failure`` at ``res``; a model that fails at its own
    default size as well is defective at every size (``ArchitectureDefectError``)."""
    try:
        return read_rules(model, in_chans=in_chans, output_stride=output_stride)
    except TraceError as at_default:
        ref = default_input_size(model)
        tried = size(res) if res == ref else f"{size(res)}, {size(ref)}"
        raise ArchitectureDefectError(
            f"{model} fails at every size tried ({tried}): {without_lead(at_default)}"
        ) from failure


def _lifted(rules: Rules, res: Pair, failure: TraceError) -> dict[str, Any]:
    """After a failed build or trace: refuse an invalid size with its reason and nearest valid
    sizes, or return the constructor arguments that lift the constraint (empty if none: the
    caller then tries sizes around it, ``tried_sizes``).

    The size rules cost a build and a forward of their own, so they are read only when the
    plain attempt fails; a size that runs needs no verdict to be profiled.
    """
    validity = judge(rules, res)
    validity.raise_if_invalid(cause=failure)
    if validity.build_kwargs == {"img_size": res}:
        return {}  # already built so: lifting changes nothing
    return validity.build_kwargs


def read_rules(
    model: str | nn.Module,
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
    reference: Pair | None = None,
) -> Rules:
    """The size rules of ``model``, read from it prepared at its default size (a timm name's
    configured input size; ``reference`` or 224x224 for a user module)."""
    ref = default_input_size(model) if isinstance(model, str) else reference or (224, 224)
    ready = prepare(model, ref, in_chans=in_chans, output_stride=output_stride, trace=False)
    return derive_rules(model, ready.built, ref, in_chans=in_chans, output_stride=output_stride)


def profile(
    model: str | nn.Module,
    resolution: Resolution = 224,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    convention: str = "core",
    device: str = "meta",
    train: bool = False,
    reparameterize: bool = False,
) -> Profile:
    """Profile ``model`` (timm name, ``arch.tag`` or ``nn.Module``) at ``resolution``.

    One forward on ``device`` (default ``meta``: no weights or activations allocated) gives
    the stages, final k x k map, global stride, MACs under ``convention`` and memory.

    Args:
        model: timm name or ``nn.Module``.
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        batch_size, in_chans: the input tensor is ``batch_size x in_chans x H x W``.
        output_stride: build with this global stride (timm models that support it).
        convention: ``core`` (conv/linear/matmul/attention) or ``fvcore`` (adds norm/pool).
        device: ``meta`` (static), or ``cpu``/``cuda`` to trace real tensors.
        train: also count one training step's MACs (``train_macs``): autograd's backward of
            the meta trace, for every trainable parameter and not the input. Off by default:
            the backward costs about as much again as the forward.
        reparameterize: profile the fused deploy form (timm's ``reparameterize_model``) of a
            re-parameterizable net (MobileOne, RepVGG, FastViT...); ``Profile.reparameterized``
            says whether anything was fused.

    Returns:
        A ``Profile`` (``to_dict()`` is the JSON schema in the README).

    Example:
        >>> archcalc.profile("resnet18", 48).final_map
        (2, 2)
    """
    options = {"batch_size": batch_size, "in_chans": in_chans, "output_stride": output_stride}
    ready = prepare(
        model,
        resolution,
        convention=convention,
        device=device,
        train=train,
        reparameterize=reparameterize,
        **options,
    )
    if ready.device == "meta" and ready.estimate is not None:
        return ready.estimate
    traced = profile_built(
        ready.built, ready.resolution, convention=convention, device=ready.device, **options
    )
    if train and ready.estimate is not None:  # MACs do not depend on the device: meta's count
        return replace(traced, train_macs=ready.estimate.train_macs)
    return traced
