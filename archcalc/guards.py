"""What a measurement runs under: settings it changes and restores, memory probes, OOM handling.

Each context manager restores what it changed in ``finally``: device placement and memory
format of a user's module, train/eval mode, torch's thread count, ``cudnn.benchmark``, the
current CUDA device, Python's garbage collector.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import traceback
from collections.abc import Iterator

import torch
from torch import nn

from archcalc.errors import InsufficientMemoryError, InvalidArgumentError
from archcalc.measurement import needed_bytes
from archcalc.profiling import eval_mode
from archcalc.render import mebibytes, size
from archcalc.results import Profile

__all__ = [
    "HOST_FRACTION",
    "MemoryProbe",
    "check_host_memory",
    "cudnn_benchmark",
    "gc_paused",
    "host_budget_bytes",
    "is_out_of_memory",
    "on_device",
    "out_of_memory_as_error",
    "resident_bytes",
    "session",
    "torch_threads",
]

#: Share of the available host RAM a CPU measurement may plan to use (headroom for the allocator).
HOST_FRACTION = 0.9
_CPU_OOM = ("can't allocate memory", "not enough memory")


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


def is_out_of_memory(error: BaseException) -> bool:
    """An allocator failure: CUDA/CPU ``torch.OutOfMemoryError``, CPU allocator, ``MemoryError``."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error) for text in _CPU_OOM)


def release_memory(device: str) -> None:
    """Return cached blocks after an out-of-memory so the next attempt starts clean."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


@contextlib.contextmanager
def out_of_memory_as_error(device: str, what: str) -> Iterator[None]:
    """Turn an out-of-memory in the block into ``InsufficientMemoryError``, memory freed first.

    The failed frames are cleared so the tensors they held are released before the cache is
    emptied; put the allocating code in a function called inside the block.
    """
    error: BaseException | None = None
    try:
        yield
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        traceback.clear_frames(e.__traceback__)
        error = e
    if error is not None:
        release_memory(device)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InsufficientMemoryError(f"{what}: out of memory on {device} ({first})") from error


def available_host_bytes() -> int | None:
    """RAM the OS can still give (``MemAvailable`` on Linux, else free pages); None if unknown."""
    with contextlib.suppress(OSError):
        with open("/proc/meminfo", encoding="ascii") as f:
            found = proc_kib(f.read(), "MemAvailable")
        if found is not None:
            return found
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def host_budget_bytes() -> int | None:
    """The share of available host RAM a CPU measurement may use (None if unknown)."""
    available = available_host_bytes()
    return None if available is None else int(HOST_FRACTION * available)


def proc_kib(text: str, key: str) -> int | None:
    """Bytes of a ``Key:   1234 kB`` line in /proc/meminfo or /proc/self/status text."""
    match = re.search(rf"^{key}:\s+(\d+)\s*kB", text, re.MULTILINE)
    return None if match is None else 1024 * int(match.group(1))


def resident_bytes(model: str | nn.Module, device: str) -> int:
    """Bytes of weights a user module already holds on ``device`` (a name holds none yet)."""
    if not isinstance(model, nn.Module):
        return 0
    kind = torch.device(device).type
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors if t.device.type == kind)


def check_host_memory(estimate: Profile, device: str, *, resident: int = 0) -> None:
    """Refuse a CPU measurement whose profile needs more than the host RAM budget."""
    budget = host_budget_bytes() if device == "cpu" else None
    if budget is None:
        return
    input_bytes = 4 * estimate.batch_size * estimate.channels * estimate.height * estimate.width
    need = needed_bytes(estimate.memory, input_bytes) - resident
    if need <= budget:
        return
    memory = estimate.memory
    raise InsufficientMemoryError(
        f"{estimate.model} at {size(estimate.resolution)}, batch {estimate.batch_size} needs "
        f"about {mebibytes(need)} MiB of host memory (float32 estimate: weights "
        f"{mebibytes(memory.param_bytes + memory.buffer_bytes)} MiB + input "
        f"{mebibytes(input_bytes)} MiB + peak activations "
        f"{mebibytes(memory.peak_activation_bytes)} MiB) but only {mebibytes(budget)} MiB "
        f"is available ({HOST_FRACTION:.0%} of free RAM); use a smaller batch or resolution"
    )


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
            self._base = _status_bytes("VmRSS")

    def stop(self) -> tuple[int | None, str]:
        """``(bytes, method)``; method is cuda_max_allocated, rss_increase or unavailable."""
        if self.device.startswith("cuda"):
            return int(torch.cuda.max_memory_allocated(self.device)), "cuda_max_allocated"
        peak = _status_bytes("VmHWM")
        if self._base is None or peak is None:
            return None, "unavailable"
        return max(0, peak - self._base), "rss_increase"


def _status_bytes(key: str) -> int | None:
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as f:
        return proc_kib(f.read(), key)
    return None
