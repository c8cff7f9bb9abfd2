"""Presentation: tables (text, Markdown, CSV) and JSON from result objects; formats, never computes.

Tables are drawn by ``archcalc.display`` and numbers rounded by ``archcalc.formatting``. The
row builders a result's own ``str()`` needs live beside the result (``inspect_rows`` in
``archcalc.results``, ``timing_row`` in ``archcalc.timing.stats``, ``suggest_rows`` in
``archcalc.recommend.suggestion``, ``validity_row`` in ``archcalc.sizes.validity``) and are
reused here, one copy each. Every table says its units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from archcalc.display import FORMATS, WIDTH, notes_text, render_json, render_table
from archcalc.formatting import (
    billions,
    gibibytes,
    mebibytes,
    milliseconds,
    size,
    stride_text,
)
from archcalc.recommend.suggestion import (
    SUGGEST_HEADERS,
    Suggestion,
    suggest_headline,
    suggest_rows,
)
from archcalc.results import LayerRow
from archcalc.timing.stats import BENCH_HEADERS, Timing, bench_notes, bench_rows, timing_note

if TYPE_CHECKING:
    from archcalc.recommend.training import Training

__all__ = [
    "BENCH_HEADERS",
    "FORMATS",
    "bench_notes",
    "bench_rows",
    "render_json",
    "render_table",
    "suggest_report",
    "timing_note",
]


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


def latency_columns(
    headers: Sequence[str], rows: list[list[str]], timings: Sequence[Timing]
) -> tuple[tuple[str, ...], list[list[str]]]:
    """``inspect --latency``: the table with a median-latency column appended."""
    rows = [[*row, milliseconds(t.median_s)] for row, t in zip(rows, timings, strict=True)]
    return (*headers, "median (ms)"), rows


def suggest_columns(s: Suggestion) -> tuple[tuple[str, ...], list[list[str]]]:
    """Headers and rows; ``--backbone auto`` adds the published top-1 and evaluation size."""
    rows = suggest_rows(s)
    if s.search is None:
        return SUGGEST_HEADERS, rows
    extra = [
        [f"{o.accuracy.top1:.2f}", str(o.accuracy.eval_size)] if o.accuracy else ["-", "-"]
        for o in s.alternatives
    ]
    rows = [[row[0], row[1], *more, *row[2:]] for row, more in zip(rows, extra, strict=True)]
    headers = (*SUGGEST_HEADERS[:2], "top-1 (%)", "eval size", *SUGGEST_HEADERS[2:])
    return headers, rows


def suggest_report(s: Suggestion, fmt: str = "table", width: int = WIDTH) -> str:
    """The human report: headline, reasons and warnings as bullets, the alternatives table,
    the k <= 9 options, the training start and the largest training batch per GPU size.

    A ``table`` fits ``width`` columns: the headline and captions wrap, the tables drop or
    split columns (``archcalc.display.render_table``); ``markdown`` and ``csv`` keep every
    field on one line."""
    headers, rows = suggest_columns(s)
    # the marker, the backbone (each backbone's own values go to a note) and up to the size
    table = render_table(headers, rows, fmt, width=width, keys=headers.index("res") + 1, group=1)
    if fmt == "csv":
        return table
    import textwrap

    wrap = width if fmt == "table" else 10_000

    def bullets(title: str, lines: Sequence[str]) -> list[str]:
        items = [textwrap.fill(x, wrap, initial_indent="- ", subsequent_indent="  ") for x in lines]
        return [f"{title}:", *items, ""] if lines else []

    def paragraph(text: str) -> str:
        return textwrap.fill(text, wrap, break_long_words=False, break_on_hyphens=False)

    measured = any(o.latency_s is not None for o in s.alternatives)
    basis = s.latency_basis or f"median at batch 1 on {s.device}"
    latency = f"{basis}, - = not measured" if measured else "not measured"
    title = (
        "Accuracy-cost front at the level's size, most accurate first (top-1: ImageNet-1k, "
        f"{s.chosen.accuracy.source}"
        if s.search is not None and s.chosen.accuracy is not None
        else "Alternatives ("
    )
    caption = (
        f"{title}; MACs at batch 1, convention {s.chosen.profile.convention!r}; latency: "
        f"{latency}; * = chosen):"
    ).replace("(; ", "(")
    blocks = [paragraph(suggest_headline(s)), "", *bullets("Why", s.reasons)]
    blocks += [*bullets("Warnings", s.warnings), paragraph(caption), "", table]
    if s.k_alternatives:
        k_table = render_table(K_HEADERS, k_rows(s), fmt, width=width)
        blocks += ["", paragraph(K_CAPTION), "", k_table]
        if conv := k_conv_notes(s):
            blocks += ["", notes_text(conv, fmt, width=width)]
    if s.training is not None:
        blocks += ["", *bullets("Training start", training_lines(s.training))]
    if s.train_batches:
        caption = paragraph(batch_caption(s))
        blocks += ["", caption, ""] if s.training is None else [caption, ""]
        blocks += [render_table(batch_headers(s), batch_rows(s), fmt, width=width)]
    return "\n".join(blocks).rstrip("\n")


K_HEADERS = ("option", "backbone", "res", "stride", "k x k", "GMACs", "MACs vs map > 9")
_K_KINDS = {"input": "input 9 x stride", "extra-stride": "one more 2x2 max pool"}


K_CAPTION = (
    "Keeping k <= 9 (rules §3; MACs at batch 1, the max pool counts none; the "
    "reasons say which was chosen and why):"
)


def k_rows(s: Suggestion) -> list[list[str]]:
    """The options that keep the final map at k <= 9, with their MACs against the larger map."""
    rows = []
    for a in s.k_alternatives:
        share = f"{100 * a.macs / a.reference_macs:.0f}%" if a.reference_macs else "-"
        kind = _K_KINDS.get(a.kind, a.kind)
        cells = [size(a.resolution), stride_text(a.global_stride), size(a.final_map)]
        rows.append([kind, a.backbone, *cells, billions(a.macs), share])
    return rows


def k_conv_notes(s: Suggestion) -> list[str]:
    """What a stride-2 3x3 conv in place of the added max pool would cost: a note under the k
    table rather than a cell, which kept the table over 100 columns wide."""
    return [
        f"{_K_KINDS.get(a.kind, a.kind)} on {a.backbone} at {size(a.resolution)}: a stride-2 "
        f"3x3 conv in its place adds {billions(a.strided_conv_macs)} GMACs."
        for a in s.k_alternatives
        if a.strided_conv_macs is not None
    ]


def training_lines(t: Training) -> list[str]:
    """The training start as bullets: each value with its reason."""
    betas = f"({t.betas[0]:g}, {t.betas[1]:g})"
    return [
        f"optimizer: {t.optimizer}: {t.optimizer_reason}",
        f"learning rate: {t.lr:g}: {t.lr_reason}",
        f"betas: {betas}: {t.betas_reason}",
        f"weight decay: {t.weight_decay:g}: {t.weight_decay_reason}",
        f"training: {t.train_mode}",
        f"evaluation: {t.eval_mode}; {t.modes_reason}",
        f"data: {t.data_images:,} images: {t.data_note}",
    ]


def batch_caption(s: Suggestion) -> str:
    """What the batch table assumes: the model and size, dtype, the formula and margin."""
    first = s.train_batches[0]
    p = s.chosen.profile
    mixed = first.dtype != "float32"
    caption = (
        f"Largest training batch for {p.model} at {size(p.resolution)} (static estimate, "
        f"Adam, {first.dtype}{' autocast' if mixed else ''}): fixed "
        f"{mebibytes(first.fixed_bytes)} MiB (weights, grads, 2 Adam moments, buffers"
        + (f", autocast's {first.dtype} weights" if mixed else "")
        + f") + batch x {mebibytes(first.per_image_bytes)} MiB per image (activations saved "
        f"for backward, {first.dtype}) within usable = 90% of (GPU - 1 GiB) (CUDA context, cuBLAS/"
        "cuDNN workspaces, allocator fragmentation; see docs/input-size.md)"
    )
    if first.train_macs is None:
        caption += "; training-step MACs: not available"
    return caption + ":"


def batch_headers(s: Suggestion) -> tuple[str, ...]:
    images = s.train_batches[0].epoch_images
    return (
        "GPU (GiB)",
        "usable (GiB)",
        "batch",
        f"steps / epoch of {images:,}",
        "train GMACs / batch",
        "train GMACs / epoch",
    )


def batch_rows(s: Suggestion) -> list[list[str]]:
    """One row per GPU size: the largest batch, steps per epoch and the training MACs."""
    return [
        [
            gibibytes(b.gpu_memory_bytes),
            gibibytes(b.usable_bytes),
            str(b.batch_size) if b.batch_size else "none (batch 1 does not fit)",
            str(b.steps_per_epoch) if b.batch_size else "-",
            "-" if b.batch_macs is None else billions(b.batch_macs),
            "-" if b.epoch_macs is None else billions(b.epoch_macs),
        ]
        for b in s.train_batches
    ]
