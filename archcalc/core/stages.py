"""Shapes from the real forward: main-path module outputs -> stages, final map, global stride.

Hooks sit on the candidate stage modules only (timm's ``feature_info`` modules, or the
top-level children of a plain module with ``nn.Sequential``/``ModuleList`` expanded), plus
timm's ``forward_features`` output. Each recorded output is read as NCHW, NHWC or tokens
``(B, N, C)`` against the previous map, and strides are composed along that path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archcalc.core.geometry import compose_stride, follows, token_grid
from archcalc.results import Pair, ReceptiveField, Stage

__all__ = ["Layout", "Record", "TraceResult", "candidate_modules", "interpret", "record_outputs"]

#: Name given to the captured output of timm's ``forward_features``.
FEATURES = "forward_features"
_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class Record:
    """One module output seen during the forward: its shape and the MACs counted so far."""

    name: str
    shape: tuple[int, ...] | None
    macs_at: int
    global_pool: bool = False
    field: ReceptiveField | None = None


@dataclass(frozen=True)
class Layout:
    """How a tensor's shape reads as a map: ``NCHW``, ``NHWC`` or ``tokens`` (+ prefix tokens)."""

    kind: str
    grid: Pair
    channels: int
    prefix_tokens: int = 0


@dataclass(frozen=True)
class TraceResult:
    """The traced geometry: stages (with MACs), the final map and its stride."""

    stages: tuple[Stage, ...]
    final: Layout
    global_stride: Pair
    final_field: ReceptiveField | None = None


def candidate_modules(model: nn.Module, feature_names: Sequence[str] | None) -> list[str]:
    """Modules to hook: the declared feature modules that exist, else the expanded top level."""
    names = dict(model.named_modules())
    if feature_names:
        found = [n for n in feature_names if n and n in names]
        if found:
            return found
    return list(_expand(model, ""))


def _expand(module: nn.Module, prefix: str) -> Iterator[str]:
    for child_name, child in module.named_children():
        full = f"{prefix}{child_name}"
        if isinstance(child, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            yield from _expand(child, f"{full}.")
        else:
            yield full


def _first_tensor(value: Any) -> torch.Tensor | None:
    """The first tensor in a (possibly nested) output: tensors, tuples, lists, dicts."""
    if isinstance(value, torch.Tensor):
        return value
    items = value.values() if isinstance(value, dict) else value
    if isinstance(items, (list, tuple)) or isinstance(value, dict):
        for item in items:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _is_global_pool(module: nn.Module, inputs: tuple[Any, ...], out: torch.Tensor) -> bool:
    """A pooling module that collapses a map larger than 1x1 into 1x1 (a head, not a stage)."""
    if out.dim() < 3 or any(s != 1 for s in out.shape[2:]):
        return False
    src = _first_tensor(inputs)
    if src is None or src.dim() != out.dim() or all(s == 1 for s in src.shape[2:]):
        return False
    if isinstance(module, _POOLS):
        return True
    kernel = getattr(module, "kernel_size", None)
    if isinstance(kernel, int) and kernel < max(src.shape[2:]):
        return False  # a strided conv/pool whose window sees part of the map: a stage
    has_params = any(True for _ in module.parameters(recurse=True))
    return not has_params and max(src.shape[2:]) > 2


@contextmanager
def record_outputs(
    model: nn.Module,
    names: Sequence[str],
    macs_so_far: Callable[[], int],
    field_of: Callable[[Any], ReceptiveField | None] = lambda _: None,
) -> Iterator[list[Record]]:
    """Record the outputs of ``names`` (and timm's ``forward_features``) during one forward,
    with each output's receptive field as ``field_of`` reads it."""
    records: list[Record] = []
    modules = dict(model.named_modules())
    handles = []

    def make_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            out = _first_tensor(output)
            shape = tuple(out.shape) if out is not None else None
            pool = out is not None and _is_global_pool(module, inputs, out)
            records.append(Record(name, shape, macs_so_far(), pool, field_of(out)))

        return hook

    for name in names:
        handles.append(modules[name].register_forward_hook(make_hook(name)))
    patched = _patch_forward_features(model, records, macs_so_far, field_of)
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()
        if patched:
            del model.forward_features


def _patch_forward_features(
    model: nn.Module,
    records: list[Record],
    macs_so_far: Callable[[], int],
    field_of: Callable[[Any], ReceptiveField | None],
) -> bool:
    """Wrap timm's ``forward_features`` on the instance (removed afterwards) to see its output."""
    original = getattr(model, "forward_features", None)
    if not callable(original) or "forward_features" in vars(model):
        return False

    def forward_features(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **kwargs)
        out = _first_tensor(output)
        shape = tuple(out.shape) if out is not None else None
        records.append(Record(FEATURES, shape, macs_so_far(), field=field_of(out)))
        return output

    model.forward_features = forward_features  # type: ignore[method-assign]
    return True


def _follows(previous: Pair, grid: Pair) -> bool:
    return all(follows(p, c) for p, c in zip(previous, grid, strict=True))


def read_layout(
    shape: tuple[int, ...] | None,
    previous: Pair,
    grids: Sequence[Pair],
    resolution: Pair,
    prefer_nhwc: bool = False,
) -> Layout | None:
    """Read a shape as a map following ``previous``; None when it is not a spatial map."""
    if shape is None:
        return None
    if len(shape) == 4:
        nchw = Layout("NCHW", (shape[2], shape[3]), shape[1])
        nhwc = Layout("NHWC", (shape[1], shape[2]), shape[3])
        order = (nhwc, nchw) if prefer_nhwc else (nchw, nhwc)
        for layout in order:
            if _follows(previous, layout.grid):
                return layout
        return None
    if len(shape) == 3:
        found = token_grid(shape[1], grids, resolution)
        if found is not None and _follows(previous, found[0]):
            return Layout("tokens", found[0], shape[2], found[1])
    return None


def interpret(
    records: Sequence[Record],
    resolution: Pair,
    grids: Sequence[Pair],
    total_macs: int,
    reductions: dict[str, int] | None = None,
    prefer_nhwc: bool = False,
) -> TraceResult:
    """Turn recorded outputs into stages (runs of equal stride), the final map and its stride."""
    path: list[tuple[Record, Layout]] = []
    previous = resolution
    for rec in records:
        if rec.global_pool:
            break
        layout = read_layout(rec.shape, previous, grids, resolution, prefer_nhwc)
        if layout is None:
            if rec.name == FEATURES or (path and rec.shape is not None and len(rec.shape) == 2):
                break
            continue
        path.append((rec, layout))
        previous = layout.grid
        if rec.name == FEATURES:
            break
    if not path:
        return TraceResult((), Layout("none", (0, 0), 0), (0, 0))
    hints = [(reductions or {}).get(rec.name) for rec, _ in path]
    strides = compose_stride(resolution, [lay.grid for _, lay in path], hints)
    stages = _stages(path, strides)
    head = total_macs - path[-1][0].macs_at
    if head:
        stages.append(Stage("head", None, None, None, None, head))
    return TraceResult(tuple(stages), path[-1][1], strides[-1], path[-1][0].field)


def _stages(path: list[tuple[Record, Layout]], strides: list[Pair]) -> list[Stage]:
    """Group the path into runs of equal stride, named ``first..last`` module of the run."""
    stages: list[Stage] = []
    start = 0
    done_macs = 0
    for i, (rec, layout) in enumerate(path):
        if i + 1 < len(path) and strides[i + 1] == strides[i]:
            continue
        names = [r.name for r, _ in path[start : i + 1] if r.name != FEATURES] or [FEATURES]
        name = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
        grid = layout.grid
        macs = rec.macs_at - done_macs
        stages.append(Stage(name, grid[0], grid[1], layout.channels, strides[i], macs, rec.field))
        done_macs = rec.macs_at
        start = i + 1
    return stages
