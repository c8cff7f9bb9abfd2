"""Text tables for every layer (no torch): ``render_table`` and the ``Summarised`` mixin.

A CLI table fits the terminal (``output_width``: the terminal's width when stdout is one,
else 100 columns). A table wider than that is fitted in three steps, each taken only while it
is still too wide: columns that repeat one value in every row (or in every row of one model)
leave the table for a note under it; headers wrap at their spaces (as few as make it fit); the
remaining columns are split into as few tables as fit, each repeating the key columns (with
wrapped headers when that makes fewer tables). JSON, CSV and Markdown keep every column.

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
import shutil
import sys
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
    "output_width",
    "render_json",
    "render_table",
    "summary_text",
]

#: The CLI's ``--format`` choices (``json`` is rendered by ``archcalc.report.tables``).
FORMATS = ("table", "json", "markdown", "csv")

#: The width text output fits when the terminal's is not known (stdout not a terminal).
WIDTH = 100

#: A summary: table headers, rows of cells and the notes printed under the table.
Summary = tuple[Sequence[str], list[list[str]], list[str]]


def output_width() -> int:
    """The columns CLI text output fits: the terminal's width when stdout is a terminal,
    else ``WIDTH`` (so piped, redirected and documented output is the same everywhere)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size((WIDTH, 24)).columns
    return WIDTH


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fmt: str,
    *,
    width: int | None = None,
    keys: int = 1,
    group: int | None = None,
) -> str:
    """Rows as a text table (``table``), GitHub Markdown (``markdown``), ``csv`` or ``html``.

    A CSV's text cells are ``csv_cell``'s: none runs as a formula in a spreadsheet; a Markdown
    cell's ``|`` is escaped (``\\|``), so a name holding one cannot split its row.

    Args:
        headers: the column names.
        rows: the cells, one sequence per row.
        fmt: ``table``, ``markdown``, ``csv`` or ``html``.
        width: fit a ``table`` into this many columns (None: as wide as it comes); the
            other formats keep every column.
        keys: how many leading columns name a row: never left out, repeated when the table
            is split.
        group: the column naming the model a row belongs to: a column holding one value per
            model moves to the note (``params (M)`` in suggest's table).

    Example:
        >>> rows = [["224", "default", "7x7"], ["448", "default", "14x14"]]
        >>> print(render_table(["res", "output stride", "k x k"], rows, "table", width=30))
        res    k x k
        -----  -------
        224    7x7
        448    14x14
        <BLANKLINE>
        One value in every row: output
          stride default.
    """
    rows = [list(r) for r in rows]
    if fmt == "markdown":
        rows = [[c.replace("|", "\\|") if isinstance(c, str) else c for c in r] for r in rows]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([csv_cell(h) for h in headers])
        writer.writerows([csv_cell(c) for c in row] for row in rows)
        return buffer.getvalue().rstrip("\n")
    if fmt == "table" and width is not None:
        return _fitted(list(headers), [[str(c) for c in r] for r in rows], width, keys, group)
    return _tabulate(headers, rows, fmt)


def _tabulate(headers: Sequence[str], rows: list[list[Any]], fmt: str = "table") -> str:
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


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def _fitted(
    headers: list[str], rows: list[list[str]], width: int, keys: int, group: int | None
) -> str:
    """A text table within ``width`` columns, by the steps of the module docstring."""
    text = _tabulate(headers, rows)
    if _widest(text) <= width:
        return text
    shown, note = _repeated(headers, rows, keys, group)
    rows = [[row[i] for i in shown] for row in rows]
    headers = _narrowed([headers[i] for i in shown], rows, width)
    parts = _parts(headers, rows, keys, width)
    wrapped = [_wrapped(h, [row[i] for row in rows]) for i, h in enumerate(headers)]
    if len(parts) > 1 and len(fewer := _parts(wrapped, rows, keys, width)) < len(parts):
        headers, parts = wrapped, fewer
    tables = [
        _tabulate([headers[i] for i in part], [[row[i] for i in part] for row in rows])
        for part in parts
    ]
    return "\n\n".join([*tables, notes_text([note], width=width)] if note else tables)


def _repeated(
    headers: list[str], rows: list[list[str]], keys: int, group: int | None
) -> tuple[list[int], str]:
    """The columns to keep, and a note giving the others: those (past the keys) holding one
    value in every row, or one per model (``group``) where a model has several rows."""
    if len(rows) < 2:
        return list(range(len(headers))), ""
    owners = [row[group] if group is not None else "" for row in rows]
    grouped = len(set(owners)) < len(rows)
    same, per_owner, shown = [], [], list(range(keys))
    for i in range(keys, len(headers)):
        values: dict[str, str] = {}
        pairs = zip(owners, rows, strict=True)
        if len({row[i] for row in rows}) == 1:
            same.append(f"{headers[i]} {rows[0][i]}")
        elif grouped and all(values.setdefault(o, row[i]) == row[i] for o, row in pairs):
            per_owner.append(f"{headers[i]} " + ", ".join(f"{v} ({o})" for o, v in values.items()))
        else:
            shown.append(i)
    parts = [f"One value in every row: {', '.join(same)}"] if same else []
    if per_owner and group is not None:
        parts.append(f"one per {headers[group]}: {'; '.join(per_owner)}")
    return shown, ("; ".join(parts) + "." if parts else "")


def _narrowed(headers: list[str], rows: list[list[str]], width: int) -> list[str]:
    """The headers with as few of them wrapped as make the table fit ``width`` (those that
    save the most columns first); unchanged when even all wrapped would not fit (the table
    is split instead)."""
    columns = [[row[i] for row in rows] for i in range(len(headers))]
    wrapped = [_wrapped(h, c) for h, c in zip(headers, columns, strict=True)]
    widths = [_column_width(h, c) for h, c in zip(headers, columns, strict=True)]
    saving = [w - _column_width(h, c) for w, h, c in zip(widths, wrapped, columns, strict=True)]
    total = sum(widths) + 2 * (len(headers) - 1)
    if total - sum(saving) > width:
        return headers
    out = list(headers)
    for i in sorted(range(len(headers)), key=lambda i: -saving[i]):
        if total <= width:
            break
        out[i], total = wrapped[i], total - saving[i]
    return out


def _wrapped(header: str, cells: list[str]) -> str:
    """A header broken at its spaces, no wider than its widest cell (a header of up to six
    characters, such as ``k x k``, stays whole; a word is never broken)."""
    lines = textwrap.wrap(header, max(6, *map(len, cells)), break_long_words=False)
    return "\n".join(lines) or header


def _column_width(header: str, cells: list[str]) -> int:
    """A column's width in tabulate's ``simple`` style: its widest cell, or its header's
    widest line plus two."""
    return max(max(map(len, header.splitlines()), default=0) + 2, *map(len, cells))


def _parts(headers: list[str], rows: list[list[str]], keys: int, width: int) -> list[list[int]]:
    """The columns of each table a too-wide table splits into: the key columns, then the
    others in order, as few tables as fit ``width``, their widths as even as they can be."""
    widths = [_column_width(h, [row[i] for row in rows]) for i, h in enumerate(headers)]
    key_width = sum(widths[:keys]) + 2 * keys

    def greedy(limit: int) -> list[list[int]]:
        parts: list[list[int]] = [[]]
        used = key_width
        for i in range(keys, len(headers)):
            if parts[-1] and used + widths[i] > limit:
                parts.append([])
                used = key_width
            parts[-1].append(i)
            used += widths[i] + 2
        return parts

    fewest = len(greedy(width))
    limit = width
    while limit > key_width and len(greedy(limit - 1)) == fewest:
        limit -= 1
    return [[*range(keys), *part] for part in greedy(limit)]


def render_json(value: Any) -> str:
    """Stable JSON: two-space indent, keys in schema order."""
    import json

    return json.dumps(value, indent=2)


def notes_text(notes: Iterable[str], fmt: str = "table", *, width: int = WIDTH) -> str:
    """The notes under a table: each wrapped at ``width`` columns (its continuation lines
    indented two spaces) for a terminal; one Markdown bullet each in ``markdown``.

    Example:
        >>> notes_text(["a " * 60]).splitlines()[1]
        '  a a a a a a a a a a'
    """
    if fmt == "markdown":
        return "\n".join(f"- {n}" for n in notes)
    wrap = textwrap.TextWrapper(
        width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
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
