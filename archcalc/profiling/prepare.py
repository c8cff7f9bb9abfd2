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
from archcalc.errors import ArchitectureDefectError, TraceError
from archcalc.formatting import size
from archcalc.results import Pair, Profile
from archcalc.sizes.constraints import Rules
from archcalc.sizes.probe import derive_rules, tried_sizes
from archcalc.sizes.validity import judge

__all__ = [
    "Ready",
    "build_model",
    "build_on_device",
    "fused",
    "lift_size_arguments",
    "on_device",
    "prepare",
    "profile",
    "read_rules",
    "rules_after",
    "trace_model",
]

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
    train: bool = False,
    reparameterize: bool = False,
) -> Ready:
    """Build ``model`` for ``resolution`` on ``device``, ready for a trace or a timing.

    Three plain steps: ``trace_model`` (build on meta and trace; a failed trace reads the size
    rules, which refuse the size or lift a constructor argument: ``lift_size_arguments``),
    ``fused`` with ``reparameterize``, then ``on_device`` for a real device.

    Args:
        model: a timm name (``resnet50``, ``resnet50.a1_in1k``) or a user ``nn.Module``
            (used as it is: never moved, its mode restored by whoever runs it).
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        batch_size: images in the meta trace's input (``estimate``).
        in_chans: channels of each image.
        convention: what the MACs count (``core`` or ``fvcore``).
        output_stride: build with this global stride (timm models that support it).
        device: ``meta`` (default), ``cpu``, ``cuda`` or ``cuda:N``; a real device is
            memory-checked against the meta estimate first.
        train: the meta trace also counts the backward pass (``estimate.train_macs``).
        reparameterize: the deploy-time form, fused by timm's ``reparameterize_model``
            (MobileOne, RepVGG, FastViT...): built with random weights on the CPU, fused, then
            traced on meta and moved to ``device``. No effect on a model with nothing to fuse
            or on a user module (fuse it yourself first).

    Returns:
        A ``Ready`` with the built model, the meta estimate and the lifted arguments.

    Raises:
        InvalidArgumentError: a bad argument; InvalidResolutionError: a size the model cannot
        run at (with the nearest valid sizes); TraceError: a forward that fails otherwise;
        InsufficientMemoryError: a real device without room for it.

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
    trace = {"batch_size": batch_size, "convention": convention, "train": train}
    ready = trace_model(model, res, in_chans=in_chans, output_stride=output_stride, **trace)
    if reparameterize and isinstance(model, str):
        ready = fused(model, ready, **trace)
    return ready if dev == "meta" else on_device(model, ready, dev)


def build_model(
    model: str | nn.Module,
    resolution: Resolution,
    *,
    device: str = "meta",
    in_chans: int = 3,
    output_stride: int | None = None,
    build_kwargs: Mapping[str, Any] | None = None,
) -> Built:
    """Step 1: build ``model`` on ``device`` with ``build_kwargs`` (archcalc's own build in eval
    mode; a user module keeps its mode); running out of memory while building is a user error.

    Example:
        >>> build_model("resnet18", 224).module.training
        False
    """
    res = parse_resolution(resolution)
    check_positive("in_chans", in_chans)
    check_positive("output_stride", output_stride, optional=True)
    where = model if isinstance(model, str) else type(model).__name__
    with out_of_memory_as_error(device, f"building {where} at {size(res)}"):
        built = build(
            model,
            res,
            in_chans=in_chans,
            output_stride=output_stride,
            device=device,
            **(build_kwargs or {}),
        )
    if isinstance(model, str):
        built.module.eval()  # archcalc's own build: a user module keeps its mode
    return built


def lift_size_arguments(rules: Rules, resolution: Pair, failure: TraceError) -> dict[str, Any]:
    """Step 2, after a failed build or trace: refuse an invalid size with its reason and
    nearest valid sizes, or return the constructor arguments that lift the constraint (empty
    if none does: ``trace_model`` then tries the sizes around it, ``tried_sizes``).

    The size rules cost a build and a forward of their own, so they are read only when the
    plain attempt fails (``rules_after``); a size that runs needs no verdict to be profiled.
    """
    validity = judge(rules, resolution)
    validity.raise_if_invalid(cause=failure)
    if validity.build_kwargs == {"img_size": resolution}:
        return {}  # already built so: lifting changes nothing
    return validity.build_kwargs


def rules_after(
    model: str, resolution: Pair, failure: TraceError, *, in_chans: int = 3,
    output_stride: int | None = None,
) -> Rules:  # fmt: skip
    """The size rules, read after ``failure`` at ``resolution``; a model that fails at its own
    default size as well is defective at every size (``ArchitectureDefectError``)."""
    try:
        return read_rules(model, in_chans=in_chans, output_stride=output_stride)
    except TraceError as at_default:
        ref = default_input_size(model)
        tried = size(resolution) if resolution == ref else f"{size(resolution)}, {size(ref)}"
        raise ArchitectureDefectError(
            f"{model} fails at every size tried ({tried}): {at_default.cause}",
            cause=at_default.cause,
            diagnosis=at_default.diagnosis,
        ) from failure


def trace_model(
    model: str | nn.Module,
    resolution: Resolution,
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
    reuse: Built | None = None,
    **trace: Any,
) -> Ready:
    """Step 3: build on meta and trace once (``trace``: batch_size, convention, train); after a
    failure, the size rules refuse, lift (``lift_size_arguments``) or name the sizes around it
    that run (``tried_sizes``). ``reuse``: a meta build of the same name and arguments to try
    first (a sweep over sizes builds once); ignored for fixed-input-size archs."""
    resolution = parse_resolution(resolution)
    options = {"in_chans": in_chans, "output_stride": output_stride}
    built = reuse
    try:
        if built is None or built.img_size_arg:
            built = build_model(model, resolution, **options)
        return Ready(built, resolution, "meta", _trace(built, resolution, trace, options))
    except TraceError as failure:
        if not isinstance(model, str):
            raise
        rules = rules_after(model, resolution, failure, **options)
        kwargs = lift_size_arguments(rules, resolution, failure)
        last = failure  # ``failure`` is unbound after the except block
    if kwargs:
        try:
            built = build_model(model, resolution, build_kwargs=kwargs, **options)
            estimate = _trace(built, resolution, trace, options)
            return Ready(built, resolution, "meta", estimate, kwargs)
        except TraceError as lifted_failure:
            last = lifted_failure
    raise tried_sizes(model, rules, resolution, last, **options)


def _trace(
    built: Built, res: Pair, trace: Mapping[str, Any], options: Mapping[str, Any]
) -> Profile:
    return profile_built(built, res, **trace, **options)


def fused(model: str, ready: Ready, **trace: Any) -> Ready:
    """The deploy form of a traced timm model: built on the CPU with random weights (fusing
    does arithmetic on them; the host-memory check comes first), fused by timm and traced
    again (``trace`` as for ``trace_model``). The meta trace still allocates nothing more:
    the tracer runs CPU-resident weights as meta stand-ins. A model with nothing to fuse is
    returned as it is."""
    estimate = ready.profile
    if not estimate.fusable:
        return ready
    options = {"in_chans": estimate.channels, "output_stride": estimate.output_stride}
    check_host_memory(estimate, "cpu", resident=resident_bytes(model, "cpu"))
    kwargs = ready.build_kwargs
    built = fuse(build_model(model, ready.resolution, device="cpu", build_kwargs=kwargs, **options))
    estimate = _trace(built, ready.resolution, trace, options)
    return Ready(built, ready.resolution, ready.device, estimate, kwargs)


def on_device(model: str | nn.Module, ready: Ready, device: str) -> Ready:
    """Step 4: the traced model on a real ``device`` with the same (lifted) arguments, its host
    memory checked against the estimate first; a fused model (built on the CPU) is moved."""
    estimate = ready.profile
    if estimate.reparameterized:
        check_host_memory(estimate, device, resident=resident_bytes(model, device))
        ready.built.module.to(device)
        built = ready.built
    else:
        built = build_on_device(model, estimate, ready.build_kwargs, device)
    return Ready(built, ready.resolution, device, estimate, ready.build_kwargs)


def build_on_device(
    model: str | nn.Module, estimate: Profile, build_kwargs: Mapping[str, Any], device: str
) -> Built:
    """``model`` built on ``device`` as ``estimate`` was traced (its size, channels, output
    stride and the lifted ``build_kwargs``), once the host memory it needs is known to fit."""
    check_host_memory(estimate, device, resident=resident_bytes(model, device))
    options = {"in_chans": estimate.channels, "output_stride": estimate.output_stride}
    return build_model(
        model, estimate.resolution, device=device, build_kwargs=build_kwargs, **options
    )


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
    options = {"in_chans": in_chans, "output_stride": output_stride}
    return derive_rules(model, build_model(model, ref, **options), ref, **options)


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
        batch_size: images in the input tensor (``batch_size x in_chans x H x W``).
        in_chans: channels of each image.
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
        A ``Profile`` (``to_dict()``: the JSON of docs/schemas.md; ``str()``: its table).

    Raises:
        InvalidArgumentError: a bad argument (size, count, convention, device name).
        InvalidResolutionError: a size the model cannot run at, with the nearest valid ones.
        UnknownModelError: a name timm does not list.
        TraceError: a forward that fails for another reason.

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
