"""Device profiles ("targets"): the ones shipped with archcalc, saved ones, and loading a file.

Shipped targets live in ``archcalc/data/targets/NAME.json``; ``archcalc calibrate`` saves to
``$XDG_CACHE_HOME/archcalc/targets/NAME.json`` (or ``--out``). A target file is JSON with
``"format": "archcalc-target"`` and a ``version``; anything else is refused with one line.
``--target`` takes a name (saved first, then shipped) or a path to a file. A target's dtype is
``float32``, ``float16`` or ``bfloat16`` (half precisions under autocast, as ``bench`` runs
them); a file's ``amp``/``fp32`` (version 2, timm's table names) read as float16/float32. Its
``source.features`` records the feature version, torch and timm its fit used; a target used
with other ones warns once (``DataVersionWarning``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from archcalc.core.ops import COMPUTE_CLASSES, OP_CLASSES
from archcalc.errors import InvalidArgumentError
from archcalc.system import cache_dir
from archcalc.timing.predict.features import feature_dtype, version_mismatch, warn_once
from archcalc.timing.predict.model import DeviceProfile
from archcalc.timing.stats import DTYPES

__all__ = [
    "FORMAT",
    "LAYOUTS",
    "PRIOR_ORDER",
    "calibration_prior",
    "known_targets",
    "load_target",
    "prior_for",
    "save_target",
    "target_to_dict",
]

FORMAT = "archcalc-target"
#: Memory layouts a target can be measured with (``channels_last``: NHWC, timm's ``nhwc``).
LAYOUTS = ("nchw", "channels_last")
#: 2: ``amp`` targets read autocast's own bytes (``bytes_scale`` 1, no longer 0.5).
VERSION = 2
#: The dtype names of timm's tables (and of version-2 files), read as torch's.
DTYPE_NAMES = {"amp": "float16", "fp32": "float32"}


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
        target = _from_dict(json.loads(entry.read_text()), f"shipped {name}")
        if (target.kind, feature_dtype(target.dtype)) != (kind, feature_dtype(dtype)):
            continue
        misses = (target.compiled != compiled) + (target.layout != layout)
        rank = PRIOR_ORDER.index(name) if name in PRIOR_ORDER else len(PRIOR_ORDER)
        candidates.append((misses, rank, name, target))
    if not candidates:
        return prior_for(kind, dtype)
    return min(candidates, key=lambda c: c[:3])[3]


def target_to_dict(target: DeviceProfile) -> dict[str, Any]:
    """The JSON object of a target file."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": target.name,
        "description": target.description,
        "kind": target.kind,
        "dtype": target.dtype,
        "bytes_scale": target.bytes_scale,
        "compiled": target.compiled,
        "layout": target.layout,
        "torch_version": target.torch_version,
        "constants": {
            "rate_macs_per_s": target.rate,
            "bandwidth_bytes_per_s": target.bandwidth,
            "overhead_s_per_kernel": target.overhead,
            "fixed_s_per_call": target.fixed,
        },
        "source": target.source,
        "error": target.error,
    }


def _from_dict(data: Any, where: str) -> DeviceProfile:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidArgumentError(f"{where} is not an archcalc target file (no format {FORMAT})")
    if data.get("version") != VERSION:
        raise InvalidArgumentError(
            f"{where}: target file version {data.get('version')!r}, this archcalc reads "
            f"{VERSION}: calibrate it again (archcalc calibrate)"
        )
    try:
        c = data["constants"]
        rate = {k: float(c["rate_macs_per_s"][k]) for k in COMPUTE_CLASSES}
        bandwidth = {k: float(c["bandwidth_bytes_per_s"][k]) for k in OP_CLASSES}
        overhead = {k: float(c["overhead_s_per_kernel"][k]) for k in OP_CLASSES}
        dtype = DTYPE_NAMES.get(str(data["dtype"]), str(data["dtype"]))
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r}")
        device = DeviceProfile(
            name=str(data["name"]),
            kind=str(data["kind"]),
            dtype=dtype,
            bytes_scale=float(data["bytes_scale"]),
            rate=rate,
            bandwidth=bandwidth,
            overhead=overhead,
            fixed=float(c["fixed_s_per_call"]),
            compiled=data.get("compiled", False),
            layout=str(data.get("layout", "nchw")),
            torch_version=str(data.get("torch_version", "")),
            description=str(data.get("description", "")),
            source=dict(data.get("source") or {}),
            error=dict(data.get("error") or {}),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{where}: corrupted target file (missing or bad {e})") from e
    if device.layout not in LAYOUTS or not isinstance(device.compiled, bool):
        raise InvalidArgumentError(f"{where}: corrupted target file (compiled or layout)")
    values = [*rate.values(), *bandwidth.values(), *overhead.values(), device.fixed]
    if not all(v > 0 and v != float("inf") for v in [*values, device.bytes_scale]):
        raise InvalidArgumentError(f"{where}: corrupted target file (a constant is not positive)")
    return device


def read_target_file(path: Path) -> DeviceProfile:
    """Load a target file; a missing, unreadable, corrupted or foreign file is one-line error."""
    try:
        text = path.read_text()
    except OSError as e:
        raise InvalidArgumentError(f"cannot read target file {path}: {e.strerror}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InvalidArgumentError(f"{path} is not an archcalc target file (not JSON)") from e
    return _from_dict(data, str(path))


def saved_folder() -> Path:
    """Where ``calibrate`` saves targets by default."""
    return cache_dir() / "targets"


def _shipped() -> dict[str, Any]:
    folder = resources.files("archcalc") / "data" / "targets"
    if not folder.is_dir():
        return {}
    return {p.name[:-5]: p for p in folder.iterdir() if p.name.endswith(".json")}


def known_targets() -> dict[str, tuple[str, DeviceProfile]]:
    """Every target by name: ``(where, profile)``, where is ``shipped`` or the saved path;
    a saved target shadows a shipped one of the same name."""
    found: dict[str, tuple[str, DeviceProfile]] = {}
    for name, entry in sorted(_shipped().items()):
        found[name] = ("shipped", _from_dict(json.loads(entry.read_text()), f"shipped {name}"))
    folder = saved_folder()
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                found[path.stem] = (str(path), read_target_file(path))
            except InvalidArgumentError:
                continue  # a broken saved file is reported when asked for by path
    return found


def load_target(spec: str) -> DeviceProfile:
    """A target by name (saved, then shipped) or by path (``.json`` or any existing file).

    A target fitted on features of another feature version, torch or timm warns once
    (``DataVersionWarning``): its error band was measured with those.

    Raises:
        InvalidArgumentError: unknown name (the message lists the known ones), or a bad file.

    Example:
        >>> load_target("rtx4090").dtype
        'float16'
    """
    path = Path(spec)
    if spec.endswith(".json") or os.sep in spec or path.is_file():
        target = read_target_file(path)
    else:
        known = known_targets()
        if spec not in known:
            names = ", ".join(known) or "none"
            raise InvalidArgumentError(f"unknown target {spec!r}; known targets: {names}")
        target = known[spec][1]
    mismatch = version_mismatch(target.source.get("features") or {}, f"target {target.name}")
    if mismatch:
        warn_once(f"{mismatch}: its error band may not hold")
    return target


def save_target(target: DeviceProfile, out: Path | None = None) -> Path:
    """Write ``target`` to ``out`` or to the saved-targets folder; the path written."""
    path = out if out is not None else saved_folder() / f"{target.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(target_to_dict(target), indent=2) + "\n")
    os.replace(tmp, path)
    return path
