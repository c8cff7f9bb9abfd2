"""Model name or module -> ``nn.Module`` on the requested device; the only module importing timm.

timm models are always built with ``pretrained=False`` (nothing is downloaded). Architectures
with a fixed input size (``pretrained_cfg.fixed_input_size``: ViT, DeiT, Swin, BEiT, ...) take
``img_size`` in their constructor, so they are built for the requested resolution.
"""

from __future__ import annotations

import difflib
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from archcalc.errors import InvalidArgumentError, TraceError, UnknownModelError, first_line
from archcalc.results import Pair

__all__ = [
    "Built",
    "build",
    "closest_names",
    "default_input_size",
    "fuse",
    "has_fused_form",
    "resolve_name",
    "same_padding_types",
    "timm_version",
]


@dataclass(frozen=True)
class Built:
    """A built model and what timm declares about it (stage modules, reductions, config)."""

    module: nn.Module
    name: str
    feature_names: tuple[str, ...] = ()
    reductions: dict[str, int] = field(default_factory=dict)
    prefer_nhwc: bool = False
    pretrained_cfg: dict[str, Any] = field(default_factory=dict)
    img_size_arg: bool = False
    reparameterized: bool = False


def timm_version() -> str | None:
    """The installed timm version (None if timm cannot be imported)."""
    try:
        import timm
    except ImportError:  # pragma: no cover - timm is a dependency
        return None
    return str(timm.__version__)


def closest_names(name: str, limit: int = 5) -> list[str]:
    """timm architecture names closest to ``name`` (difflib), for "did you mean" messages."""
    import timm

    arch = name.split(".", 1)[0].lower()
    return difflib.get_close_matches(arch, timm.list_models(), n=limit, cutoff=0.6)


def resolve_name(name: str) -> str:
    """Check that ``name`` (``arch`` or ``arch.tag``) is a timm model; raise with suggestions."""
    import timm

    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"model name must be a non-empty string, got {name!r}")
    name = name.strip()
    if not timm.is_model(name):
        close = closest_names(name)
        hint = f"; closest: {', '.join(close)}" if close else "; see `timm.list_models()`"
        raise UnknownModelError(f"unknown model {name!r}{hint}")
    if "." in name and _pretrained_cfg_or_none(name) is None:
        arch = name.split(".", 1)[0]
        tags = [n.split(".", 1)[1] for n in timm.list_pretrained(f"{arch}.*")]
        known = ", ".join(tags[:8]) or "none"
        raise UnknownModelError(f"unknown pretrained tag in {name!r}; known tags: {known}")
    return name


def default_input_size(name: str) -> Pair:
    """The (height, width) a timm model is configured for (224x224 when it declares none)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(resolve_name(name))
    size = getattr(cfg, "input_size", None) or (3, 224, 224)
    return int(size[-2]), int(size[-1])


def same_padding_types() -> tuple[type[nn.Module], ...]:
    """timm's conv/pool classes that pad "same" at run time (their ``padding`` attribute is 0)."""
    from timm.layers.conv2d_same import Conv2dSame
    from timm.layers.pool2d_same import AvgPool2dSame, MaxPool2dSame

    return (Conv2dSame, AvgPool2dSame, MaxPool2dSame)


def _pretrained_cfg_or_none(name: str) -> Any:
    """timm's pretrained config for ``arch.tag``; None for an unknown tag (timm raises then)."""
    from timm.models import get_pretrained_cfg

    try:
        return get_pretrained_cfg(name)
    except RuntimeError:
        return None


def _fixed_input_size(name: str) -> bool:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return bool(cfg is not None and cfg.fixed_input_size)


def build(
    model: str | nn.Module,
    resolution: Pair,
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
    device: str = "meta",
    **extra: Any,
) -> Built:
    """Build ``model`` (timm name) on ``device``, or wrap a user module as it is.

    ``extra`` keyword arguments go to ``timm.create_model`` (e.g. ``window_size``).
    """
    if isinstance(model, nn.Module):
        if output_stride is not None:
            raise InvalidArgumentError(
                "output_stride applies to timm model names only; build your module with it instead"
            )
        return Built(module=model, name=type(model).__name__)
    if not isinstance(model, str):
        raise UnknownModelError(
            f"model must be a timm name or a torch.nn.Module, got {type(model).__name__}"
        )
    name = resolve_name(model)
    kwargs: dict[str, Any] = {"pretrained": False, "in_chans": in_chans, **extra}
    if output_stride is not None:
        kwargs["output_stride"] = output_stride
    img_size_arg = _fixed_input_size(name)
    if img_size_arg and "img_size" not in kwargs:
        kwargs["img_size"] = resolution
    module = _create(name, resolution, device, kwargs)
    features = getattr(module, "feature_info", None) or []
    names = tuple(str(f.get("module", "")) for f in features if isinstance(f, dict))
    reductions = {
        str(f["module"]): int(f["reduction"])
        for f in features
        if isinstance(f, dict) and f.get("module") and isinstance(f.get("reduction"), int)
    }
    return Built(
        module=module,
        name=name,
        feature_names=names,
        reductions=reductions,
        prefer_nhwc=str(getattr(module, "output_fmt", "")).endswith("NHWC"),
        pretrained_cfg=dict(getattr(module, "pretrained_cfg", {}) or {}),
        img_size_arg=img_size_arg,
    )


#: The methods timm's ``reparameterize_model`` calls on a submodule to fuse it.
_FUSE_METHODS = ("fuse", "reparameterize", "switch_to_deploy")


def has_fused_form(module: nn.Module) -> bool:
    """True when timm's ``reparameterize_model`` would change ``module``: a submodule has a
    ``fuse``, ``reparameterize`` or ``switch_to_deploy`` method (MobileOne, RepVGG, FastViT,
    RepViT, LeViT, EfficientViT-M...). Cheap: reads the module tree, any device."""
    children = (child for child in module.modules() if child is not module)  # as timm walks
    return any(hasattr(child, method) for child in children for method in _FUSE_METHODS)


def fuse(built: Built) -> Built:
    """The deploy-time form of ``built`` through timm's own ``reparameterize_model`` (in place).

    Fusing is arithmetic on the weights (a BatchNorm folded into its conv, parallel branches
    summed into one kernel), so ``built`` must hold real weights: build it on a real device
    first (random weights do: the shapes, counts and latency do not depend on their values).
    """
    from timm.utils.model import reparameterize_model

    if any(p.is_meta for p in built.module.parameters()):
        raise InvalidArgumentError(f"{built.name}: fusing needs real weights, not meta tensors")
    module = reparameterize_model(built.module, inplace=True)
    return replace(built, module=module, reparameterized=True)


#: The in-place writes of weight initialisation (timm's ``trunc_normal_``, ``torch.nn.init``)
#: with no tensor argument but the one written: on a meta tensor they change no shape, and
#: some run torch's Python reference kernels (``clamp_``, ``erfinv_``), most of building a
#: ConvNeXt or a ViT on meta.
_INIT_WRITES = frozenset(
    {"uniform_", "normal_", "erfinv_", "clamp_", "fill_", "zero_", "mul_", "add_"}
)


class _SkipMetaInit(TorchDispatchMode):
    """Skip ``_INIT_WRITES`` on meta tensors: there are no values to write."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if (
            func._opname in _INIT_WRITES
            and isinstance(args[0], torch.Tensor)
            and args[0].is_meta
            and not any(isinstance(a, torch.Tensor) for a in (*args[1:], *(kwargs or {}).values()))
        ):
            return args[0]
        return func(*args, **(kwargs or {}))


def _create(name: str, resolution: Pair, device: str, kwargs: dict[str, Any]) -> nn.Module:
    """``timm.create_model`` with user-facing errors for unsupported arguments and sizes."""
    import timm

    try:
        with torch.device(device), _SkipMetaInit() if device == "meta" else nullcontext():
            return timm.create_model(name, **kwargs)
    except TypeError as e:
        if "output_stride" in str(e):
            raise InvalidArgumentError(
                f"{name} does not accept output_stride={kwargs['output_stride']}: "
                "drop the option or pick a model that supports it (e.g. resnet50)"
            ) from e
        raise TraceError(
            f"{name} cannot be built for {resolution[0]}x{resolution[1]}: {e}", cause=first_line(e)
        ) from e
    except (AssertionError, ValueError, RuntimeError, NotImplementedError, IndexError) as e:
        cause = first_line(e)
        if kwargs.get("output_stride", 32) not in (8, 16, 32):  # timm asserts on other strides
            raise InvalidArgumentError(
                f"{name} cannot be built with output_stride={kwargs['output_stride']}: {cause}; "
                "timm models that take it accept 8, 16 or 32"
            ) from e
        raise TraceError(
            f"{name} cannot be built for {resolution[0]}x{resolution[1]}: {cause}", cause=cause
        ) from e
