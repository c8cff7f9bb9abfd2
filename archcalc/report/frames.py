"""``archcalc.to_pandas``: profiles, suggestions and sweep files as one pandas DataFrame.

The columns are the rows ``archcalc report --format csv`` is made from
(``archcalc.report.rows.to_row``: the JSON keys flattened -- ``res``, ``k``, ``stride``,
``params``, ``macs``, ``gmacs``, ``latency_ms``, ...), so a notebook, a sweep report and a
script read the same names. Suggestions add ``task`` and ``chosen`` (one row per
alternative). pandas is an optional extra (``pip install 'archcalc[pandas]'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from archcalc.errors import InvalidArgumentError
from archcalc.recommend.suggestion import Option, Suggestion
from archcalc.report.rows import FIELDS, load_rows, to_row
from archcalc.results import Profile

__all__ = ["to_pandas"]

#: Columns a suggestion's rows add after ``FIELDS``.
SUGGESTION_FIELDS = ("task", "chosen")


def to_pandas(results: Any) -> Any:
    """A DataFrame with one row per profile, per suggestion alternative or per sweep line.

    Args:
        results: a ``Profile``, ``Suggestion`` or sweep file path (``.jsonl``/``.jsonl.gz``),
            or a list of any of them.

    Returns:
        A ``pandas.DataFrame`` whose columns are ``archcalc.report.rows.FIELDS`` (plus
            ``task`` and ``chosen`` when suggestions are given).

    Raises:
        InvalidArgumentError: pandas is not installed.

    Example:
        >>> archcalc.to_pandas([archcalc.profile("resnet18", s) for s in (224, 448)])[["res", "k"]]
           res   k
        0  224   7
        1  448  14
    """
    try:
        import pandas
    except ImportError as e:
        raise InvalidArgumentError(
            "to_pandas needs pandas: pip install pandas (or 'archcalc[pandas]')"
        ) from e
    items = [results] if _single(results) else list(results)
    rows = [row for item in items for row in _rows(item)]
    extra = [f for f in SUGGESTION_FIELDS if any(f in r for r in rows)]
    return pandas.DataFrame(rows, columns=[*FIELDS, *extra])


def _single(value: Any) -> bool:
    return isinstance(value, Profile | Suggestion | Option | str | os.PathLike)


def _rows(item: Any) -> Iterable[dict[str, Any]]:
    if isinstance(item, Profile | Option):
        return [to_row(item.to_dict())]
    if isinstance(item, Suggestion):
        data = item.to_dict()
        return [
            {**to_row(o), "task": data["task"], "chosen": o["chosen"]} for o in data["alternatives"]
        ]
    if isinstance(item, str | os.PathLike):
        rows, _bad = load_rows([Path(item)])
        return rows
    raise InvalidArgumentError(
        f"to_pandas takes profiles, suggestions or sweep file paths, got {type(item).__name__}"
    )
