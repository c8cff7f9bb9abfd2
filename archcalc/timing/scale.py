"""``archcalc.scale``: how a model's costs grow with the input side, and the law behind them.

Steps: pick ``steps`` sides spaced evenly on a log scale between ``low`` and ``high`` (224
and 448 always among them when in range), each snapped to the nearest size the model's size
rules accept aligned (``size_range``), so every size profiled runs; profile each (one meta
build reused where the architecture allows) with the training step's backward; optionally
measure latency; fit MACs ~ a*r^2 + b*r^4 (``archcalc.growth``) and give the r^4
(global-attention) share and the local exponents.

It lives beside ``bench`` in the timing layer because ``--latency`` measures; without it,
everything runs on the meta device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from archcalc.checks import check_convention, check_positive
from archcalc.errors import InvalidArgumentError
from archcalc.growth import GrowthLaw, fit_growth, local_exponents
from archcalc.profiling.accepts import size_range
from archcalc.profiling.prepare import prepare
from archcalc.progress import ProgressCallback, report_progress
from archcalc.results import Environment, Pair, Profile, ReceptiveField
from archcalc.timing.measure import measure

__all__ = ["ANCHOR_SIDES", "MIN_RUN_TIME_S", "ScalePoint", "Scaling", "pick_sides", "scale"]

#: Timed-run length per size with ``latency``: the median of at least 10 runs is enough to
#: read an exponent between sizes whose costs differ by tens of percent.
MIN_RUN_TIME_S = 0.5


@dataclass(frozen=True)
class ScalePoint:
    """One size: costs, final map, the law's r^4 share there and the exponents from the size
    before (None for the first). ``final_field`` is the final map's receptive field (None where
    the profile has none)."""

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

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "final_map": list(self.final_map),
            "final_field": None if self.final_field is None else self.final_field.to_dict(),
        }


@dataclass(frozen=True)
class Scaling:
    """A model's costs across square sides ``low``..``high`` and the law fitted to its MACs.

    ``exponent`` is the overall one, from the first size to the last; ``device`` is where
    latency was measured (None when it was not).
    """

    model: str
    convention: str
    batch_size: int
    law: GrowthLaw
    exponent: float | None
    points: tuple[ScalePoint, ...]
    environment: Environment
    device: str | None = None

    @property
    def sides(self) -> list[int]:
        return [p.side for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON object (README, ``archcalc scale --format json``)."""
        return {
            "model": self.model,
            "convention": self.convention,
            "batch_size": self.batch_size,
            "law": self.law.to_dict(),
            "exponent": self.exponent,
            "device": self.device,
            "points": [p.to_dict() for p in self.points],
            "environment": asdict(self.environment),
        }


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
    low: int = 96,
    high: int = 896,
    *,
    steps: int = 10,
    latency: bool = False,
    device: str = "cpu",
    convention: str = "core",
    in_chans: int = 3,
    output_stride: int | None = None,
    progress: ProgressCallback | None = None,
) -> Scaling:
    """Profile ``model`` at ``steps`` sizes from ``low`` to ``high`` and fit how MACs grow.

    Args:
        model: timm name or ``nn.Module`` (e.g. a ViT built with ``dynamic_img_size=True``).
        low, high: the range of square sides; each size is snapped to the nearest one the
            model accepts aligned (no pixel dropped, no padded window).
        steps: how many sizes (fewer when fewer valid sizes lie in the range).
        latency: also measure the median latency at batch 1 on ``device`` (slow).
        convention, in_chans, output_stride: as for ``profile``.
        progress: called before each size is profiled or timed (``archcalc.progress``).

    Returns:
        A ``Scaling``: per size MACs, training-step MACs, activation and training-step
        memory, final k, the r^4 share and local exponents; the fitted ``GrowthLaw``.

    Example:
        >>> round(archcalc.scale("resnet50", 96, 896).exponent, 2)  # doctest: +SKIP
        2.0
    """
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
    built = prepare(model, sides[0], trace=False, **options).built
    steps_total = len(sides) * (2 if latency else 1)
    profiles = []
    for i, s in enumerate(sides):
        report_progress(progress, i, steps_total, f"profiling {found.model} at {s}x{s}")
        ready = prepare(model, s, reuse=built, convention=convention, train=True, **options)
        profiles.append(ready.profile)
    latencies = None
    if latency:
        latencies = []
        for i, s in enumerate(sides, start=len(sides)):
            report_progress(progress, i, steps_total, f"timing {found.model} at {s}x{s}")
            latencies.append(_latency(model, s, device, **options))
    return _scaling(profiles, latencies, device if latency else None)


def _latency(model: str | nn.Module, side: int, device: str, **options: Any) -> float:
    timing = measure(model, side, device=device, min_run_time=MIN_RUN_TIME_S, **options)
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
