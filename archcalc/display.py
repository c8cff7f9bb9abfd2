"""Text tables for every layer (no torch): ``render_table`` and the ``Summarised`` mixin.

Result objects (Profile, Timing, Suggestion, Validity, Scaling, BenchReport) print as a short
summary -- their rows of the CLI table and its notes -- in a script (``str``) and in Jupyter
(``_repr_html_``, ``_repr_markdown_``). The
rows are built next to each result (one copy, which ``archcalc.report.tables`` reuses), and
rendered here: the only module that imports tabulate.
"""

from __future__ import annotations

import csv
import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "FORMATS",
    "WIDTH",
    "Summarised",
    "Summary",
    "csv_cell",
    "notes_text",
    "render_json",
    "render_table",
    "summary_text",
]

#: The CLI's ``--format`` choices (``json`` is rendered by ``archcalc.report.tables``).
FORMATS = ("table", "json", "markdown", "csv")

#: The column the notes under a text table wrap at.
WIDTH = 100

#: A summary: table headers, rows of cells and the notes printed under the table.
Summary = tuple[Sequence[str], list[list[str]], list[str]]


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> str:
    """Rows as a text table (``table``), GitHub Markdown (``markdown``), ``csv`` or ``html``.

    A CSV's text cells are ``csv_cell``'s: none runs as a formula in a spreadsheet; a Markdown
    cell's ``|`` is escaped (``\\|``), so a name holding one cannot split its row."""
    rows = [list(r) for r in rows]
    if fmt == "markdown":
        rows = [[c.replace("|", "\\|") if isinstance(c, str) else c for c in r] for r in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([csv_cell(h) for h in headers])
        writer.writerows([csv_cell(c) for c in row] for row in rows)
        return buffer.getvalue().rstrip("\n")
    from tabulate import tabulate

    style = {"markdown": "github", "html": "html"}.get(fmt, "simple")
    return str(tabulate(rows, headers=list(headers), tablefmt=style, disable_numparse=True))


#: A spreadsheet runs a cell that starts with one of these as a formula ("CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows, never runs: a text starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading ``'``. Numbers, texts that read as
    a finite number (``-1.5``) and the ``-`` of a missing value are left as they are.

    Examples:
        >>> csv_cell("=SUM(A1:A9)"), csv_cell("-1.5"), csv_cell(-2)
        ("'=SUM(A1:A9)", '-1.5', -2)
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) or value == "-":
        return value
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    return value if math.isfinite(number) else "'" + value


def render_json(value: Any) -> str:
    """Stable JSON: two-space indent, keys in schema order."""
    import json

    return json.dumps(value, indent=2)


def notes_text(notes: Iterable[str], fmt: str = "table") -> str:
    """The notes under a table: each wrapped at ``WIDTH`` columns (its continuation lines
    indented two spaces) for a terminal; one Markdown bullet each in ``markdown``.

    Example:
        >>> notes_text(["a " * 60]).splitlines()[1]
        '  a a a a a a a a a a'
    """
    if fmt == "markdown":
        return "\n".join(f"- {n}" for n in notes)
    wrap = textwrap.TextWrapper(
        WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(wrap.fill(n) for n in notes)


def summary_text(summary: Summary, fmt: str = "table") -> str:
    """The table, then its notes (wrapped at ``WIDTH``; Markdown bullets in ``markdown``)."""
    headers, rows, notes = summary
    return "\n\n".join([render_table(headers, rows, fmt), notes_text(notes, fmt)]).rstrip()


class Summarised:
    """Mixin for frozen result dataclasses: ``str()`` and Jupyter show ``_summary()``."""

    def _summary(self) -> Summary:
        raise NotImplementedError

    def __str__(self) -> str:
        return summary_text(self._summary())

    def _repr_markdown_(self) -> str:
        return summary_text(self._summary(), "markdown")

    def _repr_html_(self) -> str:
        """Jupyter's rich view: the table in HTML, each note a paragraph."""
        import html

        headers, rows, notes = self._summary()
        paragraphs = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
        return render_table(headers, rows, "html") + paragraphs
