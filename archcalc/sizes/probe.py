"""Read an architecture's size rules off its own modules during one meta forward.

The caller prepares the model (``archcalc.profiling.prepare``); at the model's default size
every conv/pool is hooked (kernel, stride, padding, the side it sees), timm patch embeddings
(``strict_img_size``/``dynamic_img_pad``: a fixed size or whole patches) and window or block
partitions (``window_size``/``partition_size``/``block_size``: one probe forward at a misfitting
size tells whether the model pads or refuses). The constructor's signature tells which rules an
argument lifts (``img_size``, ``window_size``).

A failure no rule explains (an attention bias built for one map size, an assertion deep in a
block) is answered by ``tried_sizes``: sizes on the model's own grid are built and traced on
meta until the nearest that run are found, and the refusal names the failing layer."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from archcalc.core.build import Built, build, same_padding_types
from archcalc.core.trace import profile_built
from archcalc.errors import InvalidResolutionError, TraceError
from archcalc.formatting import size
from archcalc.results import Pair
from archcalc.sizes.constraints import (
    Constraint,
    Rules,
    SpatialOp,
    Window,
    align_step,
    min_side,
    side_problem,
    window_misfit,
)
from archcalc.sizes.validity import judge

__all__ = ["derive_rules", "tried_sizes"]

#: How many grid sizes ``tried_sizes`` walks away from the size asked for (each costs a build
#: and a meta trace); when none runs, it bisects towards the default size, where the model runs.
_WALK = 3

_WINDOW_ATTRS = ("window_size", "partition_size", "block_size")


def derive_rules(
    model: str | nn.Module,
    built: Built,
    reference: Pair,
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
) -> Rules:
    """Read the size rules off ``built`` (``model`` prepared at ``reference``, its default
    size for a timm name) during one hooked meta forward, plus the probes the rules call for."""
    ref = reference
    with _collect(built.module) as seen:
        traced = profile_built(built, ref, in_chans=in_chans, output_stride=output_stride)
    rules = Rules(
        model=built.name,
        reference=ref,
        global_stride=traced.global_stride,
        final_ref=traced.final_map,
        ops=tuple(seen["ops"]),
        windows=_windows(seen["windows"], ref),
        accepts_window_size=_accepts(built.module, "window_size"),
    )
    rules = _patch_rules(rules, built, seen["patches"], seen["merges"])
    if rules.lift_img_size or built.img_size_arg:
        rules = replace(
            rules,
            resizes_input=_resizes_input(built, ref, traced.final_map, in_chans, output_stride),
        )
    if rules.windows and isinstance(model, str):
        rules = replace(rules, windows_hard=_windows_refused(model, rules, in_chans, output_stride))
    return _with_summary(rules)


def _accepts(module: nn.Module, argument: str) -> bool:
    """Whether the module's class takes ``argument`` in its constructor."""
    try:
        return argument in inspect.signature(type(module).__init__).parameters
    except (TypeError, ValueError):
        return False


def _lifts(module: nn.Module) -> str:
    """The constructor arguments that lift a fixed size: ``img_size`` (archcalc builds with
    it), and ``dynamic_img_size`` where the class has it ('|'-separated)."""
    return "img_size|dynamic_img_size" if _accepts(module, "dynamic_img_size") else "img_size"


def _pair_of(value: Any) -> Pair | None:
    """``7``, ``2.0`` or ``(7, 7)`` -> ``(7, 7)``; anything else -> None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return (int(value[0]), int(value[1]))
    return None


def _map_of(shape: tuple[int, ...], ref: Pair) -> Pair | None:
    """The (h, w) of a 4-D NCHW or NHWC tensor: the pair that divides the reference evenly."""
    if len(shape) != 4:
        return None
    for h, w in ((shape[2], shape[3]), (shape[1], shape[2])):
        if h and w and ref[0] % h == 0 and ref[1] % w == 0 and ref[0] // h == ref[1] // w:
            return (h, w)
    return None


@contextmanager
def _collect(module: nn.Module) -> Iterator[dict[str, list[Any]]]:
    """Hook convs/pools, timm patch embeddings and window partitions for one forward."""
    seen: dict[str, list[Any]] = {"ops": [], "patches": [], "windows": [], "merges": []}
    same = same_padding_types()
    handles = []
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            pads_at_run = isinstance(m, same) or getattr(m, "same_pad", False) is True  # StdConv
            handles.append(m.register_forward_hook(_op_hook(name, m, pads_at_run, seen)))
        if isinstance(m, nn.Upsample) and _pair_of(m.scale_factor):
            handles.append(m.register_forward_hook(_op_hook(name, m, False, seen)))
        if hasattr(m, "patch_size") and (hasattr(m, "strict_img_size") or hasattr(m, "img_size")):
            handles.append(m.register_forward_pre_hook(_shape_hook(name, m, seen["patches"])))
        if isinstance(getattr(m, "merge_size", None), int):  # a token merger (Qwen3-ViT)
            handles.append(m.register_forward_pre_hook(_shape_hook(name, m, seen["merges"])))
        if any(_pair_of(getattr(m, a, None)) for a in _WINDOW_ATTRS):
            handles.append(m.register_forward_pre_hook(_shape_hook(name, m, seen["windows"])))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _op_hook(
    name: str, m: nn.Module, same: bool, seen: dict[str, list[Any]]
) -> Callable[..., None]:
    def hook(_: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        if not inputs or not isinstance(inputs[0], torch.Tensor) or inputs[0].dim() != 4:
            return
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            return
        scale = _pair_of(getattr(m, "scale_factor", None)) or (1, 1)
        padding = getattr(m, "padding", 0)
        pad = None if same or padding == "same" else _pair_of(0 if padding == "valid" else padding)
        seen["ops"].append(
            SpatialOp(
                name=name,
                kernel=_pair_of(getattr(m, "kernel_size", 1)) or (1, 1),
                stride=_pair_of(getattr(m, "stride", None)) or (1, 1),
                padding=pad,
                dilation=_pair_of(getattr(m, "dilation", 1)) or (1, 1),
                ceil_mode=bool(getattr(m, "ceil_mode", False)),
                in_ref=(int(inputs[0].shape[-2]), int(inputs[0].shape[-1])),
                out_ref=(int(out.shape[-2]), int(out.shape[-1])),
                scale=scale,
            )
        )

    return hook


def _shape_hook(name: str, m: nn.Module, found: list[Any]) -> Callable[..., None]:
    def hook(_: nn.Module, inputs: tuple[Any, ...]) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor):
            found.append((name, m, tuple(inputs[0].shape)))

    return hook


def _windows(found: list[Any], ref: Pair) -> tuple[Window, ...]:
    """One Window per distinct (map, window) pair among the hooked window modules."""
    windows: dict[tuple[Pair, Pair], Window] = {}
    for name, m, shape in found:
        grid = _map_of(shape, ref)
        size = next((p for a in _WINDOW_ATTRS if (p := _pair_of(getattr(m, a, None)))), None)
        if grid is not None and size is not None and min(size) > 1:  # 0: global attention
            windows.setdefault((grid, size), Window(name, size, grid))
    return tuple(windows.values())


def _patch_rules(rules: Rules, built: Built, found: list[Any], merges: list[Any]) -> Rules:
    """Fixed sizes and whole-patch steps from timm patch embeddings (with their lifts), whole
    pooling cells of a soft-token pooler and whole groups of a token merger."""
    module = built.module
    ref = rules.reference
    constraints = []
    for name, m, shape in found:
        patch = _pair_of(getattr(m, "patch_size", None))
        if patch is None or len(shape) != 4:
            continue
        scale = (max(ref[0] // shape[-2], 1), max(ref[1] // shape[-1], 1))
        img = _pair_of(getattr(m, "img_size", None))
        ratio = _pair_of(getattr(m, "feature_ratio", None)) or (1, 1)  # a hybrid's CNN stem
        strict = getattr(m, "strict_img_size", False)
        if strict and img is not None:
            lift = built.img_size_arg or _accepts(module, "img_size")
            fixed = (img[0] * scale[0], img[1] * scale[1])
            constraints.append(
                Constraint("fixed_size", fixed, not lift, name, _lifts(module) if lift else None)
            )
            rules = replace(rules, fixed=None if lift else fixed, lift_img_size=lift)
        patches = ratio != (1, 1) or hasattr(m, "strict_img_size") or _cuts(m, patch)
        if not getattr(m, "dynamic_img_pad", False) and (not strict or ratio != (1, 1)) and patches:
            step = (patch[0] * ratio[0] * scale[0], patch[1] * ratio[1] * scale[1])
            what = f"whole {patch[0]}x{patch[1]} patches"
            if ratio != (1, 1):
                what += f" of its 1/{ratio[0]} stem map"
            elif scale != (1, 1):
                what += f" of a 1/{scale[0]} map"
            constraints.append(Constraint("multiple_of", step, True, f"{name} takes {what}"))
    for name, m in module.named_modules():  # a soft-token pooler: whole k x k cells of patches
        patch, k = _pair_of(getattr(m, "patch_size", None)), getattr(m, "pooling_kernel_size", 0)
        if patch and isinstance(k, int) and k > 1 and getattr(m, "global_pool", "") == "soft":
            cell = (patch[0] * k, patch[1] * k)
            what = f"pools whole {k}x{k} cells of {patch[0]}x{patch[1]} patches"
            constraints.append(
                Constraint("multiple_of", cell, True, f"{name or 'the model'} {what}")
            )
    for name, m, shape in merges:  # k x k neighbouring tokens merged into one: whole groups
        grid, k = _map_of(shape, ref), m.merge_size
        if grid is not None and k > 1:
            scale = (ref[0] // grid[0], ref[1] // grid[1])
            what = f"merges whole {k}x{k} groups of a 1/{scale[0]} map"
            constraints.append(
                Constraint("multiple_of", (k * scale[0], k * scale[1]), True, f"{name} {what}")
            )
    for c in constraints:
        if c.kind == "multiple_of":
            step = (math.lcm(rules.step[0], c.value[0]), math.lcm(rules.step[1], c.value[1]))
            rules = replace(rules, step=step)
    return replace(rules, constraints=rules.constraints + tuple(constraints))


def _cuts(module: nn.Module, patch: Pair) -> bool:
    """Whether ``module`` cuts its input into whole patches: a conv with kernel = stride =
    ``patch`` and no padding (Twins); a padded conv stem (XCiT, PiT, TNT) takes any side."""
    return any(
        isinstance(c, nn.Conv2d)
        and _pair_of(c.kernel_size) == patch
        and _pair_of(c.stride) == patch
        and c.padding in (0, (0, 0), "valid")
        for c in module.modules()
    )


def _windows_refused(model: str, rules: Rules, in_chans: int, output_stride: int | None) -> bool:
    """Probe: does the model fail at a size whose maps are not whole windows? (else it pads)."""
    step = math.lcm(rules.global_stride[0], rules.step[0])
    side = rules.reference[0] + step
    while side_problem(rules, 0, side) or not window_misfit(rules, 0, side):
        side += step
        if side > 4 * rules.reference[0]:
            return False
    res = (side, side)
    kwargs = {"img_size": res} if rules.lift_img_size else {}
    try:
        built = build(model, res, in_chans=in_chans, output_stride=output_stride, **kwargs)
        profile_built(built, res, in_chans=in_chans, output_stride=output_stride)
    except TraceError:
        return True
    return False


def _resizes_input(
    built: Built, ref: Pair, final_ref: Pair, in_chans: int, output_stride: int | None
) -> bool:
    """Probe: does a model with a fixed-size patch embedding accept half its size as it is
    built? Then it resizes its input itself (CrossViT) and any size runs as built."""
    half = (max(ref[0] // 2, 1), max(ref[1] // 2, 1))
    try:
        traced = profile_built(built, half, in_chans=in_chans, output_stride=output_stride)
    except TraceError:
        return False
    return traced.final_map == final_ref  # resized inside, not merely size-agnostic


def _with_summary(rules: Rules) -> Rules:
    """Add the stride, minimum-size and window constraints to the list a Validity reports."""
    smallest = (min_side(rules, 0), min_side(rules, 1))
    extra = [Constraint("stride", rules.global_stride, False, "trace")]
    if smallest != (1, 1):
        extra.append(Constraint("min_size", smallest, True, "convolutions and pools"))
    lift = "window_size" if rules.accepts_window_size else None
    for cells in dict.fromkeys(win.window for win in rules.windows):
        names = [win.name for win in rules.windows if win.window == cells]
        source = names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")
        extra.append(Constraint("window", cells, rules.windows_hard, source, lift))
    return replace(rules, constraints=rules.constraints + tuple(extra))


def tried_sizes(
    model: str | nn.Module,
    rules: Rules,
    res: Pair,
    failure: TraceError,
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
) -> InvalidResolutionError:
    """The refusal for a size that fails although every rule read holds: the nearest sizes
    that do run, found by building and tracing sizes on the model's grid (meta device).

    The model ran at ``rules.reference`` when the rules were read, so between the size asked
    for and the reference the boundary is bisected when a few grid steps either way find none.

    Args:
        model: the timm name (or module) that failed at ``res``.
        rules: its size rules (read at its default size, where it runs).
        res: the size that failed; failure: the ``TraceError`` it failed with.
        in_chans, output_stride: as the model was built.

    Returns:
        An ``InvalidResolutionError`` (to raise) naming the failing layer and its input, and
        the nearest sizes that run, chained to ``failure``.

    Example:
        >>> str(tried_sizes("coatnet_0_224", rules, (48, 48), failure))
        'coatnet_0_224 cannot run at 48x48: stages.3.blocks.0.attn (Attention2d) fails on its
        1x384x1x1 input; nearest valid (tried): 32x32, 64x64'
    """

    def runs(side: Pair) -> bool:
        verdict = judge(rules, side)
        if not verdict.valid:
            return False
        options = {"in_chans": in_chans, "output_stride": output_stride}
        try:
            built = build(model, side, **options, **verdict.build_kwargs)
            profile_built(built, side, **options)
        except TraceError:
            return False
        return True

    ref = rules.reference
    grid = [align_step(rules, axis) for axis in (0, 1)]
    below = next((c for c in _walk(res, grid, -1) if runs(c)), None)
    above = next((c for c in _walk(res, grid, 1) if runs(c)), None)
    if above is None and ref[0] > res[0]:  # it runs at ref: bisect for the smallest that runs
        above = _bisect(_between(res, ref, grid), runs, last_runs=True)
    if below is None and ref[0] < res[0]:  # it runs at ref: bisect for the largest that runs
        below = _bisect([ref, *_between(ref, res, grid)[:-1]], runs, last_runs=False)
    nearest = tuple(p for p in (below, above) if p)
    hint = ", ".join(size(p) for p in nearest) or "none found"
    what = _what_failed(failure)
    message = f"{rules.model} cannot run at {size(res)}: {what}; nearest valid (tried): {hint}"
    error = InvalidResolutionError(message, nearest=nearest)
    error.__cause__ = failure
    return error


def _what_failed(failure: TraceError) -> str:
    """The failing layer, its class and input (the tracer's ``Diagnosis``) and the likely fix;
    the failure's cause when no layer was running."""
    found = failure.diagnosis
    if found is None or found.module is None:
        return failure.cause
    what = f"{found.module} ({found.module_type}) fails on its {found.shape} input"
    return f"{what}; {found.hint}" if found.hint else what


def _walk(res: Pair, grid: list[int], sign: int) -> list[Pair]:
    """Up to ``_WALK`` sizes on the grid beyond ``res`` (down for ``sign`` -1, up for +1)."""
    out = []
    for i in range(1, _WALK + 1):
        side = tuple(
            (s // g - i + 1) * g if sign < 0 and s % g else (s // g + sign * i) * g
            for s, g in zip(res, grid, strict=True)
        )
        if min(side) < 1:
            break
        out.append((side[0], side[1]))
    return out


def _between(low: Pair, high: Pair, grid: list[int]) -> list[Pair]:
    """Grid sizes strictly between ``low`` and ``high`` (per axis in step), then ``high``."""
    count = max((h - 1) // g - lo // g for lo, h, g in zip(low, high, grid, strict=True))
    sides = [
        (
            min((low[0] // grid[0] + i) * grid[0], high[0]),
            min((low[1] // grid[1] + i) * grid[1], high[1]),
        )
        for i in range(1, count + 1)
    ]
    return [s for s in dict.fromkeys([*sides, high]) if s != low]


def _bisect(sizes: list[Pair], runs: Callable[[Pair], bool], *, last_runs: bool) -> Pair | None:
    """The boundary in ``sizes`` (ordered up): the first that runs when the last is known to
    run (``last_runs``), else the last that runs when the first is known to run."""
    if not sizes:
        return None
    lo, hi = -1, len(sizes) - 1
    if not last_runs:
        lo, hi = 0, len(sizes)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if runs(sizes[mid]) == last_runs:
            hi = mid
        else:
            lo = mid
    return sizes[hi] if last_runs else sizes[lo]
