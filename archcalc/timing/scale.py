"""``archcalc.scale``: how a model's costs grow with the input side, and the law behind them.

Steps: pick ``steps`` sides spaced evenly on a log scale between ``min_resolution`` and
``max_resolution`` (224 and 448 always among them when in range), each snapped to the nearest
size the model's size rules accept aligned (``size_range``), so every size profiled runs;
profile each (one meta build reused where the architecture allows) with the training step's
backward; optionally measure latency; fit MACs ~ a*r^2 + b*r^4 (``archcalc.growth``) and give
the r^4 (global-attention) share and the local exponents.

A profiling sweep over sizes: everything runs on the meta device, but ``latency=True``
measures each size with ``archcalc.measure``, so it lives in the timing layer beside ``bench``
(profiling below it, the timing it may run beside it). ``str(scaling)`` prints the CLI's table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from archcalc.checks import check_convention, check_positive
from archcalc.display import Summarised, Summary
from archcalc.errors import InvalidArgumentError
from archcalc.formatting import billions, field_text, mebibytes, milliseconds, size
from archcalc.growth import GrowthLaw, fit_growth, local_exponents
from archcalc.profiling.accepts import size_range
from archcalc.profiling.prepare import build_model, trace_model
from archcalc.progress import ProgressCallback, report_progress
from archcalc.results import Environment, Pair, Profile, ReceptiveField
from archcalc.serialize import Serialized
from archcalc.timing.measure import TimingSettings, measure

__all__ = [
    "ANCHOR_SIDES",
    "MIN_RUN_TIME_S",
    "SCALE_HEADERS",
    "ScalePoint",
    "Scaling",
    "pick_sides",
    "scale",
    "scale_notes",
    "scale_table",
]

#: Timed-run length per size with ``latency``: the median of at least 10 runs is enough to
#: read an exponent between sizes whose costs differ by tens of percent.
MIN_RUN_TIME_S = 0.5


@dataclass(frozen=True)
class ScalePoint(Serialized):
    """One size: costs, final map, the law's r^4 share there and the exponents from the size
    before (None for the first). ``final_field`` is the final map's receptive field (None where
    the profile has none).

    Example:
        >>> [p.side for p in archcalc.scale("resnet18", 96, 160, steps=3).points]
        [96, 128, 160]
    """

    side: int
    final_map: Pair
    macs: int
    train_macs: int
    activation_bytes: int
    train_step_bytes: int
    quartic_share: float
    exponent: float | None
    train_exponent: float | None
    latency_s: float | None = None
    latency_exponent: float | None = None
    final_field: ReceptiveField | None = None


@dataclass(frozen=True, kw_only=True)
class Scaling(Summarised, Serialized):
    """A model's costs across square sides (``min_resolution``..``max_resolution``) and the law
    fitted to its MACs.

    ``exponent`` is the overall one, from the first size to the last; ``device`` is where
    latency was measured (None when it was not). ``str()`` (and Jupyter) shows the CLI's
    table and notes.

    Example:
        >>> s = archcalc.scale("resnet18", 96, 160, steps=3)
        >>> round(s.exponent, 2), s.law.quadratic_only
        (2.0, True)
    """

    model: str
    convention: str
    batch_size: int
    law: GrowthLaw
    exponent: float | None
    device: str | None = None
    points: tuple[ScalePoint, ...]
    environment: Environment

    @property
    def sides(self) -> list[int]:
        return [p.side for p in self.points]

    def _summary(self) -> Summary:
        return (*scale_table(self), scale_notes(self))


#: Sides every ladder holds when they lie in its range: the two sizes most backbones are sized at.
ANCHOR_SIDES = (224, 448)


def pick_sides(valid: Sequence[int], low: int, high: int, steps: int) -> list[int]:
    """``steps`` targets evenly spaced on a log scale from ``low`` to ``high``, each replaced by
    the nearest side in ``valid`` (duplicates dropped; fewer valid sides give fewer sizes).

    Each of ``ANCHOR_SIDES`` (224, 448) in ``[low, high]`` takes the place of the nearest
    target (not an end of the ladder, with three steps or more), or is added when every
    target is taken, so the ladder holds it.

    Example:
        >>> pick_sides(range(32, 1025, 32), 96, 896, 3)
        [96, 224, 448, 896]
    """
    if not valid:
        return []
    targets = [low * (high / low) ** (i / max(steps - 1, 1)) for i in range(steps)]
    free = list(range(1, steps - 1)) if steps >= 3 else list(range(steps))
    for anchor in (a for a in ANCHOR_SIDES if low <= a <= high):
        if not free:  # every step taken: one more
            targets.append(anchor)
            continue
        i = min(free, key=lambda i: abs(math.log(targets[i] / anchor)))
        targets[i] = anchor
        free.remove(i)
    nearest = [min(valid, key=lambda s, t=t: (abs(math.log(s / t)), s)) for t in targets]
    return sorted(set(nearest))


def scale(
    model: str | nn.Module,
    min_resolution: int = 96,
    max_resolution: int = 896,
    *,
    steps: int = 10,
    latency: bool = False,
    device: str = "cpu",
    convention: str = "core",
    in_chans: int = 3,
    output_stride: int | None = None,
    progress: ProgressCallback | None = None,
) -> Scaling:
    """Profile ``model`` at ``steps`` square sizes from ``min_resolution`` to
    ``max_resolution`` and fit how its MACs grow.

    Args:
        model: timm name or ``nn.Module`` (e.g. a ViT built with ``dynamic_img_size=True``).
        min_resolution, max_resolution: the range of square sides; each size is snapped to
            the nearest one the model accepts aligned (no pixel dropped, no padded window).
        steps: how many sizes (fewer when fewer valid sizes lie in the range).
        latency: also measure the median latency at batch 1 on ``device`` (slow).
        device: where latency is measured.
        convention, in_chans, output_stride: as for ``profile``.
        progress: ``progress(done, total, what)`` before each size is profiled or timed
            (``archcalc.progress``).

    Returns:
        A ``Scaling``: per size MACs, training-step MACs, activation and training-step
            memory, final k, the r^4 share and local exponents; the fitted ``GrowthLaw``.
            ``str()`` of it is the CLI's table.

    Raises:
        InvalidArgumentError: a bad range or count, or no aligned size in the range.

    Example:
        >>> print(archcalc.scale("resnet18", 96, 896, steps=3))  # doctest: +SKIP
        res      k x k    RF (px)   GMACs ...
    """
    low, high = min_resolution, max_resolution
    check_positive("steps", steps)
    check_convention(convention)
    found = size_range(model, low, high, in_chans=in_chans, output_stride=output_stride)
    sides = pick_sides([s for s, _, _ in found.sizes], low, high, steps)
    if not sides:
        raise InvalidArgumentError(
            f"{found.model} runs at no aligned size between {low} and {high}: widen --min/--max "
            f"(its global stride is {found.global_stride[0]}, its smallest size "
            f"{found.min_size[0]})"
        )
    options = {"in_chans": in_chans, "output_stride": output_stride}
    built = build_model(model, sides[0], **options)
    steps_total = len(sides) * (2 if latency else 1)
    profiles = []
    for i, s in enumerate(sides):
        report_progress(progress, i, steps_total, f"profiling {found.model} at {s}x{s}")
        ready = trace_model(model, s, reuse=built, convention=convention, train=True, **options)
        profiles.append(ready.profile)
    latencies = None
    if latency:
        latencies = []
        for i, s in enumerate(sides, start=len(sides)):
            report_progress(progress, i, steps_total, f"timing {found.model} at {s}x{s}")
            latencies.append(_latency(model, s, device, **options))
    return _scaling(profiles, latencies, device if latency else None)


def _latency(model: str | nn.Module, side: int, device: str, **options: Any) -> float:
    settings = TimingSettings(device=device, min_run_time_s=MIN_RUN_TIME_S)
    timing = measure(model, side, settings=settings, **options)
    return float(timing.median_s)


def _scaling(
    profiles: Sequence[Profile], latencies: Sequence[float] | None, device: str | None
) -> Scaling:
    """Assemble the result: the law, each size's share and exponents (pure arithmetic)."""
    sides = [p.height for p in profiles]
    macs = [p.macs for p in profiles]
    train = [p.train_macs or 0 for p in profiles]
    law = fit_growth(sides, macs)
    times: Sequence[float | None] = latencies or [None] * len(sides)
    exponents = zip(
        local_exponents(sides, macs),
        local_exponents(sides, train),
        local_exponents(sides, times),
        strict=True,
    )
    points = tuple(
        ScalePoint(
            side=p.height,
            final_map=p.final_map,
            macs=p.macs,
            train_macs=p.train_macs or 0,
            activation_bytes=p.memory.activation_bytes,
            train_step_bytes=p.memory.train_step_bytes,
            quartic_share=law.quartic_share(p.height),
            exponent=e,
            train_exponent=te,
            latency_s=t,
            latency_exponent=le,
            final_field=p.receptive_field,
        )
        for p, t, (e, te, le) in zip(profiles, times, exponents, strict=True)
    )
    first = profiles[0]
    return Scaling(
        model=first.model,
        convention=first.convention,
        batch_size=first.batch_size,
        law=law,
        exponent=local_exponents([sides[0], sides[-1]], [macs[0], macs[-1]])[-1],
        points=points,
        environment=first.environment,
        device=device,
    )


SCALE_HEADERS = (
    "res",
    "k x k",
    "RF (px)",
    "GMACs",
    "train GMACs",
    "act. (MB)",
    "train step (MB)",
    "r^4 share",
    "exponent",
    "train exponent",
)


def _exponent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def scale_table(s: Scaling) -> tuple[tuple[str, ...], list[list[str]]]:
    """``archcalc scale``: one row per size; latency and its exponent when measured."""
    headers = SCALE_HEADERS
    rows = [
        [
            size((p.side, p.side)),
            size(p.final_map),
            field_text(p.final_field),
            billions(p.macs),
            billions(p.train_macs),
            mebibytes(p.activation_bytes),
            mebibytes(p.train_step_bytes),
            f"{100 * p.quartic_share:.1f}%",
            _exponent(p.exponent),
            _exponent(p.train_exponent),
        ]
        for p in s.points
    ]
    if s.device is not None:
        headers = (*headers, "median (ms)", "latency exponent")
        for row, p in zip(rows, s.points, strict=True):
            latency = "-" if p.latency_s is None else milliseconds(p.latency_s)
            row += [latency, _exponent(p.latency_exponent)]
    return headers, rows


def scale_notes(s: Scaling) -> list[str]:
    """The law in words, the overall exponent and what each column means."""
    law = s.law
    sides = f"{law.low}..{law.high} px"
    if law.quadratic_only:
        shape = "quadratic: no global attention (convolutions, linear layers, windows)"
    else:
        shape = (
            f"towards quartic: global attention is {100 * law.quartic_share(224):.1f}% "
            f"at 224 and {100 * law.quartic_share(law.high):.1f}% at {law.high}"
        )
    return [
        f"{s.model}: MACs ~ {law.quadratic:.4g} r^2 + {law.quartic:.4g} r^4 over {sides} "
        f"({shape}; largest gap to a measured size {100 * law.max_residual:.1f}%); "
        f"exponent {_exponent(s.exponent)} from {s.sides[0]} to {s.sides[-1]}.",
        f"MACs at batch {s.batch_size}, convention {s.convention!r} (FLOPs = 2 x MACs); train "
        "= forward + backward of one step; r^4 share = the law's global-attention part at "
        "that size; exponent = log(cost ratio) / log(side ratio) from the size above; "
        "memory in MiB, float32.",
    ] + ([f"Latency: median at batch 1 on {s.device}, float32."] if s.device else [])
