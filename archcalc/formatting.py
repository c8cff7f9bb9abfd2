"""Number and size formatting shared by every layer (no torch): the only place that rounds.

Results store raw integers and seconds; messages, notes and tables turn them into text here,
so decision code (``archcalc.recommend``) and presentation (``archcalc.report``) print the
same figure the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archcalc.results import Pair, ReceptiveField

__all__ = [
    "GIB",
    "MIB",
    "billions",
    "field_text",
    "gibibytes",
    "mebibytes",
    "millions",
    "milliseconds",
    "size",
    "stride_text",
]

#: Bytes in a mebibyte and a gibibyte (memory is shown in MiB, limits given in MiB or GiB).
MIB = 1024**2
GIB = 1024**3


def size(pair: Pair | None, sep: str = "x") -> str:
    """``(448, 320)`` -> ``448x320``; a square map keeps both sides (``7x7``)."""
    return "-" if pair is None else f"{pair[0]}{sep}{pair[1]}"


def stride_text(pair: Pair | None) -> str:
    """A per-axis stride, written once when both axes agree."""
    if pair is None:
        return "-"
    return str(pair[0]) if pair[0] == pair[1] else size(pair)


def field_text(field: ReceptiveField | None) -> str:
    """A receptive field in a table cell: ``435`` (px, per axis when they differ), ``427 +
    gate`` (the conv path, plus global context through a gate), ``global`` or ``unknown``."""
    if field is None:
        return "-"
    if field.context in ("global", "unknown"):
        return field.context
    text = stride_text(field.size)
    return f"{text} + gate" if field.context == "gate" else text


def millions(count: int) -> str:
    """A count in millions, two decimals (parameters)."""
    return f"{count / 1e6:.2f}"


def billions(count: int) -> str:
    """A count in billions (GMACs): three decimals, one above 100 G."""
    return f"{count / 1e9:.3f}" if count < 1e11 else f"{count / 1e9:.1f}"


def mebibytes(nbytes: int) -> str:
    """Bytes in MiB, one decimal."""
    return f"{nbytes / MIB:.1f}"


def gibibytes(nbytes: int) -> str:
    """Bytes in GiB, up to four significant digits (GPU sizes: ``24``, ``79.65``)."""
    return f"{nbytes / GIB:.4g}"


def milliseconds(seconds: float) -> str:
    """Seconds shown as milliseconds with about three significant digits."""
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"
