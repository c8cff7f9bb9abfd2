"""Compact per-op features of a model at one input size, and where they are kept.

A model's features are an ``(n, 5)`` float array, one row per distinct op: class index (in
``FEATURE_CLASSES``), MACs, activation bytes and weight bytes of ONE image, and how many
times that op runs (identical ops -- the 12 blocks of a ViT -- are merged), with a label per
row (``#i op``: the first of its runs in the trace). MACs and activation bytes scale with the
batch; weight bytes and the op count do not. A constant op (computed from weights alone, once
per forward) has no batch work: its row has no MACs and only weight bytes. Values are kept
at float32 precision (7 significant digits), traced or stored alike, so every source gives the
same numbers.

Each trace gives two sets (``FEATURE_DTYPES``): ``float32`` (every tensor float32, as a CPU
runs it) and ``float16`` (as CUDA float16 autocast runs it: float16 and float32 tensors, plus
its casts; see ``archcalc.core.ops``; bfloat16 autocast moves the same bytes and uses it too).

``op_features`` is the one function that gives them, to prediction, calibration and every
command alike. Lookup order for a timm name (default ``in_chans`` and ``output_stride``): the
features shipped with archcalc for every model of the published benchmark tables
(``archcalc/data/op_features.npz``), then the cache folder
(``$XDG_CACHE_HOME/archcalc/op_features/<torch>-<timm>/``), then a meta trace (then cached).
The shipped file records the feature version and the torch and timm it was traced with; a
mismatch is one ``DataVersionWarning`` (once), and a foreign feature version is not used.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archcalc.checks import check_dtype
from archcalc.errors import DataVersionWarning, InvalidArgumentError
from archcalc.files import write_atomic
from archcalc.system import cache_dir, installed_version

if TYPE_CHECKING:
    from torch import nn

    from archcalc.core.ops import OpCost, OpLog
    from archcalc.results import Profile

__all__ = [
    "FEATURE_DTYPES",
    "FEATURE_VERSION",
    "Features",
    "compact",
    "feature_dtype",
    "key_of",
    "load_shipped",
    "made_with",
    "op_features",
    "save_shipped",
    "trace_features",
    "version_mismatch",
    "warn_once",
]

#: Bumped whenever the op classes or byte rules change (old cached features are then ignored).
#: 4: an op no class fits is ``unknown``; counted MACs always get a compute class; bilinear
#: and bicubic resizes are data movement; labels stored; float32 precision everywhere.
#: 5: batch norm, pooling, concatenation/padding, dtype casts and clones are classes apart.
FEATURE_VERSION = 5
#: The feature sets of one trace (``OpLog.kernels``): float32, and float16 autocast.
FEATURE_DTYPES = ("float32", "float16")
COLUMNS = ("class", "macs", "activation_bytes", "weight_bytes", "count")
_SHIPPED = "op_features.npz"


@dataclass(frozen=True, eq=False)
class Features:
    """The features of one model at one size: ``rows`` (``(n, 5)``, ``COLUMNS``) and a label
    per row (``#i op``, the first of its runs in the trace)."""

    rows: np.ndarray
    labels: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.rows)


def feature_dtype(dtype: str) -> str:
    """The feature set a ``dtype`` (``float32``, ``float16`` or ``bfloat16``, as ``bench``
    takes them; half precisions under autocast) runs: ``float32`` or ``float16``.

    Raises:
        InvalidArgumentError: an unknown dtype.
    """
    return "float32" if check_dtype(dtype) == "float32" else "float16"


def key_of(
    model: str,
    size: int | tuple[int, int],
    dtype: str = "float32",
    *,
    reparameterize: bool = False,
    in_chans: int = 3,
    output_stride: int | None = None,
) -> str:
    """``model@HxW``, then ``@float16`` (the autocast set), ``@fused`` (reparameterized),
    ``@cN`` and ``@osN`` (non-default options): the name features are stored under."""
    h, w = (size, size) if isinstance(size, int) else size
    key = f"{model}@{h}x{w}" + ("" if feature_dtype(dtype) == "float32" else "@float16")
    key += "@fused" if reparameterize else ""
    key += "" if in_chans == 3 else f"@c{in_chans}"
    return key + ("" if output_stride is None else f"@os{output_stride}")


def compact(ops: Iterable[OpCost]) -> Features:
    """The features of one batch-1 trace's ops, identical ops merged (their count summed), in
    first-seen order, at float32 precision."""
    from archcalc.core.ops import FEATURE_CLASSES

    index = {c: i for i, c in enumerate(FEATURE_CLASSES)}
    merged: dict[tuple[int, float, float, int], int] = {}
    labels: list[str] = []
    for i, op in enumerate(ops):
        key = (index[op.cls], 0 if op.constant else op.macs, op.activation_bytes, op.weight_bytes)
        if key not in merged:
            labels.append(f"#{i} {op.op}")
        merged[key] = merged.get(key, 0) + 1
    rows = np.array([(*k, n) for k, n in merged.items()], dtype=np.float32).reshape(-1, 5)
    return Features(rows.astype(np.float64), tuple(labels))


def trace_features(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int] = 224,
    *,
    batch_size: int = 1,
    in_chans: int = 3,
    output_stride: int | None = None,
    reparameterize: bool = False,
    dtype: str = "float32",
) -> tuple[Profile, list[OpCost]]:
    """``profile()`` of ``model`` with its per-op costs (uncompacted) recorded on the same
    trace, as ``dtype`` (``float32``, ``float16``/``bfloat16`` autocast) runs them.

    Example:
        >>> profile, ops = trace_features("resnet18", 224)
        >>> ops[0].cls, ops[0].macs == 118013952
        ('conv', True)
    """
    kind = feature_dtype(dtype)
    profile, log = _traced(model, resolution, batch_size, in_chans, output_stride, reparameterize)
    return profile, log.kernels(kind)


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
    return _cache_folder() / f"{key.replace('/', '_')}.v{FEATURE_VERSION}.npz"


def cached_features(key: str) -> Features | None:
    """Features traced earlier under this torch/timm (None if absent or unreadable)."""
    try:
        with np.load(_cache_path(key), allow_pickle=False) as data:
            return Features(data["rows"].astype(np.float64), tuple(map(str, data["labels"])))
    except (OSError, ValueError, KeyError):
        return None


def store_features(key: str, features: Features) -> None:
    """Keep traced features in the cache folder (atomic write; a read-only cache is skipped)."""
    buffer = io.BytesIO()
    np.savez(buffer, rows=features.rows, labels=np.array(features.labels, dtype=str))
    with contextlib.suppress(InvalidArgumentError):
        write_atomic(_cache_path(key), buffer.getvalue())


@dataclass(frozen=True, eq=False)
class Shipped:
    """The shipped features: by ``key_of``, the models that have a ``@fused`` form, and the
    file's provenance (feature version, torch, timm, date, source)."""

    features: dict[str, Features]
    fusable: frozenset[str]
    meta: dict[str, Any]

    def get(
        self, model: str, size: tuple[int, int], dtype: str, reparameterize: bool
    ) -> Features | None:
        """The features of a shipped model (a model without a fused form has one trace)."""
        fused = reparameterize and model in self.fusable
        return self.features.get(key_of(model, size, dtype, reparameterize=fused))


def _base(version: str | None) -> str:
    """A version without its local part (``2.14.1+cu130`` -> ``2.14.1``): a CUDA build traces
    the same features."""
    return (version or "?").split("+")[0]


def version_mismatch(made: Mapping[str, Any], what: str) -> str | None:
    """One line saying how the feature version, torch and timm ``what`` was made with differ
    from this archcalc's (None when they match)."""
    if not made:
        return f"{what}: records no feature version, torch or timm (made before archcalc did)"
    theirs = (made.get("feature_version"), _base(made.get("torch")), _base(made.get("timm")))
    now = made_with()
    ours = (FEATURE_VERSION, _base(now["torch"]), _base(now["timm"]))
    if theirs == ours:
        return None
    return (
        f"{what}: made with feature version {theirs[0]}, torch {theirs[1]}, timm {theirs[2]}; "
        f"running feature version {ours[0]}, torch {ours[1]}, timm {ours[2]}"
    )


def made_with() -> dict[str, Any]:
    """The feature version, torch and timm features made now are made with (what shipped
    features and fitted targets record)."""
    versions = {k: installed_version(k) for k in ("torch", "timm")}
    return {"feature_version": FEATURE_VERSION, **versions}


@functools.cache
def warn_once(message: str) -> None:
    """Issue ``message`` as a ``DataVersionWarning``, once per process."""
    warnings.warn(message, DataVersionWarning, stacklevel=3)


@functools.cache
def load_shipped(path: str | None = None) -> Shipped:
    """The features shipped with archcalc (or read from ``path``). A file of another feature
    version is not used (models are traced instead) and another torch/timm is used; either
    warns once (``DataVersionWarning``)."""
    if path is None:
        source = resources.files("archcalc") / "data" / _SHIPPED
        if not source.is_file():
            return Shipped({}, frozenset(), {})
        raw = source.read_bytes()
    else:
        raw = Path(path).read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        mismatch = version_mismatch(meta, "the shipped op features (archcalc/data/op_features.npz)")
        if meta.get("feature_version") != FEATURE_VERSION:
            warn_once(f"{mismatch}: not used, every model is traced on the meta device")
            return Shipped({}, frozenset(), meta)
        if mismatch:
            warn_once(f"{mismatch}: used as they are (a model timm changed since is stale)")
        rows, offsets = data["rows"].astype(np.float64), data["offsets"]
        first, names = data["first"], [str(n) for n in data["names"]]
        which = data["name_index"]
    features = {}
    for i, key in enumerate(meta["keys"]):
        a, b = offsets[i], offsets[i + 1]
        labels = tuple(f"#{first[j]} {names[which[j]]}" for j in range(a, b))
        features[key] = Features(rows[a:b], labels)
    return Shipped(features, frozenset(meta.get("fusable", ())), meta)


def save_shipped(
    features: Mapping[str, Features], path: Path, fusable: Iterable[str], **provenance: Any
) -> None:
    """Write ``features`` as one compressed file: rows concatenated (float32), labels as the
    index of the first run and of the op name, ``fusable`` models (those with ``@fused`` keys)
    and the provenance in ``meta`` (feature version, torch, timm, date, source)."""
    keys = sorted(features)
    offsets = np.cumsum([0] + [len(features[k]) for k in keys])
    rows = np.concatenate([features[k].rows for k in keys]).astype(np.float32)
    split = [label[1:].split(" ", 1) for k in keys for label in features[k].labels]
    names = sorted({name for _, name in split})
    where = {name: i for i, name in enumerate(names)}
    meta = {"feature_version": FEATURE_VERSION, "columns": COLUMNS, "keys": keys, **provenance}
    meta["fusable"] = sorted(set(fusable))
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        rows=rows,
        offsets=offsets,
        first=np.array([int(i) for i, _ in split], dtype=np.int32),
        name_index=np.array([where[n] for _, n in split], dtype=np.int32),
        names=np.array(names, dtype=str),
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    write_atomic(path, buffer.getvalue())


def op_features(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int] = 224,
    *,
    dtype: str = "float32",
    reparameterize: bool = False,
    in_chans: int = 3,
    output_stride: int | None = None,
    trace: bool = True,
) -> Features | None:
    """The features of ``model`` at ``resolution``: shipped, cached, or traced now (at batch 1,
    on the meta device) and cached; the one source of features for every prediction.

    Args:
        model: a timm architecture name, or an ``nn.Module`` (always traced, never cached).
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        dtype: ``float32``, or ``float16``/``bfloat16`` under autocast (``feature_dtype``).
        reparameterize: the deploy form (timm's ``reparameterize_model``: RepVGG, MobileOne,
            FastViT...) instead of the trained one; False, the model as built, everywhere.
        in_chans, output_stride: as for ``archcalc.profile``.
        trace: False answers only from the shipped file and the cache (None if absent).

    Returns:
        The ``Features``, or None when not stored and ``trace`` is False.

    Raises:
        ArchcalcError: the model is unknown or does not run at ``resolution`` (when traced).

    Example:
        >>> op_features("resnet18", 224).rows[0, 1]  # the stem conv's MACs per image
        118013952.0
    """
    from archcalc.core.geometry import parse_resolution

    size = parse_resolution(resolution)
    kind = feature_dtype(dtype)
    if isinstance(model, str):
        options = {"reparameterize": reparameterize, "in_chans": in_chans}
        key = key_of(model, size, kind, **options, output_stride=output_stride)
        found = None
        if in_chans == 3 and output_stride is None:
            found = load_shipped().get(model, size, kind, reparameterize)
        if found is None:
            found = cached_features(key)
        if found is not None or not trace:
            return found
    _, log = _traced(model, size, 1, in_chans, output_stride, reparameterize)
    sets = {k: compact(log.kernels(k)) for k in FEATURE_DTYPES}
    if isinstance(model, str):
        for k, features in sets.items():
            opts = {"in_chans": in_chans, "output_stride": output_stride}
            store_features(key_of(model, size, k, reparameterize=reparameterize, **opts), features)
    return sets[kind]
