"""One converter between result dataclasses and their JSON objects, and their JSON Schemas.

Every result (``Profile``, ``Timing``, ``Suggestion``, ``Scaling`` ...) is a dataclass; its JSON
object is read off the dataclass itself: one key per field, in field order, named after the
field. Where the JSON differs from that, the field says so in its metadata (:func:`json_field`):

- ``name``: the JSON key (``error_type`` is written ``type``);
- ``group``: the key sits inside a nested object (``batch_size`` in ``input``);
- ``then`` / ``before``: read-only properties written after / before the field (``flops``
  after ``macs``); they are derived, so loading ignores them;
- ``flatten``: a nested dataclass's keys are merged into this object (a suggestion's
  alternative is a profile's keys plus its own);
- ``skip``: not written; loading gives the field its default (or ``decode``'s value);
- ``encode`` / ``decode`` / ``json_type``: a field written as another value (of type
  ``json_type``) and read back from the whole document.

Pairs and other tuples are written as lists and read back as tuples; a missing key takes the
field's default, which is how documents of older schema versions still load. Adding a key to
a result is one edit: add the field (with its default when old documents lack it).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Box(Serialized):
    ...     side: tuple[int, int]
    ...     label: str = json_field(default="", name="name")
    >>> Box((2, 3), "a").to_dict()
    {'side': [2, 3], 'name': 'a'}
    >>> Box.from_dict({"side": [2, 3]})
    Box(side=(2, 3), label='')
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any, TypeVar, Union

__all__ = ["Key", "Serialized", "from_json", "json_field", "json_schema", "to_json"]

#: The metadata key under which a field's :class:`Key` is stored.
METADATA = "archcalc.json"
#: The JSON Schema dialect of the generated schemas.
DIALECT = "https://json-schema.org/draft/2020-12/schema"

T = TypeVar("T")


@dataclass(frozen=True)
class Key:
    """How one dataclass field appears in JSON (see the module docstring for each option)."""

    name: str | None = None
    group: str | None = None
    then: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    flatten: bool = False
    skip: bool = False
    encode: Callable[[Any], Any] | None = None
    decode: Callable[[Mapping[str, Any]], Any] | None = None
    json_type: Any = None


def json_field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    **options: Any,
) -> Any:
    """A dataclass field with JSON options (``dataclasses.field`` plus a :class:`Key`).

    Args:
        default: the field's default (also what a document without the key loads as).
        default_factory: or a factory for it.
        **options: :class:`Key`'s options: ``name``, ``group``, ``then``, ``before``,
            ``flatten``, ``skip``, ``encode``, ``decode``, ``json_type``.

    Returns:
        The ``dataclasses.field`` to assign in the class body.

    Raises:
        TypeError: an unknown option.

    Example: ``macs: int = json_field(then=("flops",))``.
    """
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={METADATA: Key(**options)}
    )


def _key(f: dataclasses.Field[Any]) -> Key:
    return f.metadata.get(METADATA) or Key()


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _property_type(cls: type, name: str) -> Any:
    """The return annotation of the derived property ``name`` (``Any`` when not annotated)."""
    attribute = getattr(cls, name)
    getter = attribute.fget if isinstance(attribute, property) else attribute
    return typing.get_type_hints(getter).get("return", Any)


# --- writing ---------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """``value`` as JSON data: dataclasses and named tuples as objects, tuples as lists.

    Args:
        value: a result dataclass, or anything inside one.

    Returns:
        Plain ``dict`` / ``list`` / ``str`` / ``int`` / ``float`` / ``bool`` / ``None`` data,
        ready for ``json.dumps``.

    Example: ``to_json(profile)["final_map"]`` is ``[7, 7]``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _object(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: to_json(v) for name, v in zip(value._fields, value, strict=True)}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def _object(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        key = _key(f)
        for name in key.before:
            out[name] = to_json(getattr(obj, name))
        if not key.skip:
            value = to_json(key.encode(obj) if key.encode else getattr(obj, f.name))
            if key.flatten:
                out.update(value)
            elif key.group:
                out.setdefault(key.group, {})[key.name or f.name] = value
            else:
                out[key.name or f.name] = value
        for name in key.then:
            out[name] = to_json(getattr(obj, name))
    return out


# --- reading ---------------------------------------------------------------------------


def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a ``cls`` from its JSON object (``to_json`` output, this version or older).

    Args:
        cls: the result dataclass.
        data: its JSON object; keys missing from it take the field's default.

    Returns:
        The dataclass, with tuples where the JSON has lists and derived keys ignored.

    Raises:
        ValueError: a key without a default is missing (the message names it).

    Example: ``from_json(Profile, json.load(f))``.
    """
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _key(f)
        if key.decode is not None:
            values[f.name] = key.decode(data)
            continue
        if key.skip:
            continue
        if key.flatten:
            values[f.name] = _read(hints[f.name], data)
            continue
        container = data.get(key.group, {}) if key.group else data
        name = key.name or f.name
        if name in container:
            values[f.name] = _read(hints[f.name], container[name])
        elif f.default is MISSING and f.default_factory is MISSING:
            where = f"{key.group}.{name}" if key.group else name
            raise ValueError(f"{cls.__name__}: the JSON object has no {where!r} key")
    return cls(**values)


def _read(hint: Any, raw: Any) -> Any:
    """The JSON value ``raw`` as the annotated type ``hint``."""
    if hint is Any or raw is None:
        return raw
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        return _read(arms[0], raw) if len(arms) == 1 else raw
    if dataclasses.is_dataclass(hint):
        return from_json(hint, raw)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        fields = typing.get_type_hints(hint)
        return hint(**{k: _read(fields[k], raw[k]) for k in hint._fields})
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_read(args[0], r) for r in raw)
        return tuple(_read(a, r) for a, r in zip(args, raw, strict=True))
    if origin is dict:
        return {k: _read(args[1], v) for k, v in raw.items()}
    if hint is float:
        return float(raw)
    return raw


# --- schemas ---------------------------------------------------------------------------


def json_schema(cls: type, *, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``cls``'s JSON object, from the same field metadata.

    Every key written is required and no other key is allowed, so a schema check catches a
    key added or dropped without the dataclass knowing.

    Args:
        cls: the result dataclass.
        extra: more top-level properties (name -> schema), for documents that add keys to a
            result's object (a sweep line is a profile plus ``status`` and ``error``).

    Returns:
        The schema, with nested dataclasses under ``$defs``.

    Example: ``json_schema(Profile)["required"][0]`` is ``'schema_version'``.
    """
    defs: dict[str, Any] = {}
    top = _object_schema(cls, defs)
    if extra:
        top["properties"].update(extra)
        top["required"] = [*top["required"], *extra]
    schema = {"$schema": DIALECT, "title": cls.__name__, **top}
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = _key(f)
        for name in key.before:
            props[name] = _schema(_property_type(cls, name), defs)
        if not key.skip:
            hint = key.json_type if key.json_type is not None else hints[f.name]
            if key.flatten:
                props.update(_object_schema(hint, defs)["properties"])
            elif key.group:
                group = props.setdefault(key.group, _closed({}))
                group["properties"][key.name or f.name] = _schema(hint, defs)
                group["required"].append(key.name or f.name)
            else:
                props[key.name or f.name] = _schema(hint, defs)
        for name in key.then:
            props[name] = _schema(_property_type(cls, name), defs)
    schema = _closed(props)
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    return {"description": " ".join(doc.split()), **schema} if doc else schema


def _closed(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


_SCALARS = {int: "integer", float: "number", bool: "boolean", str: "string"}


def _schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of one annotated type (dataclasses go to ``defs`` and are referenced)."""
    if hint is Any:
        return {}
    if hint is type(None):
        return {"type": "null"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        arms = [_schema(a, defs) for a in args]
        if all(list(arm) == ["type"] for arm in arms):  # int | None -> ["integer", "null"]
            return {"type": [arm["type"] for arm in arms]}
        return {"anyOf": arms}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: a recursive reference ends here
            defs[name] = _object_schema(hint, defs)
        return {"$ref": f"#/$defs/{name}"}
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        fields = typing.get_type_hints(hint)
        return _closed({k: _schema(fields[k], defs) for k in hint._fields})
    if origin in (tuple, list):
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", "items": _schema(args[0], defs)}
        items = [_schema(a, defs) for a in args]
        return {
            "type": "array",
            "prefixItems": items,
            "minItems": len(items),
            "maxItems": len(items),
        }
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs)}
    raise TypeError(f"no JSON Schema for the annotation {hint!r}")


class Serialized:
    """Mixin: ``to_dict()`` / ``from_dict()`` of a result dataclass, through the one converter.

    Example: ``Profile.from_dict(profile.to_dict()) == profile``.
    """

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON object (``to_json(self)``)."""
        return to_json(self)

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Rebuild from a JSON object written by this version or an older one."""
        return from_json(cls, data)
