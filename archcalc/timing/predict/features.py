"""Compact per-op features of a model at one input size, and where they are kept.

A model's features are an ``(n, 5)`` float array, one row per distinct op: class index (in
``OP_CLASSES``), MACs, activation bytes and weight bytes of ONE image, and how many
times that op runs (identical ops -- the 12 blocks of a ViT -- are merged). MACs and
activation bytes scale with the batch; weight bytes and the op count do not. A constant op
(computed from weights alone, once per forward) has no batch work: its row has no MACs and
only weight bytes. Each trace gives two sets: ``fp32`` (every tensor fp32, as a CPU runs
it) and ``amp`` (as CUDA fp16 autocast runs it: fp16 and fp32 tensors, plus its casts; see
``archcalc.core.ops``); a target uses the set of its dtype (``DeviceProfile.features_dtype``).

Lookup order for a timm name: the features shipped with archcalc for every model of the
published benchmark tables (``archcalc/data/op_features.npz``), then the cache folder
(``$XDG_CACHE_HOME/archcalc/op_features/<torch>-<timm>/``), then a meta trace (then cached).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archcalc.errors import InvalidArgumentError
from archcalc.files import write_atomic
from archcalc.system import cache_dir, installed_version

if TYPE_CHECKING:
    from torch import nn

    from archcalc.core.ops import OpCost, OpLog
    from archcalc.results import Profile

__all__ = [
    "FEATURE_VERSION",
    "compact",
    "features_of",
    "key_of",
    "load_shipped",
    "save_shipped",
    "trace_features",
]

#: Bumped whenever the op classes or byte rules change (old cached features are then ignored).
FEATURE_VERSION = 3
#: The feature sets of one trace (``OpLog.kernels``).
DTYPES = ("fp32", "amp")
COLUMNS = ("class", "macs", "activation_bytes", "weight_bytes", "count")
_SHIPPED = "op_features.npz"


def key_of(model: str, size: int | tuple[int, int], dtype: str = "fp32") -> str:
    """``model@HxW`` (fp32) or ``model@HxW@amp``: the name features are stored under."""
    h, w = (size, size) if isinstance(size, int) else size
    return f"{model}@{h}x{w}" + ("" if dtype == "fp32" else f"@{dtype}")


def compact(ops: Iterable[OpCost], batch_size: int = 1) -> np.ndarray:
    """The ``(n, 5)`` feature array of one trace's ops, per image (divided by ``batch_size``),
    identical ops merged (their count summed), in first-seen order."""
    from archcalc.core.ops import OP_CLASSES

    index = {c: i for i, c in enumerate(OP_CLASSES)}
    merged: dict[tuple[int, float, float, int], int] = {}
    for op in ops:
        macs = 0 if op.constant else op.macs / batch_size
        row = (index[op.cls], macs, op.activation_bytes / batch_size)
        key = (*row, op.weight_bytes)
        merged[key] = merged.get(key, 0) + 1
    if not merged:
        return np.zeros((0, 5))
    return np.array([(*k, n) for k, n in merged.items()], dtype=np.float64)


def trace_features(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int] = 224,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    reparameterize: bool = False,
    dtype: str = "fp32",
) -> tuple[Profile, list[OpCost]]:
    """``profile()`` of ``model`` with its per-op costs recorded on the same trace, as the
    ``dtype`` (``fp32`` or ``amp``, see ``DTYPES``) runs them.

    Example:
        >>> profile, ops = trace_features("resnet18", 224)
        >>> ops[0].cls, ops[0].macs == 118013952
        ('conv', True)
    """
    profile, log = _traced(model, resolution, batch_size, in_chans, output_stride, reparameterize)
    return profile, log.kernels(dtype)


def _traced(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int],
    batch_size: int,
    in_chans: int,
    output_stride: int | None,
    reparameterize: bool,
) -> tuple[Profile, OpLog]:
    """One recorded ``profile()`` trace: the profile and its ``OpLog`` (both feature sets)."""
    from archcalc.core.ops import recording
    from archcalc.profiling.prepare import profile

    with recording() as log:
        prof = profile(
            model,
            resolution,
            batch_size=batch_size,
            in_chans=in_chans,
            output_stride=output_stride,
            reparameterize=reparameterize,
        )
    return prof, log


@functools.cache
def _cache_folder() -> Path:
    """Features depend on the torch and timm versions (and ``FEATURE_VERSION``), nothing else."""
    return (
        cache_dir()
        / "op_features"
        / f"torch{installed_version('torch')}-timm{installed_version('timm')}"
    )


def _cache_path(key: str) -> Path:
    return _cache_folder() / f"{key.replace('/', '_')}.v{FEATURE_VERSION}.npy"


def cached_features(key: str) -> np.ndarray | None:
    """Features traced earlier under this torch/timm (None if absent or unreadable)."""
    try:
        return np.load(_cache_path(key), allow_pickle=False)
    except (OSError, ValueError):
        return None


def store_features(key: str, features: np.ndarray) -> None:
    """Keep traced features in the cache folder (atomic write; a read-only cache is skipped)."""
    buffer = io.BytesIO()
    np.save(buffer, features, allow_pickle=False)
    with contextlib.suppress(InvalidArgumentError):
        write_atomic(_cache_path(key), buffer.getvalue())


@functools.cache
def load_shipped(path: str | None = None) -> dict[str, np.ndarray]:
    """The features shipped with archcalc (or read from ``path``): ``key_of`` -> array."""
    if path is None:
        source = resources.files("archcalc") / "data" / _SHIPPED
        if not source.is_file():
            return {}
        raw = source.read_bytes()
    else:
        raw = Path(path).read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        if meta.get("feature_version") != FEATURE_VERSION:
            return {}
        rows, offsets = data["rows"].astype(np.float64), data["offsets"]
    keys = meta["keys"]
    return {k: rows[offsets[i] : offsets[i + 1]] for i, k in enumerate(keys)}


def save_shipped(features: Mapping[str, np.ndarray], path: Path, **provenance: Any) -> None:
    """Write ``features`` as one compressed file (rows concatenated, float32)."""
    keys = sorted(features)
    offsets = np.cumsum([0] + [len(features[k]) for k in keys])
    rows = np.concatenate([features[k] for k in keys]).astype(np.float32)
    meta = {"feature_version": FEATURE_VERSION, "columns": COLUMNS, "keys": keys, **provenance}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        rows=rows,
        offsets=offsets,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    write_atomic(path, buffer.getvalue())


def features_of(
    model: str, size: int | tuple[int, int], *, dtype: str = "fp32", trace: bool = True
) -> np.ndarray | None:
    """The features of timm ``model`` at ``size``: shipped, cached, or traced now and cached.

    Args:
        model: a timm architecture name.
        size: the square side or ``(h, w)``.
        dtype: ``fp32`` or ``amp`` (the target's ``features_dtype``).
        trace: False answers only from the shipped file and the cache (None if absent).

    Returns:
        The ``(n, 5)`` array, or None when not stored and ``trace`` is False.

    Raises:
        ArchcalcError: the model is unknown or does not run at ``size`` (when traced).
    """
    key = key_of(model, size, dtype)
    found = load_shipped().get(key)
    if found is None:
        found = cached_features(key)
    if found is None and trace:
        _, log = _traced(model, size, 1, 3, None, True)
        for kind in DTYPES:
            store_features(key_of(model, size, kind), compact(log.kernels(kind)))
        found = compact(log.kernels(dtype))
    return found
