"""The receptive field of every tensor of a traced forward, read off the operators it runs.

``FieldTracker.after`` is called by the MAC counter (``archcalc.core.count``) after each
dispatched operator, so the analysis rides on the one meta forward ``profile()`` already runs.
Each tensor computed from the input carries a ``State`` (``archcalc.core.receptive.state``):
which of its dims hold the map's rows and columns (followed through views, permutes and
reshapes, so NCHW, NHWC and token layouts all work), the field along each axis, the context.

* convolution, pooling, padding, slicing and upsampling apply their index rule per axis;
* point-wise operators, concatenation along channels and contractions over channels take the
  union of their inputs' fields (a residual sum: what either path sees);
* a reduction or contraction over every position (global pooling, attention's ``A @ V``) sees
  the whole input: ``global``; broadcast back onto a map it is a ``gate`` (squeeze-and-
  excitation, global-context blocks), as are norm statistics taken over the map;
* any other operator on a tracked tensor makes the field ``unknown``, naming the operator:
  never a guessed number. Rules: ``archcalc.core.receptive.rules``.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from functools import cache
from typing import Any

import torch

from archcalc.core.receptive.axis import IDENTITY
from archcalc.core.receptive.rules import RULES, SHAPE_ONLY
from archcalc.core.receptive.state import State, one, other, unknown
from archcalc.core.receptive.views import pointwise
from archcalc.results import ReceptiveField

__all__ = ["FieldTracker"]


class _States:
    """Tensor -> State, keyed by identity through weak references: no tensor is kept alive
    (the memory count needs them to die), and an id reused by a new tensor is not mistaken
    for the dead one's."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref[torch.Tensor], State]] = {}

    def get(self, tensor: Any) -> State | None:
        """The state of ``tensor``; None for an untracked tensor or any other value."""
        item = self._items.get(id(tensor))
        return item[1] if item is not None and item[0]() is tensor else None

    def put(self, tensor: torch.Tensor, state: State) -> None:
        self._items[id(tensor)] = (weakref.ref(tensor), state)

    def drop(self, tensor: torch.Tensor) -> None:
        self._items.pop(id(tensor), None)


#: What ``after`` does with an operator: nothing, drop a mutated tensor's state, or a rule.
_SKIP, _DROP, _RULE = 0, 1, 2


@cache
def _plan(func: Any) -> tuple[int, bool, bool, Any, bool]:
    """(action, mutates its first argument, takes a list of tensors, rule or None, point-wise)
    for one operator overload: read once, since ``after`` runs on every dispatched operator."""
    packet = func._overloadpacket
    schema = func._schema
    lists = any(
        str(a.type).startswith("List[") and "Tensor" in str(a.type) for a in schema.arguments
    )
    if packet in SHAPE_ONLY:
        return (_DROP if schema.is_mutable else _SKIP), schema.is_mutable, lists, None, False
    return _RULE, schema.is_mutable, lists, RULES.get(packet), torch.Tag.pointwise in func.tags


class FieldTracker:
    """Per-tensor field states for one forward."""

    def __init__(self) -> None:
        self._states = _States()

    def track(self, x: torch.Tensor) -> None:
        """Mark the model input: an NCHW image whose every pixel sees itself."""
        n, c, h, w = x.shape
        dims = (one("o", n), one("o", c), one("h", h), one("w", w))
        self._states.put(x, State(dims, IDENTITY, IDENTITY))

    def state(self, tensor: Any) -> State | None:
        """The state of ``tensor``; None for one not computed from the input."""
        return self._states.get(tensor) if isinstance(tensor, torch.Tensor) else None

    def field(self, tensor: Any) -> ReceptiveField | None:
        """The field of one recorded output, or None for a tensor not computed from the input."""
        st = self.state(tensor)
        return None if st is None else st.field()

    def after(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        """Give the outputs of one dispatched operator their states."""
        action, mutates, lists, rule, point = _plan(func)
        if action == _SKIP:
            return
        get = self._states.get  # None for anything but a tracked tensor
        given = _tensors(args, kwargs) if lists else (*args, *kwargs.values()) if kwargs else args
        inputs = [(a, st) for a in given if (st := get(a)) is not None]
        if not inputs:
            return
        mutable = mutates and isinstance(args[0], torch.Tensor)
        if action == _DROP:
            if mutable:
                self._states.drop(args[0])
            return
        if rule is None and point and isinstance(out, torch.Tensor):
            rule = pointwise  # a union of the inputs' fields
        result = _apply(func, rule, args, kwargs, out, inputs)
        put = self._states.put
        if isinstance(out, torch.Tensor):
            first = result[0] if isinstance(result, list) else result
            if first is not None:
                put(out, first)
        else:
            results = result if isinstance(result, list) else [result] * len(out)
            for t, st in zip(out, results, strict=False):
                if isinstance(t, torch.Tensor) and st is not None:
                    put(t, st)
            first = results[0] if results else None
        if mutable and first is not None:
            put(args[0], first)


def _apply(
    func: Any, rule: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any,
    inputs: list[tuple[torch.Tensor, State]],
) -> Any:  # fmt: skip
    """The operator's rule (unknown, naming it, where none applies or the rule fails), keeping
    the first cause where an input was already unknown."""
    try:
        result = rule(args, kwargs, out, inputs) if rule is not None else None
        why = "is not analysed"
    except Exception as e:  # noqa: BLE001 - a rule that cannot read an op never stops a trace
        result, why = None, f"could not be analysed ({type(e).__name__})"
    if result is None:
        name = str(func._overloadpacket).removeprefix("aten.")
        result = unknown(other(out.shape if isinstance(out, torch.Tensor) else ()), f"{name} {why}")
    first = result[0] if isinstance(result, list) else result
    if first is None or first.context != "unknown":
        return result
    earlier = next((st.reason for _, st in inputs if st.context == "unknown"), None)
    if earlier is None:
        return result
    if isinstance(result, list):  # keep the first cause
        return [replace(r, reason=earlier) if r is not None else r for r in result]
    return replace(result, reason=earlier)


def _tensors(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[torch.Tensor]:
    """The tensor arguments, one list level deep (``cat``'s list of tensors): for operators
    whose schema takes a list of tensors."""
    found = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            found.extend(t for t in a if isinstance(t, torch.Tensor))
    return found
