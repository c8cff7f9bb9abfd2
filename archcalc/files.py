"""The files archcalc writes and the JSON files it reads back (no torch).

Every file archcalc writes goes through ``write_atomic``: the bytes go to a temporary file
beside the target, flushed to disk, then moved over it with ``os.replace``. A reader sees the
old file or the new one, never half of one; two writers leave one complete file; a failure
(disk full, the target is a folder, a file where a folder should be) leaves the old file as
it was and no temporary file behind. ``refuse_overwriting`` is the one check that a
command's output is not one of its inputs. ``read_json`` and ``check_json`` read a JSON file
someone else may have written (another version, an editor, a truncated copy) into a value
checked against a JSON Schema, each problem a one-line error naming the file and the field.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from archcalc.checks import file_errors
from archcalc.errors import BadFileError, InvalidArgumentError

__all__ = ["check_json", "parse_json", "read_json", "refuse_overwriting", "write_atomic"]


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one step.

    The temporary file is created with the process's umask, as a plain write would, and
    removed on any failure, even an interrupt.

    Raises:
        InvalidArgumentError: the file cannot be written (one line naming ``path`` and why).

    Example:
        >>> write_atomic("report.md", "# sweep\\n")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidArgumentError(f"cannot write {path}: it is a folder; give a file name")
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with file_errors(path, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _same_file(a: Path, b: Path) -> bool:
    """The same file: same path once resolved, or (both existing) the same inode (a link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting(
    outputs: Mapping[str, Path | None], inputs: Iterable[Path], what: str
) -> None:
    """Refuse an output that is one of the command's inputs: writing it would lose the input.

    Args:
        outputs: option (``--out``) -> the path it names (None: not given).
        inputs: the files the command reads.
        what: what the output would be, for the message (``one of the sweep files read``).

    Raises:
        InvalidArgumentError: one line naming the option, the path and the fix.
    """
    read = list(inputs)
    for option, path in outputs.items():
        if path is not None and any(_same_file(path, p) for p in read):
            raise InvalidArgumentError(
                f"{option} {path} is {what}: writing it would lose it; choose another file"
            )


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, what: str) -> Any:
    """The JSON value in ``path`` (UTF-8 text; NaN and Infinity refused, as JSON has neither).

    Raises:
        InvalidArgumentError: unreadable; BadFileError: not UTF-8 or not JSON
        ("<path>: not <what> (...)").
    """
    with file_errors(path, "read"):
        raw = path.read_bytes()
    return parse_json(raw, str(path), what)


def parse_json(raw: bytes | str, where: str, what: str) -> Any:
    """``read_json`` of bytes already read (``where`` names them in the message)."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as e:
        raise BadFileError(where, f"not {what} (not UTF-8 text)") from e
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise BadFileError(where, f"not {what} (not JSON: {e.msg} at line {e.lineno})") from e
    except ValueError as e:
        raise BadFileError(where, f"not {what} (not JSON: {e})") from e


#: JSON Schema type -> (Python types, how a message names it).
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "object": ((dict,), "an object"),
    "array": ((list,), "a list"),
    "string": ((str,), "a string"),
    "integer": ((int,), "an integer"),
    "number": ((int, float), "a number"),
    "boolean": ((bool,), "true or false"),
    "null": ((type(None),), "null"),
}


def check_json(value: Any, schema: Mapping[str, Any], where: str = "") -> None:
    """Check ``value`` against a JSON Schema, without the ``jsonschema`` package.

    Reads the keywords archcalc's hand-declared schemas use: ``type`` (a name or a list),
    ``const``, ``enum``, ``required``, ``properties``, ``additionalProperties`` (a schema),
    ``items``, ``exclusiveMinimum``, ``minimum``, ``minProperties`` and ``if``/``then``;
    numbers must be finite.

    Raises:
        InvalidArgumentError: the first problem, e.g. ``error.p90_pct is missing``.
    """
    problem = _problem(value, schema, where)
    if problem is not None:
        raise InvalidArgumentError(problem)


def _is(value: Any, kind: str) -> bool:
    return isinstance(value, _TYPES[kind][0]) and isinstance(value, bool) == (kind == "boolean")


def _problem(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    name = where or "the document"
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds and not any(_is(value, kind) for kind in kinds):
        expected = " or ".join(_TYPES[kind][1] for kind in kinds)
        return f"{name} is not {expected} ({value!r:.40})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} is not a finite number ({value!r})"
    if "const" in schema and value != schema["const"]:
        return f"{name} is {value!r:.40}, not {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{name} is {value!r:.40}, not one of {', '.join(map(str, schema['enum']))}"
    if "exclusiveMinimum" in schema and not value > schema["exclusiveMinimum"]:
        return f"{name} must be > {schema['exclusiveMinimum']} ({value!r})"
    if "minimum" in schema and not value >= schema["minimum"]:
        return f"{name} must be >= {schema['minimum']} ({value!r})"
    if isinstance(value, list) and "items" in schema:
        found = (_problem(v, schema["items"], f"{where}[{i}]") for i, v in enumerate(value))
        return next((p for p in found if p is not None), None)
    if isinstance(value, dict):
        return _object_problem(value, schema, where)
    return None


def _object_problem(value: dict[str, Any], schema: Mapping[str, Any], where: str) -> str | None:
    prefix = f"{where}." if where else ""
    for key in schema.get("required", ()):
        if key not in value:
            return f"{prefix}{key} is missing"
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = properties.get(key, extra)
        problem = _problem(item, sub, f"{prefix}{key}") if isinstance(sub, Mapping) else None
        if sub is False:
            problem = f"{prefix}{key} is not expected here"
        if problem is not None:
            return problem
    condition = schema.get("if")
    if condition is not None and _problem(value, condition, where) is None:
        return _problem(value, schema.get("then", {}), where)
    if len(value) < schema.get("minProperties", 0):
        return f"{where or 'the document'} is empty"
    return None
