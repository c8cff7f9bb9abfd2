"""Presentation: tables (text, Markdown, CSV) and JSON from result objects; formats, never computes.

The only module that imports tabulate; numbers are rounded by ``archcalc.formatting``. Every
table says its units.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from archcalc.formatting import (
    billions,
    gibibytes,
    mebibytes,
    millions,
    milliseconds,
    size,
    stride_text,
)
from archcalc.results import LayerRow, Profile
from archcalc.timing.stats import BenchReport, MaxBatch, Timing

if TYPE_CHECKING:
    from archcalc.recommend.suggestion import Suggestion
    from archcalc.recommend.training import Training

__all__ = [
    "BENCH_HEADERS",
    "FORMATS",
    "bench_notes",
    "bench_rows",
    "inspect_notes",
    "inspect_rows",
    "render_json",
    "render_table",
    "stage_rows",
    "suggest_report",
]

FORMATS = ("table", "json", "markdown", "csv")


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> str:
    """Rows as a text table (``table``), GitHub Markdown (``markdown``), ``csv`` or ``html``."""
    rows = [list(r) for r in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return buffer.getvalue().rstrip("\n")
    from tabulate import tabulate

    style = {"markdown": "github", "html": "html"}.get(fmt, "simple")
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


BENCH_HEADERS = (
    "res",
    "batch",
    "median (ms)",
    "p10-p90 (ms)",
    "images/s",
    "peak mem (MiB)",
    "GMACs",
    "runs",
)


def bench_rows(report: BenchReport) -> list[list[str]]:
    """One row per (resolution, batch): latency, spread, throughput, memory, MACs."""
    rows = []
    for row in report.rows:
        t = row.timing
        res = size((row.height, row.width))
        if t is None:
            cells = ["out of memory", "-", "-", "-"]
            rows.append([res, str(row.batch_size), *cells, billions(row.macs), "-"])
            continue
        spread = f"{milliseconds(t.p10_s)}-{milliseconds(t.p90_s)}"
        peak = "-" if t.peak_memory_bytes is None else mebibytes(t.peak_memory_bytes)
        cells = [milliseconds(t.median_s), spread, f"{t.images_per_s:.1f}", peak]
        rows.append([res, str(row.batch_size), *cells, billions(row.macs), str(t.runs)])
    return rows


def bench_notes(report: BenchReport) -> list[str]:
    """Footnotes: what ran where, what the memory column means, warnings, max batch."""
    timings = [r.timing for r in report.rows if r.timing is not None]
    notes = [r.error for r in report.rows if r.error]
    if timings:
        notes[:0] = [timing_note(report.model, timings[0]), _bench_units(timings[0])]
    for t in timings:
        where = f"batch {t.batch_size} x {size((t.height, t.width))}"
        if not t.warmup_stable:
            notes.append(
                f"{where}: timings were still drifting after {t.warmup_runs} warm-up runs "
                f"({t.warmup_s:.1f} s); read the median with care."
            )
        if t.p90_s - t.p10_s > 0.2 * t.median_s:
            notes.append(
                f"{where}: wide spread (p10-p90 is {100 * (t.p90_s - t.p10_s) / t.median_s:.0f}% "
                "of the median): the machine is busy or the clock is noisy."
            )
    notes += [_max_batch_note(m) for m in report.max_batches]
    return notes


def timing_note(model: str, t: Timing) -> str:
    """How the latency was measured: device, dtype, threads, torch, statistic, memory column."""
    env = t.environment
    where = f"{env.device} ({t.device})" if t.device.startswith("cuda") else env.device
    extras = (", channels_last" if t.channels_last else "") + (
        f", compiled in {t.compile_time_s:.1f} s" if t.compile_time_s is not None else ""
    )
    return (
        f"Latency: {model} on {where}, {env.dtype}, {env.threads} CPU thread(s), torch "
        f"{env.torch}{extras}; median (and p10-p90) of per-iteration times after warm-up."
    )


def _bench_units(t: Timing) -> str:
    memory = {
        "cuda_max_allocated": "torch.cuda.max_memory_allocated (weights included)",
        "rss_increase": "growth of the process's peak resident memory while running "
        "(an estimate; weights excluded)",
    }.get(t.memory_method, "not observable here")
    return f"MACs at the row's batch (FLOPs = 2 x MACs); peak mem: {memory}."


def _max_batch_note(m: MaxBatch) -> str:
    where = f"largest batch at {size((m.height, m.width))}"
    found = "none (batch 1 does not fit)" if m.batch_size == 0 else str(m.batch_size)
    if m.batch_size >= m.limit:
        found = f"at least {m.limit} (the search stops there)"
    if m.method == "cuda_oom_search":
        return f"{where}: {found} (forwards tried, doubling then bisecting, out-of-memory caught)."
    return (
        f"{where}: {found} (estimated, not run: weights + batch x per-image input and peak "
        f"activations within {mebibytes(m.budget_bytes or 0)} MiB, 90% of available RAM)."
    )


def latency_columns(
    headers: Sequence[str], rows: list[list[str]], timings: Sequence[Timing]
) -> tuple[tuple[str, ...], list[list[str]]]:
    """``inspect --latency``: the table with a median-latency column appended."""
    rows = [[*row, milliseconds(t.median_s)] for row, t in zip(rows, timings, strict=True)]
    return (*headers, "median (ms)"), rows


SUGGEST_HEADERS = (
    "",
    "backbone",
    "res",
    "output stride",
    "stride",
    "k x k",
    "k rule",
    "GMACs",
    "params (M)",
    "latency (ms)",
)


def suggest_rows(s: Suggestion) -> list[list[str]]:
    """The alternatives the decision was made from; ``*`` marks the chosen row."""
    return [
        [
            "*" if o.key == s.chosen.key else "",
            o.backbone,
            size(o.profile.resolution),
            "default" if o.profile.output_stride is None else str(o.profile.output_stride),
            stride_text(o.profile.global_stride),
            size(o.profile.final_map),
            o.verdict(s.level).status,
            billions(o.profile.macs),
            millions(o.profile.params),
            "-" if o.latency_s is None else milliseconds(o.latency_s),
        ]
        for o in s.alternatives
    ]


def suggest_headline(s: Suggestion) -> str:
    """The recommendation in one line."""
    p = s.chosen.profile
    os = "" if p.output_stride is None else f" built with output_stride={p.output_stride}"
    latency = "" if s.chosen.latency_s is None else f", {milliseconds(s.chosen.latency_s)} ms"
    return (
        f"Use {size(p.resolution)} input on {p.model}{os} for task level {s.task}: "
        f"{size(p.final_map)} final map (global stride {stride_text(p.global_stride)}), "
        f"{billions(p.macs)} GMACs, {millions(p.params)} M params{latency}."
    )


def suggest_report(s: Suggestion, fmt: str = "table") -> str:
    """The human report: headline, reasons and warnings as bullets, the alternatives table,
    the k <= 9 options, the training start and the largest training batch per GPU size."""
    table = render_table(SUGGEST_HEADERS, suggest_rows(s), fmt)
    if fmt == "csv":
        return table
    import textwrap

    def bullets(title: str, lines: Sequence[str]) -> list[str]:
        wrap = 100 if fmt == "table" else 10_000
        items = [textwrap.fill(x, wrap, initial_indent="- ", subsequent_indent="  ") for x in lines]
        return [f"{title}:", *items, ""] if lines else []

    measured = any(o.latency_s is not None for o in s.alternatives)
    latency = f"median at batch 1 on {s.device}, - = not measured" if measured else "not measured"
    caption = (
        f"Alternatives (MACs at batch 1, convention {s.chosen.profile.convention!r}; latency: "
        f"{latency}; * = chosen):"
    )
    blocks = [suggest_headline(s), "", *bullets("Why", s.reasons)]
    blocks += [*bullets("Warnings", s.warnings), caption, "", table]
    if s.k_alternatives:
        blocks += ["", K_CAPTION, "", render_table(K_HEADERS, k_rows(s), fmt)]
    if s.training is not None:
        blocks += ["", *bullets("Training start", training_lines(s.training))]
    if s.train_batches:
        blocks += ["", batch_caption(s), ""] if s.training is None else [batch_caption(s), ""]
        blocks += [render_table(batch_headers(s), batch_rows(s), fmt)]
    return "\n".join(blocks).rstrip("\n")


K_HEADERS = ("option", "backbone", "res", "stride", "k x k", "GMACs", "MACs vs map > 9")
_K_KINDS = {"input": "input 9 x stride", "extra-stride": "one more 2x2 max pool"}


K_CAPTION = (
    "Keeping k <= 9 (domain notes section 3; MACs at batch 1, the max pool counts none; the "
    "reasons say which was chosen and why):"
)


def k_rows(s: Suggestion) -> list[list[str]]:
    """The options that keep the final map at k <= 9, with their MACs against the larger map."""
    rows = []
    for a in s.k_alternatives:
        share = f"{100 * a.macs / a.reference_macs:.0f}%" if a.reference_macs else "-"
        if a.strided_conv_macs is not None:
            share += f" (+{billions(a.strided_conv_macs)} GMACs as a stride-2 3x3 conv)"
        kind = _K_KINDS.get(a.kind, a.kind)
        cells = [size(a.resolution), stride_text(a.global_stride), size(a.final_map)]
        rows.append([kind, a.backbone, *cells, billions(a.macs), share])
    return rows


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
    """What the batch table assumes: the model and size, precision, the formula and margin."""
    first = s.train_batches[0]
    p = s.chosen.profile
    saved = "fp16/bf16 (amp)" if first.precision == "amp" else "fp32"
    caption = (
        f"Largest training batch for {p.model} at {size(p.resolution)} (static estimate, "
        f"Adam, {first.precision}): fixed {mebibytes(first.fixed_bytes)} MiB (weights, grads, "
        "2 Adam moments, buffers"
        + (", autocast's half weights" if first.precision == "amp" else "")
        + f") + batch x {mebibytes(first.per_image_bytes)} MiB per image (activations saved "
        f"for backward, {saved}) within usable = 90% of (GPU - 1 GiB) (CUDA context, cuBLAS/"
        "cuDNN workspaces, allocator fragmentation; see the README)"
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
