"""What a measurement runs under: settings it changes and restores, memory probe, OOM handling.

Each context manager restores what it changed in ``finally``: device placement and memory
format of a user's module, train/eval mode, torch's thread count, ``cudnn.benchmark``, the
current CUDA device, Python's garbage collector.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

import torch
from torch import nn

from archcalc.core.trace import eval_mode
from archcalc.errors import InvalidArgumentError
from archcalc.system import status_bytes

__all__ = [
    "MemoryProbe",
    "cudnn_benchmark",
    "gc_paused",
    "on_device",
    "session",
    "torch_threads",
]


@contextlib.contextmanager
def session(module: nn.Module, device: str, threads: int, channels_last: bool) -> Iterator[None]:
    """Everything a measurement needs around it: placement, eval, threads, CUDA flags, no grad."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(on_device(module, device, channels_last))
        stack.enter_context(eval_mode(module))
        stack.enter_context(torch_threads(threads))
        if device.startswith("cuda"):
            stack.enter_context(torch.cuda.device(device))
            stack.enter_context(cudnn_benchmark())
        stack.enter_context(torch.inference_mode())
        yield


@contextlib.contextmanager
def on_device(module: nn.Module, device: str, channels_last: bool) -> Iterator[None]:
    """Move ``module`` to ``device`` (and NHWC weights) for the block, then put it back."""
    tensors = [*module.parameters(), *module.buffers()]
    if any(t.is_meta for t in tensors):
        raise InvalidArgumentError(
            f"{type(module).__name__} has weights on the meta device; latency needs real "
            "weights (materialise them, e.g. module.to_empty(device='cpu') and initialise)"
        )
    home = tensors[0].device if tensors else torch.device(device)
    contiguous = all(t.is_contiguous() for t in tensors)
    try:
        module.to(device)
        if channels_last:
            module.to(memory_format=torch.channels_last)
        yield
    finally:
        if channels_last and contiguous:
            module.to(memory_format=torch.contiguous_format)
        module.to(home)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` for the block only.

    Not ``torch.utils.benchmark``'s ``set_torch_threads``: importing that package prints a
    warning about the CUDA toolkit on machines without one.
    """
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def cudnn_benchmark() -> Iterator[None]:
    """``torch.backends.cudnn.benchmark = True`` for the block only (autotuned conv kernels)."""
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.backends.cudnn.benchmark = before


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block, as ``timeit`` does."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class MemoryProbe:
    """Peak memory over a region: CUDA ``max_memory_allocated``, else growth of peak RSS (Linux).

    On CPU the kernel's high-water mark (``VmHWM``) is reset through ``/proc/self/clear_refs``
    at ``start``; ``stop`` returns its growth over the resident size at ``start``.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._base: int | None = None

    def start(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        self._base = None
        with contextlib.suppress(OSError):
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # 5: reset the peak resident set size to the current one
            self._base = status_bytes("VmRSS")

    def stop(self) -> tuple[int | None, str]:
        """``(bytes, method)``; method is cuda_max_allocated, rss_increase or unavailable."""
        if self.device.startswith("cuda"):
            return int(torch.cuda.max_memory_allocated(self.device)), "cuda_max_allocated"
        peak = status_bytes("VmHWM")
        if self._base is None or peak is None:
            return None, "unavailable"
        return max(0, peak - self._base), "rss_increase"
