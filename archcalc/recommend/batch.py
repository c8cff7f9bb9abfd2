"""The largest training batch that fits a GPU, and what a batch and an epoch cost (no torch).

The training ``dtype`` is torch's name, as ``bench`` takes it: ``float32``, or mixed precision,
``float16`` or ``bfloat16`` under ``torch.autocast`` with float32 master weights. A training
step (Adam) holds a fixed part, independent of the batch: the float32 weights, their gradients
and Adam's two moments (16 B per parameter) and the buffers; under autocast also the 2-byte
copies of the weights that it caches during the forward (2 B per parameter). On top, per
image, the activations autograd saves for backward: float32, or under autocast every 4-byte
float activation at 2 B (``Memory.train_step_bytes_half``). float16 and bfloat16 are both 2
bytes wide, so the memory model gives them the same bytes: they differ in range and
precision, not in size. Both parts come from one batch-1 profile (``Profile.memory``); the
saved activations grow linearly with the batch, so the largest batch is
``floor((usable - fixed) / per_image)``.

The safety margin (``usable_bytes``): first ``GPU_RESERVED_BYTES`` = 1 GiB that the tensors
never get: the CUDA context (a few hundred MiB, outside torch's allocator and invisible to
``torch.cuda.memory_allocated``; PyTorch docs, "CUDA semantics: memory management"), the
cuBLAS/cuBLASLt workspaces (32 MiB per handle and stream on Hopper, 4 MiB before: NVIDIA's
cuBLAS guide, as adopted in pytorch/pytorch#120925) and cuDNN's convolution workspaces; then
``GPU_FRACTION`` = 90% of the rest, leaving 10% for the caching allocator's rounding and
fragmentation (reserved but unused blocks still occupy the GPU) and for the activation
gradients alive during backward, which the static estimate does not count. 90% is the share
the CPU ``bench --find-max-batch`` estimate allows of free RAM, so both use one formula family.
Not yet checked against a real training step on a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archcalc.checks import check_dtype, check_limit
from archcalc.errors import InvalidArgumentError
from archcalc.formatting import GIB
from archcalc.results import Memory, Profile
from archcalc.serialize import Serialized, json_field

__all__ = [
    "AUTOCAST_WEIGHT_BYTES",
    "GPU_FRACTION",
    "GPU_RESERVED_BYTES",
    "BatchFit",
    "batch_fits",
    "check_gpu_memory",
    "largest_batch",
    "step_bytes",
    "usable_bytes",
]

#: Bytes per parameter of the float16/bfloat16 weight copies ``torch.autocast`` caches.
AUTOCAST_WEIGHT_BYTES = 2
#: Taken off the GPU first: CUDA context, cuBLAS/cuDNN workspaces (see the module docstring).
GPU_RESERVED_BYTES = GIB
#: Share of the rest the step may plan to use: 10% for allocator fragmentation and transients.
GPU_FRACTION = 0.9


@dataclass(frozen=True)
class BatchFit(Serialized):
    """The largest training batch on one GPU size, and the training-step cost around it.

    Bytes are raw integers; ``train_macs`` is one image's forward + backward MACs (None when
    not available), so ``batch_macs`` and ``epoch_macs`` are None too.
    """

    gpu_memory_bytes: int
    dtype: str
    usable_bytes: int
    fixed_bytes: int
    per_image_bytes: int
    batch_size: int
    epoch_images: int = json_field(then=("steps_per_epoch",))
    train_macs: int | None = json_field(default=None, then=("batch_macs", "epoch_macs"))

    @property
    def batch_macs(self) -> int | None:
        """Training-step MACs of one batch of ``batch_size`` images."""
        return None if self.train_macs is None else self.train_macs * self.batch_size

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps for one pass over ``epoch_images`` (0 when no batch fits)."""
        return 0 if self.batch_size == 0 else math.ceil(self.epoch_images / self.batch_size)

    @property
    def epoch_macs(self) -> int | None:
        """Training MACs of one epoch: every image once forward and backward."""
        return None if self.train_macs is None else self.train_macs * self.epoch_images


def check_gpu_memory(gpu_memory: Any) -> tuple[float, ...]:
    """GPU sizes in GiB: one positive number or a sequence of them (empty when None)."""
    if gpu_memory is None:
        return ()
    values = gpu_memory if isinstance(gpu_memory, list | tuple) else [gpu_memory]
    return tuple(check_limit("gpu_memory (GiB)", v) or 0.0 for v in values)


def usable_bytes(gpu_memory_bytes: int) -> int:
    """The bytes a training step may plan to use: 90% of what is left after 1 GiB reserved."""
    return max(0, int(GPU_FRACTION * (gpu_memory_bytes - GPU_RESERVED_BYTES)))


def largest_batch(fixed_bytes: int, per_image_bytes: int, budget_bytes: int) -> int:
    """The largest ``b`` with ``fixed + b x per_image <= budget`` (0 when not even one fits)."""
    if per_image_bytes < 1:
        raise InvalidArgumentError(f"per-image bytes must be positive, got {per_image_bytes}")
    return max(0, (budget_bytes - fixed_bytes) // per_image_bytes)


def step_bytes(memory: Memory, params: int, dtype: str, batch_size: int = 1) -> tuple[int, int]:
    """``(fixed, per_image)`` bytes of one training step from a profile at ``batch_size``.

    fixed = weights + grads + Adam moments + buffers (+ autocast's 2-byte weights under
    float16 or bfloat16); per_image = the saved activations divided by the profiled batch
    (rounded up), at 2 B an element under autocast.
    """
    state = memory.train_step_bytes - memory.saved_activation_bytes
    fixed = state + memory.buffer_bytes
    saved = memory.saved_activation_bytes
    if check_dtype(dtype) != "float32":
        fixed += AUTOCAST_WEIGHT_BYTES * params
        saved = memory.train_step_bytes_half - state
    return fixed, max(1, -(-saved // batch_size))


def batch_fits(
    profile: Profile,
    gpu_memory: Sequence[float],
    dtype: str = "float32",
    *,
    epoch_images: int,
    train_macs: int | None = None,
) -> tuple[BatchFit, ...]:
    """The largest training batch of ``profile``'s model and size on each GPU size (GiB).

    Args:
        profile: a static profile (any batch; its saved activations are scaled per image).
        gpu_memory: GPU sizes in GiB (2**30 bytes).
        dtype: ``float32``, or ``float16``/``bfloat16`` (mixed precision under autocast).
        epoch_images: images per epoch, for the steps and MACs of one epoch.
        train_macs: forward + backward MACs of one image, None when not available.

    Returns:
        One ``BatchFit`` per GPU size, in the order given.

    Example:
        >>> [f.batch_size for f in batch_fits(p, [24, 80], epoch_images=3000)]  # doctest: +SKIP
    """
    fixed, per_image = step_bytes(profile.memory, profile.params, dtype, profile.batch_size)
    fits = []
    for gib in check_gpu_memory(gpu_memory):
        total = int(gib * GIB)
        usable = usable_bytes(total)
        batch = largest_batch(fixed, per_image, usable)
        fits.append(
            BatchFit(total, dtype, usable, fixed, per_image, batch, epoch_images, train_macs)
        )
    return tuple(fits)
