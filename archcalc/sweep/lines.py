"""What a sweep line is: an object whose every value the report reads has the type it reads.

``run_sweep`` writes ok lines (a profile, ``status`` ok, optionally ``latency_s`` and a
``prediction``) and error lines (the identity keys and an ``error`` object). Files are shared
and edited by hand, so a line is checked before anything reads it: one that is not a sweep
line is not a result (the report skips and counts it, ``merge`` keeps it aside, a resumed
sweep redoes its pair), never a crash halfway through a report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["is_result"]

_SIZES = ("batch_size", "channels", "height", "width")
_NUMBERS = ("params", "trainable_params", "macs", "flops", "final_channels", "latency_s")
_PAIRS = ("global_stride", "final_map")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _pair(value: Any) -> bool:
    """``[h, w]`` of integers (the JSON of a ``Pair``)."""
    return isinstance(value, list) and len(value) == 2 and all(_whole(v) for v in value)


def _text(value: Any) -> bool:
    return isinstance(value, str)


#: What a line's ``prediction`` and ``error`` objects hold where the report reads them.
_PREDICTION = {"latency_ms": _number, "samples_per_sec": _number, "target": _text,
               "batch_size": _whole}  # fmt: skip
_ERROR = {"kind": _text, "type": _text, "reason": _text}


def _object(value: Any, kinds: dict[str, Callable[[Any], bool]]) -> bool:
    """Whether ``value`` is None, or an object whose given keys hold None or pass their test."""
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    return all(value.get(k) is None or test(value[k]) for k, test in kinds.items())


def _values(value: Any, test: Callable[[Any], bool]) -> bool:
    """Whether ``value`` is None, or an object whose values are None or pass ``test``."""
    return value is None or (
        isinstance(value, dict) and all(v is None or test(v) for v in value.values())
    )


def _parts_fit(line: dict[str, Any]) -> bool:
    """The nested objects the report reads: memory, receptive field, environment,
    prediction and error (with its nearest valid sizes)."""
    field, error = line.get("receptive_field"), line.get("error")
    if not _object(field, {"context": _text}) or not _object(error, _ERROR):
        return False
    if field is not None and field.get("size") is not None and not _pair(field["size"]):
        return False
    nearest = (error or {}).get("nearest", [])
    return (
        isinstance(nearest, list)
        and all(_pair(p) for p in nearest)
        and _values(line.get("memory"), _number)
        and _values(line.get("environment"), lambda v: isinstance(v, str | int | float))
        and _object(line.get("prediction"), _PREDICTION)
    )


def is_result(line: dict[str, Any]) -> bool:
    """Whether a JSON object is a sweep line (``run_sweep``'s ok or error line, or a profile's
    JSON): a model name, an input of whole positive sizes, status ok or error (ok when absent),
    and wherever the report reads a value, one of the type it reads (numbers or null, pairs of
    whole numbers, and a receptive field, environment, ``prediction`` and ``error`` of the
    shapes ``run_sweep`` writes).

    Example: ``is_result({"model": "resnet18", "input": {...}, "prediction": "fast"})`` is
    False: a ``prediction`` is an object.
    """
    inp = line.get("input")
    if not isinstance(line.get("model"), str) or not isinstance(inp, dict):
        return False
    if line.get("status", "ok") not in ("ok", "error"):
        return False
    return (
        all(_whole(inp.get(k)) for k in _SIZES)
        and isinstance(line.get("convention", ""), str)
        and all(line.get(k) is None or _number(line[k]) for k in _NUMBERS)
        and all(line.get(k) is None or _pair(line[k]) for k in _PAIRS)
        and _parts_fit(line)
    )
