"""Which MAC formula counts each operator: torch's registry, archcalc's additions, and yours.

A formula is looked up per operator (an ``OpOverloadPacket`` such as ``aten.mm``) in, first to
last: the formulas of an enclosing ``use_formulas`` block, those given to
``register_formula``, archcalc's own additions (the fused CPU attention kernels torch does not
list, and a grouped-convolution backward fix) and ``torch.utils.flop_counter.flop_registry``
as it is when counting starts (so a formula registered with torch's
``register_flop_formula`` counts too). Every ``Counter`` takes one snapshot when it is made,
so a profile in progress never sees a change.

Your formulas count MACs (one multiply-accumulate; FLOPs = 2 x MACs) and, like torch's, see
shapes: every tensor argument arrives as its shape and the output's as ``out_shape``.

Example (a custom op ``mylib::scale_mm(a, b)``, ``(m, k) @ (k, n)``)::

    def scale_mm_macs(a_shape, b_shape, *args, out_shape=None, **kwargs):
        m, k = a_shape
        return m * k * b_shape[1]

    with archcalc.use_formulas({torch.ops.mylib.scale_mm: scale_mm_macs}):
        archcalc.profile(model, 224)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch.utils.flop_counter import flop_registry, shape_wrapper

from archcalc.errors import InvalidArgumentError

__all__ = [
    "FORMULAS",
    "FormulaRegistry",
    "MacFormula",
    "active_formulas",
    "register_formula",
    "use_formulas",
]

_aten = torch.ops.aten

#: A MAC formula: the op's arguments as shapes (``out_shape=`` the output's) -> MACs.
MacFormula = Callable[..., int]


@functools.cache
def _weight_grad_ignores_groups() -> bool:
    """True where torch's convolution_backward formula counts a grouped conv's weight gradient
    as if it were dense (torch <= 2.14; the fix proposed upstream in pytorch/pytorch#183405).

    Probe: two groups of one channel, a 1x1 kernel on a 1x1 map: the weight gradient is 2 MACs.
    """
    formula = flop_registry[_aten.convolution_backward]
    shapes = ((1, 2, 1, 1), (1, 2, 1, 1), (2, 1, 1, 1))
    conv = (None, [1, 1], [0, 0], [1, 1], False, [0, 0], 2, [False, True, False])
    return bool(formula(*shapes, *conv, out_val=(None, (2, 1, 1, 1), None)) // 2 != 2)


def _conv_backward(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
    """torch's convolution_backward formula (FLOPs), its weight-gradient term per group.

    The input gradient of a conv costs its forward and so does its weight gradient; torch's
    formula forgets the groups in the second (a depthwise conv's counted C times over), so
    that term is divided by the groups where the installed torch still does.
    """
    formula = flop_registry[_aten.convolution_backward]
    *conv, groups, mask = args
    if groups == 1:
        return int(formula(*args, out_val=out_val, **kwargs))
    flops = formula(*conv, groups, [mask[0], False, False], out_val=out_val, **kwargs)
    weight = formula(*conv, groups, [False, mask[1], False], out_val=out_val, **kwargs)
    return int(flops + (weight // groups if _weight_grad_ignores_groups() else weight))


def _archcalc_additions() -> dict[Any, Callable[..., int]]:
    """archcalc's FLOP formulas beside torch's: the fused SDPA kernels it does not list."""
    sdpa = flop_registry[_aten._scaled_dot_product_flash_attention]
    return {
        _aten._scaled_dot_product_flash_attention_for_cpu: sdpa,
        _aten._scaled_dot_product_fused_attention_overrideable: sdpa,
        _aten.convolution_backward: _conv_backward,
    }


def _packet(op: Any) -> Any:
    """The ``OpOverloadPacket`` of ``op``: a packet, an overload (``aten.mm.default``) or a
    ``torch.library.custom_op`` object."""
    op = getattr(op, "_opoverload", op)  # torch.library.custom_op's CustomOpDef
    if isinstance(op, torch._ops.OpOverload):
        op = op.overloadpacket
    if not isinstance(op, torch._ops.OpOverloadPacket):
        raise InvalidArgumentError(
            f"a formula needs a torch operator such as torch.ops.aten.mm or "
            f"torch.ops.mylib.my_op, got {op!r}"
        )
    return op


def _as_flops(fn: MacFormula) -> Callable[..., int]:
    """``fn`` (MACs of shapes) as a formula of the Counter's form (FLOPs of tensors)."""
    if not callable(fn):
        raise InvalidArgumentError(f"a formula must be callable, got {fn!r}")
    shaped = shape_wrapper(fn)

    def flops(*args: Any, **kwargs: Any) -> int:
        return 2 * int(shaped(*args, **kwargs))

    return flops


class FormulaRegistry:
    """Formulas added with ``register`` over archcalc's and torch's (see the module docstring).

    Example: ``FormulaRegistry().register(torch.ops.mylib.scale_mm, scale_mm_macs)``.
    """

    def __init__(self) -> None:
        self._added: dict[Any, Callable[..., int]] = {}

    def register(self, op: Any, fn: MacFormula) -> None:
        """Count ``op`` with ``fn`` (MACs), replacing any formula it had.

        Raises:
            InvalidArgumentError: ``op`` is not a torch operator or ``fn`` is not callable.
        """
        self._added[_packet(op)] = _as_flops(fn)

    def unregister(self, op: Any) -> None:
        """Drop the formula given to ``register`` for ``op`` (no error if there was none)."""
        self._added.pop(_packet(op), None)

    def snapshot(
        self, scoped: Mapping[Any, Callable[..., int]] | None = None
    ) -> dict[Any, Callable[..., int]]:
        """Every formula now in force, FLOPs per call (what a ``Counter`` looks ops up in);
        ``scoped`` (a ``use_formulas`` block's) lie above this registry's."""
        return {**flop_registry, **_archcalc_additions(), **self._added, **(scoped or {})}


#: The formulas ``register_formula`` adds to (those of ``use_formulas`` blocks lie above).
FORMULAS = FormulaRegistry()
_SCOPED: ContextVar[Mapping[Any, Callable[..., int]] | None] = ContextVar(
    "archcalc_formulas", default=None
)


def register_formula(op: Any, fn: MacFormula) -> None:
    """Count ``op`` with ``fn`` in every later profile (like torch's ``register_flop_formula``,
    but in MACs, and an op that already has a formula gets yours instead).

    Args:
        op: the operator: ``torch.ops.mylib.my_op`` (or one overload, or the object
            ``torch.library.custom_op`` returned), or an aten op to override.
        fn: its MACs from shapes: ``fn(*arg_shapes, out_shape=..., **kwargs) -> int``.

    Raises:
        InvalidArgumentError: ``op`` is not a torch operator or ``fn`` is not callable.

    Example:
        >>> archcalc.register_formula(torch.ops.mylib.scale_mm, scale_mm_macs)  # doctest: +SKIP

        (the module docstring writes ``scale_mm_macs``). For one block of code only,
        ``use_formulas`` leaves nothing behind.
    """
    FORMULAS.register(op, fn)


@contextmanager
def use_formulas(formulas: Mapping[Any, MacFormula]) -> Iterator[None]:
    """Count with ``formulas`` (op -> MAC formula) inside the block only, over every other.

    Args:
        formulas: as ``register_formula`` takes them, many at once.

    Returns:
        A context manager, with nothing to bind with ``as``; the formulas count inside
            the ``with`` block only, and nothing is left behind when it ends.

    Raises:
        InvalidArgumentError: a key is not a torch operator or a value is not callable.

    Example:
        >>> with archcalc.use_formulas({torch.ops.mylib.scale_mm: scale_mm_macs}):
        ...     archcalc.profile(model, 224).macs  # doctest: +SKIP

        The Python API page runs a whole example on a custom op.
    """
    outer = _SCOPED.get() or {}
    token = _SCOPED.set({**outer, **{_packet(op): _as_flops(fn) for op, fn in formulas.items()}})
    try:
        yield
    finally:
        _SCOPED.reset(token)


def active_formulas() -> dict[Any, Callable[..., int]]:
    """Every formula in force here and now (FLOPs per call), one snapshot for one Counter."""
    return FORMULAS.snapshot(_SCOPED.get())
