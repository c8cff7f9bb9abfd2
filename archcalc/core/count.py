"""Counting at the dispatcher: MACs from ``torch.utils.flop_counter``'s formulas, and memory.

Conventions (one MAC = one multiply-accumulate; FLOPs = 2 x MACs):

* ``core``: convolution, linear (mm/addmm), matmul/bmm/einsum and scaled-dot-product
  attention -- torch's own ``flop_registry`` formulas, halved. The fused CPU attention kernel,
  which torch's registry misses, uses the same SDPA formula, so meta, CPU and CUDA agree.
  ``archcalc.register_formula`` / ``use_formulas`` add or override formulas (custom ops);
  ``archcalc.core.formulas`` says which formula wins.
* ``fvcore``: core plus fvcore's extra terms (what timm's published tables count), taken at
  the functional level where fvcore's JIT trace sees them: batch norm 2/element in eval (1
  without affine; 5/4 in training), layer/group/instance norm 5/element (4 without affine),
  adaptive average pooling 1 per input element, nearest upsampling 1 and bilinear upsampling
  or grid sampling 4 per output element.

Memory is read off the same ops: every newly allocated output adds to the activation sum
and to the live set (released when its storage dies), and autograd's saved tensors give
the activations a training step keeps for backward.

A training step's MACs: on the meta device the saved tensors are kept as shapes only, and
``Counter.backward`` runs autograd's backward of the outputs (gradients of every trainable
parameter, none for the input) through the same formulas. Frozen parameters get no weight
gradient; fvcore's extra terms have no backward counterpart, so backward MACs are core MACs.

On the meta device a Counter answers repeated calls from the first one's output layout
(``archcalc.core.replay``): the same counts, several times faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import flop_registry

from archcalc.checks import check_convention
from archcalc.core.formulas import active_formulas
from archcalc.core.ops import current_log
from archcalc.core.receptive.tracker import FieldTracker
from archcalc.core.replay import MetaReplay, empty

__all__ = ["Counter", "Counts", "count_forward"]

_aten = torch.ops.aten


#: The convolutions, whose output maps ``Counts.grids`` records.
_CONVOLUTIONS = {p for p in flop_registry if "conv" in str(p) and "backward" not in str(p)}


@dataclass(frozen=True)
class Counts:
    """Totals of one forward: MACs, conv output maps, and activation bytes; with ``backward``,
    the MACs of the backward pass too (None when it was not run)."""

    macs: int
    grids: tuple[tuple[int, int], ...]
    activation_bytes: int
    peak_activation_bytes: int
    saved_activation_bytes: int
    saved_half_bytes: int
    backward_macs: int | None = None


class Counter(TorchDispatchMode):
    """Dispatch mode adding MACs per op and tracking newly allocated and live activation bytes.

    ``fields``: follow every operator's receptive field on the same dispatch (forward only);
    ``replay``: answer repeated meta-device calls from the first call's output layout
    (``archcalc.core.replay.MetaReplay``). The MAC formulas are those in force when it is made
    (``archcalc.core.formulas.active_formulas``).
    """

    def __init__(
        self, skip_storages: set[int], fields: FieldTracker | None = None, *, replay: bool = False
    ) -> None:
        super().__init__()
        self.fields = fields
        self.macs = 0
        self.backward_macs = 0
        self.grids: list[tuple[int, int]] = []
        self.activation_bytes = 0
        self.peak_bytes = 0
        self._live: dict[int, tuple[StorageWeakRef, int]] = {}
        self._live_bytes = 0
        self._skip = skip_storages
        self._in_backward = False
        self._replay = MetaReplay() if replay else None
        self._formulas = active_formulas()
        self.ops = current_log()  # per-op costs, inside archcalc.core.ops.recording() only
        if self.ops is not None:
            self.ops.start(skip_storages)

    def track(self, tensor: torch.Tensor) -> None:
        """Hold ``tensor`` (the model input) in the live set; it is not a forward output."""
        self._allocate([tensor], output=False)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        replay = self._replay
        out = func(*args, **kwargs) if replay is None else replay.run(func, args, kwargs)
        packet = func._overloadpacket
        formula = self._formulas.get(packet)
        macs = 0
        if formula is not None:
            macs = formula(*args, **kwargs, out_val=out) // 2
            if self._in_backward:
                self.backward_macs += macs
                return out
            self.macs += macs
            if packet in _CONVOLUTIONS and isinstance(out, torch.Tensor) and out.dim() == 4:
                self.grids.append((out.shape[2], out.shape[3]))
        if not self._in_backward and not func.is_view and not func._schema.is_mutable:
            self._allocate(out if isinstance(out, (tuple, list)) else [out])
        if self.fields is not None and not self._in_backward:
            self.fields.after(func, args, kwargs, out)
        if self.ops is not None and not self._in_backward:
            self.ops.add(func, args, kwargs, out, macs)
        return out

    def backward(self, outputs: Any, leaves: Sequence[torch.Tensor]) -> None:
        """Run autograd's backward of ``outputs`` for the gradients of ``leaves`` (the trainable
        parameters; never the input), adding its MACs to ``backward_macs``.

        Every floating output is seeded with ones (the gradient of a sum); the parameters'
        ``.grad`` are left untouched. Nothing to differentiate (all frozen) adds nothing.
        """
        seeds = [t for t in tree_leaves(outputs) if isinstance(t, torch.Tensor) and t.requires_grad]
        wanted = [t for t in leaves if t.requires_grad]
        if not seeds or not wanted:
            return
        self._in_backward = True
        try:
            grads = [torch.ones_like(t) for t in seeds]
            torch.autograd.grad(seeds, wanted, grads, allow_unused=True)
        finally:
            self._in_backward = False

    def _allocate(self, outputs: Any, output: bool = True) -> None:
        for t in outputs:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in self._live or key in self._skip:
                continue
            nbytes = storage.nbytes()
            self.activation_bytes += nbytes if output else 0
            self._live[key] = (StorageWeakRef(storage), nbytes)
            self._live_bytes += nbytes
        self._release()
        self.peak_bytes = max(self.peak_bytes, self._live_bytes)

    def _release(self) -> None:
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for k in dead:
            self._live_bytes -= self._live.pop(k)[1]


class _SavedTensors:
    """Autograd pack hook that sums the distinct storages saved for backward.

    Without ``keep_layouts`` it keeps nothing (the forward cannot be differentiated); with it,
    each saved meta tensor is kept as its shape, strides and dtype, and unpacked as a fresh
    meta tensor, so a backward runs without holding any activation alive during the forward.
    """

    def __init__(self, skip_storages: set[int], keep_layouts: bool = False) -> None:
        self.bytes = 0
        self.half_bytes = 0
        self._seen: dict[int, StorageWeakRef] = {}
        self._skip = skip_storages
        self._keep = keep_layouts

    def pack(self, tensor: torch.Tensor) -> Any:
        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self._skip:
            return tensor if self._keep else None
        ref = self._seen.get(key)
        if ref is None or ref.expired():
            self._seen[key] = StorageWeakRef(storage)
            nbytes = storage.nbytes()
            self.bytes += nbytes
            wide_float = tensor.is_floating_point() and tensor.element_size() == 4
            self.half_bytes += nbytes // 2 if wide_float else nbytes
        return (tuple(tensor.shape), tensor.stride(), tensor.dtype) if self._keep else None

    @staticmethod
    def unpack(packed: Any) -> torch.Tensor:
        if isinstance(packed, torch.Tensor):
            return packed
        if packed is None:
            raise RuntimeError("archcalc's inference forward keeps no tensors for backward")
        return empty(packed)


def _numel(shape: Any) -> int:
    return math.prod(shape)


def _norm_terms(x: torch.Tensor, affine: bool) -> int:
    return _numel(x.shape) * (5 if affine else 4)


def _batch_norm(x: torch.Tensor, weight: Any, training: bool) -> int:
    if training:
        return _norm_terms(x, weight is not None)
    return _numel(x.shape) * (2 if weight is not None else 1)


def _interpolate(x: torch.Tensor, out: torch.Tensor, mode: str) -> int:
    per = {"nearest": 1, "bilinear": 4}.get(mode, 0)
    return per * _numel(out.shape) if x.dim() == 4 else 0


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


#: fvcore's extra terms, keyed by the Python-level function fvcore's JIT trace records.
_FVCORE: dict[Any, Callable[[tuple[Any, ...], dict[str, Any], Any], int]] = {
    F.batch_norm: lambda a, k, o: _batch_norm(
        a[0], _arg(a, k, 3, "weight", None), _arg(a, k, 5, "training", False)
    ),
    torch.batch_norm: lambda a, k, o: _batch_norm(
        a[0], _arg(a, k, 1, "weight", None), _arg(a, k, 5, "training", False)
    ),
    F.layer_norm: lambda a, k, o: _norm_terms(a[0], _arg(a, k, 2, "weight", None) is not None),
    torch.layer_norm: lambda a, k, o: _norm_terms(a[0], _arg(a, k, 2, "weight", None) is not None),
    F.group_norm: lambda a, k, o: _norm_terms(a[0], _arg(a, k, 2, "weight", None) is not None),
    torch.group_norm: lambda a, k, o: _norm_terms(a[0], _arg(a, k, 2, "weight", None) is not None),
    F.instance_norm: lambda a, k, o: _norm_terms(a[0], _arg(a, k, 3, "weight", None) is not None),
    torch.instance_norm: lambda a, k, o: _norm_terms(
        a[0], _arg(a, k, 1, "weight", None) is not None
    ),
    F.adaptive_avg_pool2d: lambda a, k, o: _numel(a[0].shape),
    torch._C._nn.adaptive_avg_pool2d: lambda a, k, o: _numel(a[0].shape),
    F.interpolate: lambda a, k, o: _interpolate(a[0], o, _arg(a, k, 3, "mode", "nearest")),
    torch._C._nn.upsample_nearest2d: lambda a, k, o: _numel(o.shape),
    torch._C._nn.upsample_bilinear2d: lambda a, k, o: 4 * _numel(o.shape),
    F.grid_sample: lambda a, k, o: 4 * _numel(o.shape),
    torch.grid_sampler: lambda a, k, o: 4 * _numel(o.shape),
}


class _FvcoreTerms(TorchFunctionMode):
    """Function mode adding fvcore's norm/pool/upsample terms to a Counter's MACs."""

    def __init__(self, counter: Counter) -> None:
        super().__init__()
        self.counter = counter

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        term = _FVCORE.get(func)
        if term is not None:
            self.counter.macs += term(args, kwargs, out)
        return out


@contextmanager
def count_forward(
    convention: str,
    skip_storages: set[int],
    fields: FieldTracker | None = None,
    *,
    meta: bool = False,
    backward: bool = False,
) -> Iterator[tuple[Counter, Callable[[], Counts]]]:
    """Count everything run inside the block; the returned callable gives the final Counts.

    ``skip_storages`` are the ``_cdata`` of parameter/buffer storages, never activations;
    ``fields``, when given, follows every operator's receptive field on the same dispatch.
    ``meta``: every tensor is on the meta device (repeated calls are replayed);
    ``backward``: keep saved tensors as meta layouts so ``Counter.backward`` can run (meta only).
    """
    check_convention(convention)
    counter = Counter(skip_storages, fields, replay=meta)
    saved = _SavedTensors(skip_storages, keep_layouts=backward)
    with ExitStack() as stack:
        stack.enter_context(torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack))
        if convention == "fvcore":
            stack.enter_context(_FvcoreTerms(counter))
        stack.enter_context(counter)

        def result() -> Counts:
            return Counts(
                macs=counter.macs,
                grids=tuple(counter.grids),
                activation_bytes=counter.activation_bytes,
                peak_activation_bytes=counter.peak_bytes,
                saved_activation_bytes=saved.bytes,
                saved_half_bytes=saved.half_bytes,
                backward_macs=counter.backward_macs if backward else None,
            )

        yield counter, result
