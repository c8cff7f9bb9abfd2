"""Presentation: tables (text, Markdown, CSV) and JSON from result objects; formats, never computes.

The only module that rounds numbers or imports tabulate. Every table says its units.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from archcalc.results import LayerRow, Pair, Profile

__all__ = [
    "FORMATS",
    "inspect_notes",
    "inspect_rows",
    "render_json",
    "render_table",
    "stage_rows",
]

FORMATS = ("table", "json", "markdown", "csv")
MB = 1024 * 1024


def size(pair: Pair | None, sep: str = "x") -> str:
    """``(448, 320)`` -> ``448x320``; a square map keeps both sides (``7x7``)."""
    return "-" if pair is None else f"{pair[0]}{sep}{pair[1]}"


def stride_text(pair: Pair | None) -> str:
    """A per-axis stride, written once when both axes agree."""
    if pair is None:
        return "-"
    return str(pair[0]) if pair[0] == pair[1] else size(pair)


def millions(count: int) -> str:
    return f"{count / 1e6:.2f}"


def billions(count: int) -> str:
    return f"{count / 1e9:.3f}" if count < 1e11 else f"{count / 1e9:.1f}"


def mebibytes(nbytes: int) -> str:
    return f"{nbytes / MB:.1f}"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> str:
    """Rows as a text table (``table``), GitHub Markdown (``markdown``) or ``csv``."""
    rows = [list(r) for r in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    from tabulate import tabulate

    style = "github" if fmt == "markdown" else "simple"
    return str(tabulate(rows, headers=list(headers), tablefmt=style, disable_numparse=True))


def render_json(value: Any) -> str:
    """Stable JSON: two-space indent, keys in schema order."""
    return json.dumps(value, indent=2)


INSPECT_HEADERS = (
    "model",
    "res",
    "stride",
    "k x k",
    "channels",
    "params (M)",
    "GMACs",
    "act. (MB)",
    "peak act. (MB)",
    "train step (MB)",
)


def inspect_rows(profiles: Sequence[Profile]) -> list[list[str]]:
    """One row per profile: model, resolution, stride, final map, channels, size and memory."""
    return [
        [
            p.model,
            size(p.resolution),
            stride_text(p.global_stride),
            size(p.final_map),
            "-" if p.final_channels is None else str(p.final_channels),
            millions(p.params),
            billions(p.macs),
            mebibytes(p.memory.activation_bytes),
            mebibytes(p.memory.peak_activation_bytes),
            mebibytes(p.memory.train_step_bytes),
        ]
        for p in profiles
    ]


STAGE_HEADERS = ("stage (module)", "map", "channels", "stride", "GMACs", "share")


def stage_rows(p: Profile) -> list[list[str]]:
    """Per-stage rows of one profile, with each stage's share of the total MACs."""
    total = p.macs or 1
    return [
        [
            s.name,
            "-" if s.height is None or s.width is None else size((s.height, s.width)),
            "-" if s.channels is None else str(s.channels),
            stride_text(s.stride),
            billions(s.macs),
            f"{100 * s.macs / total:.1f}%",
        ]
        for s in p.stages
    ]


def inspect_notes(profiles: Sequence[Profile]) -> list[str]:
    """Footnotes: units and convention, alignment, token prefixes, the k x k window."""
    if not profiles:
        return []
    first = profiles[0]
    notes = [
        f"MACs: multiply-accumulates at batch {first.batch_size}, convention {first.convention!r} "
        "(FLOPs = 2 x MACs); memory in MiB, float32; train step = Adam (weights, grads, "
        "2 moments) + activations saved for backward."
    ]
    for p in profiles:
        where = f"{p.model} at {size(p.resolution)}"
        if not p.aligned:
            below = "none" if p.aligned_below is None else size(p.aligned_below)
            notes.append(
                f"{where}: not a multiple of the global stride {stride_text(p.global_stride)}, "
                f"so the final map is {size(p.final_map)}; nearest aligned sizes: "
                f"{below} and {size(p.aligned_above)}."
            )
        if p.prefix_tokens:
            notes.append(
                f"{where}: tokens output, {p.prefix_tokens} prefix token(s) beside the "
                f"{size(p.final_map)} patch grid."
            )
    return notes


LAYER_HEADERS = ("layer", "type", "output shape", "params")


def layer_rows(layers: Sequence[LayerRow]) -> list[list[str]]:
    """Per-layer rows, indented by depth."""
    return [
        [
            "  " * max(row.depth - 1, 0) + row.name,
            row.kind,
            "x".join(str(d) for d in row.output_shape) or "-",
            f"{row.params:,}" if row.params else "-",
        ]
        for row in layers
    ]
