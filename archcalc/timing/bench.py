"""``archcalc bench``: measure one model over resolutions x batch sizes, one row each.

A row that does not fit (refused from the profile's host-memory estimate, or out of memory on
the device) is reported as such and the other rows are still measured. ``find_max_batch``
searches the largest batch that fits: on CUDA by trying forwards (doubling, then bisecting,
out-of-memory caught); on CPU from the profile's memory estimate against the available RAM
(activations grow linearly with the batch), since a real out-of-memory there would bring
the machine to swap or the process to the OOM killer rather than raise cleanly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from torch import nn

from archcalc.checks import check_positive, input_bytes
from archcalc.core.build import Built
from archcalc.core.geometry import parse_resolution
from archcalc.core.memory import (
    check_host_memory,
    host_budget_bytes,
    needed_bytes,
    resident_bytes,
)
from archcalc.core.trace import profile_built
from archcalc.errors import InsufficientMemoryError, InvalidArgumentError
from archcalc.formatting import size
from archcalc.profiling.prepare import on_device, prepare
from archcalc.progress import ProgressCallback, report_progress
from archcalc.results import Pair, Profile
from archcalc.timing.measure import TimingSettings, measure_built, probe_batch
from archcalc.timing.stats import MAX_BATCH, BenchReport, BenchRow, MaxBatch, search_max_batch

__all__ = ["bench"]


def bench(
    model: str | nn.Module,
    resolutions: Sequence[int | str | tuple[int, int]] = (224,),
    batch_sizes: Sequence[int] = (1,),
    *,
    settings: TimingSettings | None = None,
    find_max_batch: bool = False,
    in_chans: int = 3,
    reparameterize: bool = False,
    progress: ProgressCallback | None = None,
) -> BenchReport:
    """Measure ``model`` at every (resolution, batch size), as ``archcalc bench`` does.

    Args:
        model: timm name (random weights) or ``nn.Module``.
        resolutions: sizes, each ``224``, ``"448x320"`` or ``(448, 320)``.
        batch_sizes: batch sizes measured at each size.
        settings: how to time (``TimingSettings``), as for ``measure``.
        find_max_batch: also search the largest batch that fits at each size.
        in_chans: input channels.
        reparameterize: time the fused deploy form (timm's ``reparameterize_model``).
        progress: ``progress(done, total, what)`` before each row (``archcalc.progress``).

    Returns:
        A ``BenchReport``: one ``BenchRow`` per (size, batch), the largest batches found.

    Raises:
        DeviceUnavailableError: the device is not visible.
        InvalidArgumentError: no size or batch, or a bad setting.

    Example:
        >>> bench("resnet18", [224], [1, 8], settings=TimingSettings(threads=1))
        ... # doctest: +SKIP
    """
    spec = (settings or TimingSettings()).checked()
    sizes = list(dict.fromkeys(parse_resolution(r) for r in resolutions))
    for batch in batch_sizes:
        check_positive("batch_size", batch)
    batches = list(dict.fromkeys(batch_sizes))
    check_positive("in_chans", in_chans)
    if not sizes or not batches:
        raise InvalidArgumentError("bench needs at least one resolution and one batch size")
    rows: list[BenchRow] = []
    found: list[MaxBatch] = []
    name = model if isinstance(model, str) else type(model).__name__
    for res in sizes:
        ready = prepare(model, res, in_chans=in_chans, reparameterize=reparameterize)
        meta, name = ready.built, ready.built.name
        real = functools.cache(lambda r=ready: on_device(model, r, spec.device).built)
        for batch in batches:
            what = f"timing {name} at batch {batch} x {size(res)}"
            report_progress(progress, len(rows), len(sizes) * len(batches), what)
            estimate = ready.estimate if batch == 1 else None
            estimate = estimate or profile_built(meta, res, batch_size=batch, in_chans=in_chans)
            rows.append(_row(model, real, estimate, spec))
        if find_max_batch:
            found.append(_max_batch(meta, real, res, spec, in_chans))
    return BenchReport(model=name, rows=tuple(rows), max_batches=tuple(found))


def _row(
    model: str | nn.Module, real: Callable[[], Built], estimate: Profile, spec: TimingSettings
) -> BenchRow:
    """Measure one (resolution, batch); a model that does not fit gives a row with the reason."""
    res, batch = estimate.resolution, estimate.batch_size
    try:
        check_host_memory(estimate, spec.device, resident=resident_bytes(model, spec.device))
        timing = measure_built(real(), res, spec, batch_size=batch, in_chans=estimate.channels)
    except InsufficientMemoryError as e:
        return BenchRow(res[0], res[1], batch, estimate.macs, None, str(e))
    return BenchRow(res[0], res[1], batch, estimate.macs, timing)


def _max_batch(
    meta: Built, real: Callable[[], Built], res: Pair, spec: TimingSettings, in_chans: int
) -> MaxBatch:
    """The largest batch that fits at ``res``: real forwards on CUDA, the estimate on CPU."""
    if spec.device.startswith("cuda"):
        built = real()
        batch = search_max_batch(lambda b: probe_batch(built, res, spec, b, in_chans))
        return MaxBatch(res[0], res[1], batch, "cuda_oom_search", MAX_BATCH, None)
    budget = host_budget_bytes()
    if budget is None:
        raise InvalidArgumentError(
            "cannot read the available host memory on this system, so --find-max-batch "
            "has no limit to search against on CPU"
        )
    one = profile_built(meta, res, batch_size=1, in_chans=in_chans)
    per_image = needed_bytes(one.memory, input_bytes(1, in_chans, res))
    fixed = one.memory.param_bytes + one.memory.buffer_bytes
    per_image -= fixed
    batch = search_max_batch(lambda b: fixed + b * per_image <= budget)
    return MaxBatch(res[0], res[1], batch, "host_estimate", MAX_BATCH, budget)
