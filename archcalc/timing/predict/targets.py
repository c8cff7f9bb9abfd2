"""Device profiles ("targets"): the ones shipped with archcalc, saved ones, and loading a file.

Shipped targets live in ``archcalc/data/targets/NAME.json``; ``archcalc calibrate`` saves to
``$XDG_CACHE_HOME/archcalc/targets/NAME.json`` (or ``--out``; a NAME is never a path). A
target file is JSON with ``"format": "archcalc-target"`` and a ``version``, checked against
``target_schema`` (shipped as ``archcalc/schemas/target.json``) on every load; anything else
is refused with one line saying what is wrong, and ``archcalc targets`` lists a saved file
that does not load as broken. ``--target`` takes a name (saved first, then shipped) or a path
to a file. A target's dtype is ``float32``, ``float16`` or ``bfloat16`` (half precisions under
autocast, as ``bench`` runs them), in its file too. Its ``source.features`` records the
feature version, torch and timm its fit used; a target used with other ones warns once
(``DataVersionWarning``). A CPU target calibrated on this machine (``calibrate --device cpu``)
keeps its measured memory curve (``memory_curve``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from archcalc.checks import DTYPES
from archcalc.core.ops import COMPUTE_CLASSES, OP_CLASSES
from archcalc.errors import BadFileError, InvalidArgumentError
from archcalc.files import check_json, parse_json, read_json, write_atomic
from archcalc.serialize import DIALECT
from archcalc.system import cache_dir
from archcalc.timing.predict.features import feature_dtype, version_mismatch, warn_once
from archcalc.timing.predict.model import Deployment, DeviceProfile, MemoryCurve

__all__ = [
    "FORMAT",
    "LAYOUTS",
    "PRIOR_ORDER",
    "broken_targets",
    "calibration_prior",
    "check_target_name",
    "known_targets",
    "load_target",
    "prior_for",
    "save_target",
    "target_schema",
    "target_to_dict",
]

FORMAT = "archcalc-target"
#: Memory layouts a target can be measured with (``channels_last``: NHWC, timm's ``nhwc``).
LAYOUTS = ("nchw", "channels_last")
#: 2: float16 targets read autocast's own bytes (``bytes_scale`` 1, no longer 0.5).
#: 3: an optional ``memory_curve`` (a CPU's bandwidth by working set).
#: 4: the op classes of feature version 5 (``batch_norm``, ``pool``, ``concat``, ``cast``,
#: ``clone`` apart); an older file has no constants for them and is refused.
VERSION = 4
READS = (4,)
#: What a target NAME may be (it becomes a file name in the saved-targets folder).
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def prior_for(kind: str, dtype: str) -> DeviceProfile:
    """A generic starting device for a fit (order-of-magnitude constants of a current GPU
    under float16 autocast or a laptop CPU at float32); calibration moves every constant."""
    gpu = kind == "gpu"
    rate = dict.fromkeys(COMPUTE_CLASSES, 5e13 if gpu else 2e11)
    rate["depthwise_conv"] = rate["conv"] / 20
    return DeviceProfile(
        name=f"generic-{kind}",
        kind=kind,
        dtype=dtype,
        bytes_scale=1.0,  # the features hold each dtype's own bytes
        rate=rate,
        bandwidth=dict.fromkeys(OP_CLASSES, 6e11 if gpu else 2e10),
        overhead=dict.fromkeys(OP_CLASSES, 3e-6 if gpu else 5e-6),
        fixed=1e-4,
        description="generic prior",
    )


#: Shipped targets in the order a calibration prefers them as its start, among those that
#: match its deployment equally well (a desktop GPU of the current generation first).
PRIOR_ORDER = ("rtx4090", "rtx5090", "rtx5090-compiled", "rtx3090", "rtx3090-nhwc", "i7-12700h")


def calibration_prior(
    kind: str, dtype: str, *, compiled: bool = False, layout: str = "nchw"
) -> DeviceProfile:
    """What ``calibrate`` starts from and pulls towards: the shipped target of the same kind
    and dtype that matches the deployment best (compilation and layout both, else one of them,
    then ``PRIOR_ORDER``), else the generic prior. With 20-30 measured rows, a real device
    is a far better prior than round numbers."""
    candidates = []
    for name, entry in _shipped().items():
        target = _shipped_target(name, entry)
        if (target.kind, feature_dtype(target.dtype)) != (kind, feature_dtype(dtype)):
            continue
        misses = (target.deployment.compiled != compiled) + (target.deployment.layout != layout)
        rank = PRIOR_ORDER.index(name) if name in PRIOR_ORDER else len(PRIOR_ORDER)
        candidates.append((misses, rank, name, target))
    if not candidates:
        return prior_for(kind, dtype)
    return min(candidates, key=lambda c: c[:3])[3]


def target_to_dict(target: DeviceProfile) -> dict[str, Any]:
    """The JSON object of a target file (``memory_curve`` only when the target has one)."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": target.name,
        "description": target.description,
        "kind": target.kind,
        "dtype": target.dtype,
        "bytes_scale": target.bytes_scale,
        "compiled": target.deployment.compiled,
        "layout": target.deployment.layout,
        "torch_version": target.deployment.torch_version,
        "constants": {
            "rate_macs_per_s": target.rate,
            "bandwidth_bytes_per_s": target.bandwidth,
            "overhead_s_per_kernel": target.overhead,
            "fixed_s_per_call": target.fixed,
        },
        "source": target.source,
        "error": target.error,
    }
    curve = target.deployment.memory_curve
    if curve is not None:
        data["memory_curve"] = {
            "working_set_bytes": list(curve.sizes),
            "bandwidth_bytes_per_s": list(curve.bandwidth),
        }
    return data


def target_schema() -> dict[str, Any]:
    """The JSON Schema of a target file: every file is checked against it when loaded (and
    every profile before it is saved), and it ships as ``archcalc/schemas/target.json``.
    Keys it does not name are allowed (ignored when read)."""
    positive = {"type": "number", "exclusiveMinimum": 0}
    percent = {"type": "number", "minimum": 0}
    span = {  # [low, high] of the measured rows: where the error holds
        "type": "array",
        "items": {"type": "integer", "minimum": 1},
        "minItems": 2,
        "maxItems": 2,
    }

    def per_class(classes: tuple[str, ...]) -> dict[str, Any]:
        properties = dict.fromkeys(classes, positive)
        return {"type": "object", "required": list(classes), "properties": properties}

    def series(items: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": items, "minItems": 2}

    memory_curve = {
        "type": "object",
        "description": "Bandwidth by working set (bytes/s at each size, ascending bytes).",
        "required": ["working_set_bytes", "bandwidth_bytes_per_s"],
        "properties": {
            "working_set_bytes": series(positive),
            "bandwidth_bytes_per_s": series(positive),
        },
    }
    constants = {
        "rate_macs_per_s": per_class(COMPUTE_CLASSES),
        "bandwidth_bytes_per_s": per_class(OP_CLASSES),
        "overhead_s_per_kernel": per_class(OP_CLASSES),
        "fixed_s_per_call": positive,
    }
    error = {
        "type": "object",
        "description": "The measured prediction error; empty when not measured.",
        "properties": {
            "median_pct": percent,
            "p90_pct": percent,
            "method": {"type": "string"},
            "batch_sizes": span,
            "input_sizes": span,
        },
        "if": {"minProperties": 1},
        "then": {"required": ["median_pct", "p90_pct"]},
    }
    return {
        "$schema": DIALECT,
        "title": "Target",
        "description": "A device profile for --target (archcalc calibrate writes one).",
        "type": "object",
        "required": ["format", "version", "name", "kind", "dtype", "bytes_scale", "constants"],
        "properties": {
            "format": {"const": FORMAT},
            "version": {"enum": list(READS)},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "kind": {"enum": ["gpu", "cpu"]},
            "dtype": {"type": "string"},
            "bytes_scale": positive,
            "compiled": {"type": "boolean"},
            "layout": {"enum": list(LAYOUTS)},
            "torch_version": {"type": "string"},
            "constants": {"type": "object", "required": list(constants), "properties": constants},
            "source": {"type": "object"},
            "error": error,
            "memory_curve": memory_curve,
        },
    }


def _from_dict(data: Any, where: str) -> DeviceProfile:
    """The profile of a target file's JSON, checked against ``target_schema``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BadFileError(where, f"not an archcalc target file (no format {FORMAT})")
    if data.get("version") not in READS:
        raise BadFileError(
            where,
            f"target file version {data.get('version')!r}, this archcalc reads "
            f"{' and '.join(map(str, READS))}: calibrate it again (archcalc calibrate)",
        )
    try:
        check_json(data, target_schema())
    except InvalidArgumentError as e:
        raise BadFileError(where, f"corrupted target file ({e})") from e
    dtype = data["dtype"]
    if dtype not in DTYPES:
        raise BadFileError(
            where,
            f"dtype {dtype!r} is none of {', '.join(DTYPES)}: calibrate it again "
            "(archcalc calibrate)",
        )
    c = data["constants"]
    return DeviceProfile(
        name=data["name"],
        kind=data["kind"],
        dtype=dtype,
        bytes_scale=float(data["bytes_scale"]),
        rate={k: float(c["rate_macs_per_s"][k]) for k in COMPUTE_CLASSES},
        bandwidth={k: float(c["bandwidth_bytes_per_s"][k]) for k in OP_CLASSES},
        overhead={k: float(c["overhead_s_per_kernel"][k]) for k in OP_CLASSES},
        fixed=float(c["fixed_s_per_call"]),
        deployment=Deployment(
            data.get("compiled", False),
            data.get("layout", "nchw"),
            data.get("torch_version", ""),
            _curve(where, data.get("memory_curve")),
        ),
        description=data.get("description", ""),
        source=dict(data.get("source") or {}),
        error=dict(data.get("error") or {}),
    )


def _curve(where: str, data: dict[str, list[float]] | None) -> MemoryCurve | None:
    """A target file's memory curve (None without one): as many bandwidths as sizes, the
    sizes ascending."""
    if data is None:
        return None
    sizes, bandwidth = data["working_set_bytes"], data["bandwidth_bytes_per_s"]
    if len(sizes) != len(bandwidth) or any(a >= b for a, b in itertools.pairwise(sizes)):
        raise BadFileError(
            where,
            "corrupted target file (memory_curve: as many bandwidths as working sets, the "
            "working sets ascending)",
        )
    return MemoryCurve(tuple(map(float, sizes)), tuple(map(float, bandwidth)))


def read_target_file(path: Path) -> DeviceProfile:
    """Load a target file; a missing, unreadable, corrupted or foreign file is one-line error
    (``BadFileError`` naming what is wrong, when the file could be read)."""
    return _from_dict(read_json(path, "an archcalc target file"), str(path))


def saved_folder() -> Path:
    """Where ``calibrate`` saves targets by default."""
    return cache_dir() / "targets"


def _shipped() -> dict[str, Any]:
    folder = resources.files("archcalc") / "data" / "targets"
    if not folder.is_dir():
        return {}
    return {p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".json")}


def _shipped_target(name: str, entry: Any) -> DeviceProfile:
    where = f"shipped {name}"
    return _from_dict(parse_json(entry.read_bytes(), where, "an archcalc target file"), where)


def _saved() -> dict[str, tuple[str, DeviceProfile | InvalidArgumentError]]:
    """Every saved target file: name -> (path, its profile, or why it cannot be loaded)."""
    folder = saved_folder()
    found: dict[str, tuple[str, DeviceProfile | InvalidArgumentError]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            found[path.stem] = (str(path), read_target_file(path))
        except InvalidArgumentError as e:
            found[path.stem] = (str(path), e)
    return found


def known_targets() -> dict[str, tuple[str, DeviceProfile]]:
    """Every target that loads, by name: ``(where, profile)``, where is ``shipped`` or the
    saved path; a saved target shadows a shipped one of the same name."""
    found = {n: ("shipped", _shipped_target(n, e)) for n, e in sorted(_shipped().items())}
    for name, (where, device) in _saved().items():
        if isinstance(device, DeviceProfile):
            found[name] = (where, device)
    return found


def broken_targets() -> dict[str, tuple[str, str]]:
    """The saved target files that do not load: name -> (path, what is wrong with it)."""
    return {
        name: (where, error.problem if isinstance(error, BadFileError) else str(error))
        for name, (where, error) in _saved().items()
        if not isinstance(error, DeviceProfile)
    }


def check_target_name(name: str) -> str:
    """``name`` if it can name a saved target (letters, digits, ``.``, ``_``, ``-``, not
    starting with a dot): a name is never a path; paths go through ``--out``."""
    if not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"target name {name!r} is not a name (letters, digits, '.', '_', '-'; not starting "
            "with '.'): to write a file elsewhere, give --out PATH"
        )
    return name


def load_target(spec: str) -> DeviceProfile:
    """A target by name (saved, then shipped) or by path (``.json`` or any existing file).

    A target fitted on features of another feature version, torch or timm warns once
    (``DataVersionWarning``): its error band was measured with those.

    Raises:
        InvalidArgumentError: unknown name (the message lists the known ones), or a bad file
            (``BadFileError``: a saved target of that name that does not load says why).

    Example:
        >>> load_target("rtx4090").dtype
        'float16'
    """
    path = Path(spec)
    if spec.endswith(".json") or os.sep in spec or path.is_file():
        target = read_target_file(path)
    else:
        saved = saved_folder() / f"{spec}.json"
        shipped = _shipped()
        if _NAME.fullmatch(spec) and saved.is_file():
            target = read_target_file(saved)
        elif spec in shipped:
            target = _shipped_target(spec, shipped[spec])
        else:
            names = ", ".join(known_targets()) or "none"
            raise InvalidArgumentError(f"unknown target {spec!r}; known targets: {names}")
    mismatch = version_mismatch(target.source.get("features") or {}, f"target {target.name}")
    if mismatch:
        warn_once(f"{mismatch}: its error band may not hold")
    return target


def save_target(target: DeviceProfile, out: Path | None = None) -> Path:
    """Write ``target`` to ``out`` or to the saved-targets folder (atomically); the path
    written. A profile that its own schema refuses (a constant not finite or not positive,
    a name that is a path) is refused before anything is written, so a saved target is never
    replaced by a broken one."""
    if out is None:
        out = saved_folder() / f"{check_target_name(target.name)}.json"
    data = target_to_dict(target)
    try:
        check_json(data, target_schema())
    except InvalidArgumentError as e:
        raise InvalidArgumentError(f"not saving {target.name!r} to {out}: {e}") from e
    write_atomic(out, json.dumps(data, indent=2, allow_nan=False) + "\n")
    return out
