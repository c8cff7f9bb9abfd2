"""JSON Schemas of archcalc's results, generated from the result dataclasses themselves.

Each result's JSON object is written by ``archcalc.serialize`` from its fields and their
metadata, and its schema is generated from the same metadata, so the two cannot drift. The
schemas ship as ``archcalc/schemas/<name>.json`` (draft 2020-12), for scripts that validate
archcalc's output; ``python -m archcalc.schemas`` rewrites them after a result changes, and
``python -m archcalc.schemas --check`` (and the tests) fail while a shipped file is stale.

Example:
    >>> import archcalc.schemas
    >>> archcalc.schemas.load("profile")["title"]
    'Profile'
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

__all__ = ["FOLDER", "NAMES", "generate", "load", "render", "stale", "write"]

#: Where the shipped schema files live (package data).
FOLDER = Path(__file__).resolve().parent

#: Schema name -> (module, result class) of every result written as JSON; the public ones
#: through ``archcalc`` itself, so a module that moves keeps its schema.
_RESULTS = {
    "profile": ("archcalc", "Profile"),
    "timing": ("archcalc", "Timing"),
    "bench": ("archcalc.timing.stats", "BenchReport"),
    "scaling": ("archcalc", "Scaling"),
    "suggestion": ("archcalc", "Suggestion"),
    "validity": ("archcalc", "Validity"),
    "size_range": ("archcalc.sizes.validity", "SizeRange"),
    "sweep_summary": ("archcalc", "SweepSummary"),
    "merge_summary": ("archcalc.sweep.merge", "MergeSummary"),
    "report_summary": ("archcalc.report.rows", "Summary"),
    "prediction": ("archcalc.timing.predict.model", "Prediction"),
    "dataset": ("archcalc.datasets.stats", "DatasetStats"),
}
#: Every schema shipped: the results above, ``sweep_line`` (one line of a sweep file) and
#: ``target`` (a device profile file, declared in ``archcalc.timing.predict.targets``).
NAMES = (*_RESULTS, "sweep_line", "target")


def _result(name: str) -> type:
    module, cls = _RESULTS[name]
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def generate() -> dict[str, dict[str, Any]]:
    """Every schema, generated from the dataclasses now (name -> schema).

    Returns:
        ``{name: schema}`` for each of ``NAMES``.

    Example: ``generate()["timing"]["properties"]["median_s"]`` is ``{'type': 'number'}``.
    """
    from archcalc.serialize import json_schema
    from archcalc.timing.predict.targets import target_schema

    schemas = {name: json_schema(_result(name)) for name in _RESULTS}
    schemas["sweep_line"] = _sweep_line()
    _with_prediction(schemas)
    schemas["target"] = target_schema()
    return schemas


def _with_prediction(schemas: dict[str, dict[str, Any]]) -> None:
    """The optional keys the CLI adds beside a result: ``inspect --latency`` a ``timing`` and
    ``inspect --target`` a ``prediction`` on each profile, ``scale --target`` a ``prediction``
    on each point (optional: a result printed without those options has neither)."""
    timing, prediction = schemas["timing"], schemas["prediction"]
    profile, scaling = schemas["profile"], schemas["scaling"]
    for schema in (profile, scaling):
        defs = schema.setdefault("$defs", {})
        defs |= prediction.get("$defs", {}) | {"Prediction": _body(prediction)}
        schema["$defs"] = dict(sorted(defs.items()))
    profile["$defs"] = dict(sorted((profile["$defs"] | {"Timing": _body(timing)}).items()))
    profile["properties"] |= {
        "timing": {"$ref": "#/$defs/Timing"},
        "prediction": {"$ref": "#/$defs/Prediction"},
    }
    scaling["$defs"]["ScalePoint"]["properties"]["prediction"] = {"$ref": "#/$defs/Prediction"}


def _sweep_line() -> dict[str, Any]:
    """A sweep line: a profile plus ``status: ok`` (with ``--latency`` the median and the
    timing without its samples; with ``--target`` the PREDICTED ``prediction``), or an error
    line; either carries ``profile_s``."""
    from archcalc.results import Profile
    from archcalc.serialize import DIALECT, json_schema
    from archcalc.sweep.run import ErrorLine
    from archcalc.timing.predict.model import Prediction
    from archcalc.timing.stats import Timing

    seconds = {"type": "number"}
    ok = json_schema(Profile, extra={"status": {"const": "ok"}, "error": {"type": "null"}})
    latency = json_schema(Timing)
    del latency["properties"]["samples_s"]
    latency["required"].remove("samples_s")
    prediction = json_schema(Prediction)
    ok["properties"] |= {
        "latency_s": seconds,
        "latency": _body(latency),
        "prediction": _body(prediction),
    }
    failed = json_schema(ErrorLine)
    failed["properties"]["status"] = {"const": "error"}
    variants = []
    for schema in (ok, failed):
        schema["properties"]["profile_s"] = seconds
        schema["required"].append("profile_s")
        variants.append(_body(schema))
    defs = ok.get("$defs", {}) | latency.get("$defs", {}) | failed.get("$defs", {})
    defs |= prediction.get("$defs", {})
    return {
        "$schema": DIALECT,
        "title": "SweepLine",
        "description": "One line of an `archcalc sweep` file: a profile (status ok) or an error.",
        "oneOf": variants,
        "$defs": dict(sorted(defs.items())),
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("$schema", "$defs")}


def load(name: str) -> dict[str, Any]:
    """The shipped schema ``name`` (one of ``NAMES``), read from the package.

    Args:
        name: e.g. ``profile``, ``timing``, ``suggestion``, ``scaling``, ``sweep_line``.

    Returns:
        The JSON Schema as a dict.

    Raises:
        InvalidArgumentError: ``name`` is not one of ``NAMES``.

    Example: ``jsonschema.validate(profile.to_dict(), archcalc.schemas.load("profile"))``.
    """
    from archcalc.errors import InvalidArgumentError

    if name not in NAMES:
        raise InvalidArgumentError(f"no schema {name!r}: choose one of {', '.join(NAMES)}")
    return json.loads((FOLDER / f"{name}.json").read_text())  # type: ignore[no-any-return]


def render(schema: dict[str, Any]) -> str:
    """The file text of one schema (two-space indent, a final newline)."""
    return json.dumps(schema, indent=2) + "\n"


def write(folder: Path = FOLDER) -> list[Path]:
    """Regenerate every schema file in ``folder`` (the package's own by default).

    Returns:
        The files written.

    Example: ``python -m archcalc.schemas`` runs ``write()``.
    """
    from archcalc.files import write_atomic

    written = []
    for name, schema in generate().items():
        path = folder / f"{name}.json"
        write_atomic(path, render(schema))
        written.append(path)
    return written


def stale(folder: Path = FOLDER) -> list[str]:
    """Names whose file in ``folder`` differs from the generated schema (or is missing)."""
    return [
        name
        for name, schema in generate().items()
        if not (folder / f"{name}.json").exists()
        or (folder / f"{name}.json").read_text() != render(schema)
    ]
