"""Measured tables in and predicted tables out: timm ``benchmark.py`` CSVs and archcalc's own
``bench --format json`` output, read into rows of (model, size, batch, samples/s).

A CSV needs the columns ``model``, ``infer_img_size``, ``infer_batch_size`` (and, to
calibrate, ``infer_samples_per_sec``); a missing one is a one-line error naming it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from archcalc.display import render_table
from archcalc.errors import BadFileError, InvalidArgumentError
from archcalc.files import check_json

__all__ = ["Deployment", "Measured", "deployment_of", "read_table", "write_predicted"]

PREDICT_COLUMNS = ("model", "infer_img_size", "infer_batch_size")
THROUGHPUT = "infer_samples_per_sec"


@dataclass(frozen=True)
class Measured:
    """One row of a measured table; ``samples_per_sec`` None when the row has no usable one
    (missing, zero, negative or not a number). ``raw`` is the row as read (written back)."""

    model: str
    size: int
    batch_size: int
    samples_per_sec: float | None
    raw: dict[str, str]


@dataclass(frozen=True)
class Deployment:
    """How a table was measured, as far as its file name says (None: the name does not say):
    device kind, dtype (torch's name: timm's ``amp`` is ``float16``, ``fp32`` ``float32``),
    ``torch.compile`` or eager, memory layout and the torch version."""

    kind: str | None = None
    dtype: str | None = None
    compiled: bool | None = None
    layout: str | None = None
    torch_version: str | None = None


#: timm's dtype names in its file names (``benchmark.py --amp`` is float16 autocast), as torch's.
_TIMM_DTYPES = {"amp": "float16", "fp32": "float32"}


def deployment_of(file_name: str) -> Deployment:
    """What a timm ``benchmark.py`` file name says about its measurement.

    timm names its tables ``benchmark-infer-{amp|fp32}-{nchw|nhwc}-pt{torch}-{cuXXX|cpu}-
    {device}[-dynamo].csv``; ``amp`` is float16 autocast (``benchmark.py --amp``), ``-dynamo``
    marks ``torch.compile``. A part missing from the
    name is None (the caller's flag or default decides).

    Example:
        >>> d = deployment_of("benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv")
        >>> d.kind, d.dtype, d.compiled, d.layout, d.torch_version
        ('gpu', 'float16', False, 'channels_last', '2.4.0')
    """
    parts = re.split(r"[-_.]", file_name.lower())
    cuda = any(re.fullmatch(r"cu\d+", t) for t in parts)
    kind = "cpu" if "cpu" in parts else "gpu" if cuda else None
    dtype = next((_TIMM_DTYPES[t] for t in parts if t in _TIMM_DTYPES), None)
    layout = {"nhwc": "channels_last", "nchw": "nchw"}
    found = next((layout[t] for t in parts if t in layout), None)
    version = next((t[2:] for t in parts if re.fullmatch(r"pt\d{3,4}", t)), None)
    compiled = "dynamo" in parts or "inductor" in parts
    timm_name = found is not None or dtype is not None  # then no -dynamo means eager
    return Deployment(
        kind=kind,
        dtype=dtype,
        compiled=compiled if compiled or timm_name else None,
        layout=found,
        torch_version=f"{version[0]}.{version[1:-1]}.{version[-1]}" if version else None,
    )


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


_POSITIVE = {"type": "integer", "minimum": 1}
#: The part of an ``archcalc bench --format json`` document a table reads (its ``timing``
#: is null where a row failed).
_BENCH = {
    "type": "object",
    "required": ["model", "rows"],
    "properties": {
        "model": {"type": "string"},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["input"],
                "properties": {
                    "input": {
                        "type": "object",
                        "required": ["height", "width", "batch_size"],
                        "properties": dict.fromkeys(("height", "width", "batch_size"), _POSITIVE),
                    },
                    "timing": {"type": ["object", "null"]},
                },
            },
        },
    },
}


def _bench_json(text: str, where: str) -> list[Measured]:
    """Rows of one or more ``archcalc bench --format json`` documents (one per line or one)."""
    rows: list[Measured] = []
    decoder, i, n = json.JSONDecoder(), 0, 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        try:
            doc, i = decoder.raw_decode(text, i)
        except ValueError as e:
            raise BadFileError(where, f"not archcalc bench JSON ({e.msg})") from e
        n += 1
        try:
            check_json(doc, _BENCH)
        except InvalidArgumentError as e:
            raise BadFileError(where, f"not archcalc bench JSON (document {n}: {e})") from e
        for r in doc["rows"]:
            inp, timing = r["input"], r.get("timing") or {}
            h, w = inp["height"], inp["width"]
            if h != w:
                continue  # the tables are square; a non-square row cannot be keyed
            sps = _number(str(timing.get("images_per_s", "")))
            raw = {"model": doc["model"], "infer_img_size": str(h)}
            raw |= {"infer_batch_size": str(inp["batch_size"]), THROUGHPUT: str(sps or "")}
            rows.append(Measured(doc["model"], h, inp["batch_size"], sps, raw))
    return rows


def read_table(path: Path, *, need_throughput: bool) -> tuple[list[Measured], list[str]]:
    """The rows of a measured table and its column names.

    Args:
        path: a timm benchmark CSV, or archcalc bench JSON (``.json``/``.jsonl``).
        need_throughput: require ``infer_samples_per_sec`` (calibration).

    Raises:
        InvalidArgumentError: unreadable file, missing columns, or a bad size/batch cell.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"cannot read {path}: {e}") from e
    if path.suffix in (".json", ".jsonl") or text.lstrip().startswith("{"):
        rows = _bench_json(text, str(path))
        return rows, [*PREDICT_COLUMNS, THROUGHPUT]
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    wanted = [*PREDICT_COLUMNS, *([THROUGHPUT] if need_throughput else [])]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise InvalidArgumentError(
            f"{path}: missing column(s) {', '.join(missing)} (timm benchmark.py CSV has "
            f"{', '.join(wanted)})"
        )
    rows = []
    for n, row in enumerate(reader, start=2):
        try:
            size, batch = int(row["infer_img_size"]), int(row["infer_batch_size"])
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"{path} line {n}: size and batch must be integers") from e
        if size <= 0 or batch <= 0:
            raise InvalidArgumentError(f"{path} line {n}: size and batch must be positive")
        rows.append(Measured(row["model"], size, batch, _number(row.get(THROUGHPUT)), row))
    return rows, columns


def write_predicted(
    rows: list[tuple[Measured, float | None, float | None]], columns: list[str], fmt: str
) -> str:
    """The table written back with ``pred_samples_per_sec`` and ``pred_latency_ms`` added
    (empty where the model could not be predicted): csv, json or a plain table."""
    added = ["pred_samples_per_sec", "pred_latency_ms"]
    records = []
    for measured, sps, ms in rows:
        extra = ["" if sps is None else f"{sps:.2f}", "" if ms is None else f"{ms:.3f}"]
        records.append(
            {
                **{c: measured.raw.get(c, "") for c in columns},
                **dict(zip(added, extra, strict=True)),
            }
        )
    if fmt == "json":
        return json.dumps(records, indent=1)
    if fmt == "csv":  # archcalc's one CSV writer: no cell runs as a formula in a spreadsheet
        return render_table([*columns, *added], [list(r.values()) for r in records], "csv")
    from tabulate import tabulate

    return tabulate([list(r.values()) for r in records], headers=[*columns, *added])
