"""Will it fit? Host-memory budget, the refusal of a run too big for RAM, out-of-memory errors.

The estimate comes from the meta-device profile (weights, input, live activation peak), so a
model too big for the machine is refused with its numbers before any real tensor exists.
"""

from __future__ import annotations

import contextlib
import gc
import traceback
from collections.abc import Iterator

import torch
from torch import nn

from archcalc.checks import input_bytes
from archcalc.errors import InsufficientMemoryError, first_line
from archcalc.formatting import mebibytes, size
from archcalc.results import Memory, Profile
from archcalc.system import available_host_bytes

__all__ = [
    "HOST_FRACTION",
    "check_host_memory",
    "host_budget_bytes",
    "is_out_of_memory",
    "needed_bytes",
    "out_of_memory_as_error",
    "release_memory",
    "resident_bytes",
]

#: Share of the available host RAM a CPU run may plan to use (headroom for the allocator).
HOST_FRACTION = 0.9
_CPU_OOM = ("can't allocate memory", "not enough memory")


def needed_bytes(memory: Memory, input_nbytes: int) -> int:
    """Bytes one inference forward needs: weights, buffers, input and the live activation peak."""
    return memory.param_bytes + memory.buffer_bytes + input_nbytes + memory.peak_activation_bytes


def host_budget_bytes() -> int | None:
    """The share of available host RAM a CPU run may use (None if unknown)."""
    available = available_host_bytes()
    return None if available is None else int(HOST_FRACTION * available)


def resident_bytes(model: str | nn.Module, device: str) -> int:
    """Bytes of weights a user module already holds on ``device`` (a name holds none yet)."""
    if not isinstance(model, nn.Module):
        return 0
    kind = torch.device(device).type
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors if t.device.type == kind)


def check_host_memory(estimate: Profile, device: str, *, resident: int = 0) -> None:
    """Refuse a CPU run whose profile needs more than the host RAM budget."""
    budget = host_budget_bytes() if device == "cpu" else None
    if budget is None:
        return
    nbytes = input_bytes(estimate.batch_size, estimate.channels, estimate.resolution)
    need = needed_bytes(estimate.memory, nbytes) - resident
    if need <= budget:
        return
    memory = estimate.memory
    raise InsufficientMemoryError(
        f"{estimate.model} at {size(estimate.resolution)}, batch {estimate.batch_size} needs "
        f"about {mebibytes(need)} MiB of host memory (float32 estimate: weights "
        f"{mebibytes(memory.param_bytes + memory.buffer_bytes)} MiB + input "
        f"{mebibytes(nbytes)} MiB + peak activations "
        f"{mebibytes(memory.peak_activation_bytes)} MiB) but only {mebibytes(budget)} MiB "
        f"is available ({HOST_FRACTION:.0%} of free RAM); use a smaller batch or resolution"
    )


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
        raise InsufficientMemoryError(
            f"{what}: out of memory on {device} ({first_line(error)})"
        ) from error
