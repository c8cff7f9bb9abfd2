"""``--where`` filters: a tiny, safe expression language over report fields (no ``eval``).

``k >= 5 and k <= 9 and gmacs < 2``, ``5 <= k <= 9``, ``not (res == 48) or model == "resnet50"``.
The text is parsed with ``ast`` and only comparisons (``< <= > >= == !=``, chained), ``and``,
``or``, ``not``, parentheses, known field names, numbers and quoted strings are accepted; the
tree is then walked by this module, so nothing the user types is ever executed. A comparison
with a missing value (e.g. ``latency_ms`` in a sweep without ``--latency``) is false; one of a
text field with a number, or a number field with a text (``k > "5"``), is refused when the
text fields are given, since it could only ever be false. An expression longer than
``MAX_LENGTH`` characters or nested deeper than ``MAX_DEPTH`` (parentheses, or ``not``,
``and``/``or`` and comparisons inside one another) is refused before it is walked, with the
limit in the message.
"""

from __future__ import annotations

import ast
import contextlib
import io
import itertools
import operator
import tokenize
from collections.abc import Callable, Collection, Mapping
from typing import Any

from archcalc.errors import InvalidArgumentError

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "compile_where"]

#: The longest ``--where`` accepted, in characters (a real filter is well under 200).
MAX_LENGTH = 1000
#: The deepest nesting of ``not``, ``and``/``or`` and comparisons accepted.
MAX_DEPTH = 32

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def compile_where(
    text: str, fields: Collection[str], text_fields: Collection[str] | None = None
) -> Predicate:
    """Parse a ``--where`` expression into a predicate over report rows (nothing is eval'ed).

    Args:
        text: comparisons of fields with numbers or quoted strings, joined by ``and``, ``or``,
            ``not`` and parentheses (chains such as ``5 <= k <= 9`` allowed).
        fields: the names a row may hold.
        text_fields: the fields holding strings (the others hold numbers); given, comparing a
            text with a number is refused too.

    Returns:
        A function of a row (a mapping) that is True where the row matches; a comparison with
        a missing value is False.

    Raises:
        InvalidArgumentError: a syntax error, an unknown field, anything but a comparison, or
            an expression longer than ``MAX_LENGTH`` or nested deeper than ``MAX_DEPTH``; the
            one-line message names the problem and the known fields (or the limit).

    Examples:
        >>> compile_where("k >= 5 and gmacs < 2", ["k", "gmacs"])({"k": 7, "gmacs": 1.8})
        True
    """
    if len(text) > MAX_LENGTH:
        raise InvalidArgumentError(
            f"--where is {len(text):,} characters long; the limit is {MAX_LENGTH:,}: "
            "shorten it (--k-range and --max-* bound single fields)"
        )
    if _parentheses(text) > MAX_DEPTH:
        raise _too_deep()
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:  # within MAX_LENGTH the parser's own limits are never reached
        raise InvalidArgumentError(f"--where {text!r} is not a valid expression: {e.msg}") from e
    if _depth(tree.body) > MAX_DEPTH:
        raise _too_deep()
    if text_fields is not None:
        _check_kinds(tree, text, fields, text_fields)
    return _node(tree.body, text, fields)


def _too_deep() -> InvalidArgumentError:
    return InvalidArgumentError(
        f"--where nests deeper than {MAX_DEPTH} levels (parentheses, not, and/or, signs and "
        "comparisons inside one another): write it flatter"
    )


def _parentheses(text: str) -> int:
    """How deep the brackets nest (quoted strings skipped), up to one past ``MAX_DEPTH``; an
    unbalanced text counts as far as it reads (the parser then names the syntax error)."""
    depth = deepest = 0
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    with contextlib.suppress(tokenize.TokenError):
        for token in tokens:
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
                deepest = max(deepest, depth)
                if deepest > MAX_DEPTH:
                    break
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
    return deepest


def _depth(root: ast.AST) -> int:
    """How deep the tree nests, every node counted (``k > 1`` is 3: the comparison, the name,
    its load context), walked without recursion so that no depth can exhaust the stack."""
    deepest, todo = 0, [(root, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest


def _check_kinds(
    tree: ast.AST, text: str, fields: Collection[str], text_fields: Collection[str]
) -> None:
    """Refuse a comparison of a text with a number (it could never hold)."""

    def kind(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return "text" if node.id in text_fields else "number"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return "text"
        return "number" if isinstance(node, ast.Constant | ast.UnaryOp) else None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for a, b in itertools.pairwise(operands):
            if None not in (kind(a), kind(b)) and kind(a) != kind(b):
                what = f"{ast.unparse(a)} is a {kind(a)} but {ast.unparse(b)} is a {kind(b)}"
                raise _fail(text, what, fields)


def _fail(text: str, what: str, fields: Collection[str]) -> InvalidArgumentError:
    known = ", ".join(sorted(fields))
    return InvalidArgumentError(f"--where {text!r}: {what}; use comparisons of {known}")


def _node(node: ast.AST, text: str, fields: Collection[str]) -> Predicate:
    """A predicate for a boolean node: and / or / not / comparison."""
    if isinstance(node, ast.BoolOp):
        parts = [_node(v, text, fields) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _node(node.operand, text, fields)
        return lambda row: not inner(row)
    if isinstance(node, ast.Compare):
        return _compare(node, text, fields)
    raise _fail(text, f"{ast.unparse(node)!r} is not a comparison", fields)


def _compare(node: ast.Compare, text: str, fields: Collection[str]) -> Predicate:
    """A chained comparison ``a < b <= c``: every link must hold and no value may be missing."""
    values = [_value(v, text, fields) for v in [node.left, *node.comparators]]
    ops = []
    for op in node.ops:
        if type(op) not in _COMPARE:
            raise _fail(text, f"operator {type(op).__name__} is not allowed", fields)
        ops.append(_COMPARE[type(op)])

    def check(row: Row) -> bool:
        resolved = [v(row) for v in values]
        if any(r is None for r in resolved):
            return False
        try:
            return all(op(a, b) for op, a, b in zip(ops, resolved, resolved[1:], strict=False))
        except TypeError:  # e.g. a string against a number
            return False

    return check


def _value(node: ast.AST, text: str, fields: Collection[str]) -> Callable[[Row], Any]:
    """A field name (read from the row) or a constant number / string (negative allowed)."""
    if isinstance(node, ast.Name):
        if node.id not in fields:
            raise _fail(text, f"unknown field {node.id!r}", fields)
        name = node.id
        return lambda row: row.get(name)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = ast.Constant(-_number(node.operand, text, fields))
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        if isinstance(node.value, bool):
            raise _fail(text, "booleans are not values", fields)
        constant = node.value
        return lambda row: constant
    raise _fail(text, f"{ast.unparse(node)!r} is not a field, number or string", fields)


def _number(node: ast.AST, text: str, fields: Collection[str]) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value) if isinstance(node.value, float) else int(node.value)
    raise _fail(text, f"'-{ast.unparse(node)}' is not a number", fields)
