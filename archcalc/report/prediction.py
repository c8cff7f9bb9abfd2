"""Predicted figures as table columns, notes and per-op rows: always labelled PREDICTED, with
the target, dtype, batch and the target's measured error band."""

from __future__ import annotations

from collections.abc import Sequence

from archcalc.timing.predict.model import Prediction

__all__ = ["OPS_HEADERS", "ops_rows", "predicted_label", "prediction_columns", "prediction_notes"]

OPS_HEADERS = ("#", "op", "class", "count", "GMACs", "MB moved", "pred us", "share", "bound")


def prediction_columns(
    headers: Sequence[str], rows: list[list[str]], predictions: Sequence[Prediction]
) -> tuple[tuple[str, ...], list[list[str]]]:
    """``headers``/``rows`` with two predicted columns: ms per batch and images/s."""
    target = predictions[0].target
    added = (f"pred ms ({target})", f"pred img/s ({target})")
    out = [
        [*row, f"{p.latency_ms:.3g}", f"{p.samples_per_sec:,.0f}"]
        for row, p in zip(rows, predictions, strict=True)
    ]
    return (*headers, *added), out


def predicted_label(target: str, dtype: str, batch_size: int, error_band: str) -> str:
    """How every predicted figure is named: never as a measurement, always with its target,
    dtype, batch and the target's measured error band."""
    return f"PREDICTED, not measured: {target} ({dtype}), batch {batch_size}, error {error_band}"


def prediction_notes(predictions: Sequence[Prediction]) -> list[str]:
    """One note per prediction: what it is, its error band and where its time goes."""
    notes = []
    for p in predictions:
        top = p.top_ops[0] if p.top_ops else None
        worst = f"; most expensive op {top.op} ({top.share:.0%})" if top else ""
        unknown = ""
        if p.unknown_ops:
            unknown = f"; {p.unknown_ops} kernel run(s) of no known op class, priced as elementwise"
        notes.append(
            f"{predicted_label(p.target, p.dtype, p.batch_size, p.error_band)}; compute-bound "
            f"{p.compute_share:.0%}, memory-bound {p.memory_share:.0%}, kernel overhead "
            f"{p.overhead_share:.0%}{worst}{unknown}"
        )
    return notes


def ops_rows(p: Prediction) -> list[list[str]]:
    """The prediction's most expensive ops, one row each."""
    return [
        [
            str(i + 1),
            op.op,
            op.cls,
            str(op.count),
            f"{op.macs / 1e9:.3f}",
            f"{op.bytes / 1e6:.2f}",
            f"{op.time_us:.1f}",
            f"{op.share:.1%}",
            op.bound,
        ]
        for i, op in enumerate(p.top_ops)
    ]
