"""How a cost grows with the input side r: the law MACs ~ a*r^2 + b*r^4, and local exponents.

Pure arithmetic (no torch), shared by ``archcalc.scale`` and the recommender. Every layer whose
work is proportional to the number of pixels or tokens (convolutions, linear layers, windowed
attention) contributes to ``a``; global attention, whose QK^T and AV products grow with the
square of the token count, contributes to ``b``. The fit is an ordinary least-squares fit of
the two coefficients (no constant), so the largest sizes weigh most; a coefficient that would
come out negative is pinned at zero and the other refitted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from archcalc.serialize import Serialized

__all__ = ["GrowthLaw", "fit_growth", "local_exponents"]

#: Below this r^4 share at the largest size fitted, a law reads as quadratic.
QUADRATIC_SHARE = 0.01


@dataclass(frozen=True)
class GrowthLaw(Serialized):
    """``macs(r) = quadratic * r**2 + quartic * r**4``, fitted over sides ``low``..``high``.

    ``max_residual`` is the largest relative gap between the law and a fitted point.

    Example:
        >>> law = archcalc.scale("resnet18", 96, 160, steps=3).law
        >>> law.low, law.high
        (96, 160)
    """

    quadratic: float
    quartic: float
    low: int
    high: int
    max_residual: float

    def macs(self, side: float) -> float:
        """The law's MACs at side ``side``."""
        return self.quadratic * side**2 + self.quartic * side**4

    def quartic_share(self, side: float) -> float:
        """The r^4 (global-attention) part's share of the law's MACs at ``side`` (0..1)."""
        total = self.macs(side)
        return 0.0 if total <= 0 else self.quartic * side**4 / total

    @property
    def quadratic_only(self) -> bool:
        """True when the r^4 part stays under 1 % up to the largest size fitted."""
        return self.quartic_share(self.high) < QUADRATIC_SHARE


def fit_growth(sides: Sequence[int], macs: Sequence[int]) -> GrowthLaw:
    """Least-squares fit of ``macs ~ a*side^2 + b*side^4`` (a, b >= 0).

    One size fixes ``a`` alone (b = 0).

    Example:
        >>> law = fit_growth([100, 200], [10_000 + 100**4, 40_000 + 200**4])
        >>> round(law.quadratic, 6), round(law.quartic, 6)
        (1.0, 1.0)
    """
    if not sides or len(sides) != len(macs):
        raise ValueError("fit_growth needs one MAC count per side, at least one side")
    x = [float(s) ** 2 for s in sides]
    z = [float(s) ** 4 for s in sides]
    y = [float(m) for m in macs]
    a, b = _two_terms(x, z, y) if len(set(sides)) > 1 else (0.0, 0.0)
    if b <= 0 or a < 0:
        a, b = (_one_term(x, y), 0.0) if b <= 0 else (0.0, _one_term(z, y))
    residual = max(abs(a * xi + b * zi - yi) / yi for xi, zi, yi in zip(x, z, y, strict=True))
    return GrowthLaw(a, b, min(sides), max(sides), residual)


def _two_terms(x: list[float], z: list[float], y: list[float]) -> tuple[float, float]:
    """Normal equations of y ~ a*x + b*z, scaled so that r^8 sums stay well conditioned."""
    sx, sz = max(x), max(z)
    xs = [v / sx for v in x]
    zs = [v / sz for v in z]
    xx = sum(v * v for v in xs)
    xz = sum(u * v for u, v in zip(xs, zs, strict=True))
    zz = sum(v * v for v in zs)
    xy = sum(u * v for u, v in zip(xs, y, strict=True))
    zy = sum(u * v for u, v in zip(zs, y, strict=True))
    det = xx * zz - xz * xz
    if det <= 1e-12 * xx * zz:
        return 0.0, 0.0
    return (xy * zz - zy * xz) / det / sx, (zy * xx - xy * xz) / det / sz


def _one_term(x: list[float], y: list[float]) -> float:
    return sum(u * v for u, v in zip(x, y, strict=True)) / sum(u * u for u in x)


def local_exponents(sides: Sequence[int], values: Sequence[float | None]) -> list[float | None]:
    """``log(v[i] / v[i-1]) / log(r[i] / r[i-1])`` for each size after the first (None first,
    and where a value is missing or not positive).

    Example:
        >>> local_exponents([100, 200], [1.0, 4.0])
        [None, 2.0]
    """
    pairs = list(zip(sides, values, strict=True))
    out: list[float | None] = [None]
    for (r0, v0), (r1, v1) in itertools.pairwise(pairs):
        if v0 is None or v1 is None or v0 <= 0 or v1 <= 0 or r1 == r0:
            out.append(None)
        else:
            out.append(math.log(v1 / v0) / math.log(r1 / r0))
    return out
