"""Fitting a device's constants to measured throughput: a robust fit on log throughput.

The loss is the Huber loss (delta 0.2, about 20 %) of log(predicted / measured samples/s)
over the measured rows, plus a weak pull of every constant towards a prior device (in log
units) so that a few rows still give a sensible profile and constants the rows say nothing
about (a class absent from the table) stay where the prior put them. The constants are
optimised in log space with torch's L-BFGS (torch is already a dependency; the model's
hypot() is smooth, and 100 iterations converge on 1,600 rows).

``calibration_fit`` is what ``calibrate`` (and the benchmark that measures it) fits with: on
fewer than ``FEW_ROWS`` rows it first rescales the prior, one factor per compute class's rate
and one each for all bandwidths, all kernel overheads and the fixed cost (``SCALE_GROUPS``: a
device differs from its prior mostly by such factors, CPUs by a different factor per compute
class), then fits every constant pulled towards the rescaled prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from archcalc.timing.predict.model import (
    N_CLASSES,
    N_COMPUTE,
    DeviceProfile,
    MemoryCurve,
    op_seconds,
)
from archcalc.timing.session import torch_threads

__all__ = ["Design", "calibration_fit", "design", "fit", "predicted_log_sps"]

HUBER_DELTA = 0.2
PRIOR_WEIGHT = 1e-3
#: Below this many rows, ``calibration_fit`` rescales the prior first and pulls harder.
FEW_ROWS = 100
#: The pull of a few-row fit towards the rescaled prior, and of the scale factors towards 1
#: (chosen on 30-row calibrations of timm's tables, docs/latency.md).
FEW_ROWS_PRIOR_WEIGHT = 3e-2
SCALE_PRIOR_WEIGHT = 1e-2
#: How far (natural log units, a factor of 5e8) a fit may move a constant from its prior: the
#: free values pass through ``BOUND * tanh(x / BOUND)``, so that a line search's long trial
#: step can never overflow the model's times (a few-row fit of 7 scale factors once did).
BOUND = 20.0
#: The scale factor each constant (``DeviceProfile.vector`` layout) shares in a few-row fit's
#: first stage: one per compute rate, one for every bandwidth, every overhead, the fixed cost.
SCALE_GROUPS = np.array(
    [*range(N_COMPUTE), *[N_COMPUTE] * N_CLASSES, *[N_COMPUTE + 1] * N_CLASSES, N_COMPUTE + 2]
)


@dataclass(frozen=True)
class Design:
    """Every measured row's features, concatenated once so that each fit step is a few
    vector operations: op columns, the row each op belongs to, and per row its batch and
    measured log samples/s."""

    cls: torch.Tensor
    macs: torch.Tensor
    activation: torch.Tensor
    weight: torch.Tensor
    count: torch.Tensor
    row: torch.Tensor
    batch: torch.Tensor
    log_sps: torch.Tensor

    @property
    def rows(self) -> int:
        """How many measured rows."""
        return int(self.batch.numel())

    def select(self, rows: np.ndarray) -> Design:
        """The design of ``rows`` only (indices, in that order): a few-row fit then prices
        only its own rows at each step."""
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        new = torch.full((self.rows,), -1, dtype=torch.int64)
        new[index] = torch.arange(len(index))
        keep = new[self.row] >= 0
        ops = (self.cls, self.macs, self.activation, self.weight, self.count)
        return Design(
            *(column[keep] for column in ops),
            row=new[self.row][keep],
            batch=self.batch[index],
            log_sps=self.log_sps[index],
        )


def design(samples: Sequence[tuple[np.ndarray, int, float]]) -> Design:
    """The design of ``(feature rows, batch_size, measured samples/s)`` rows."""
    feats = np.concatenate([f for f, _, _ in samples])
    row = np.concatenate([np.full(len(f), i) for i, (f, _, _) in enumerate(samples)])
    t = torch.from_numpy
    return Design(
        cls=t(feats[:, 0].astype(np.int64)),
        macs=t(feats[:, 1]),
        activation=t(feats[:, 2]),
        weight=t(feats[:, 3]),
        count=t(feats[:, 4]),
        row=t(row.astype(np.int64)),
        batch=torch.tensor([float(b) for _, b, _ in samples], dtype=torch.float64),
        log_sps=torch.tensor([np.log(s) for _, _, s in samples], dtype=torch.float64),
    )


def predicted_log_sps(
    d: Design, theta: torch.Tensor, bytes_scale: float, curve: MemoryCurve | None = None
) -> torch.Tensor:
    """log samples/s of every row of ``d`` under the constants ``theta`` (log layout of
    ``DeviceProfile.vector``) and memory ``curve``: ``model.op_seconds`` summed per row, plus
    the fixed cost."""
    v = torch.exp(theta)
    columns = (d.cls, d.macs, d.activation, d.weight, d.count)
    per_op = op_seconds(v, *columns, d.batch[d.row], bytes_scale, xp=torch, curve=curve).total
    total = torch.zeros(d.rows, dtype=v.dtype).index_add_(0, d.row, per_op) + v[-1]
    return torch.log(d.batch) - torch.log(total)


def fit(
    d: Design,
    prior: DeviceProfile,
    *,
    mask: np.ndarray | None = None,
    start: np.ndarray | None = None,
    iterations: int = 100,
    prior_weight: float = PRIOR_WEIGHT,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The constants (log layout) that best predict the rows of ``d`` selected by ``mask``.

    Args:
        d: the measured rows.
        prior: the device the constants are pulled towards (and start from by default);
            its memory curve prices the rows.
        mask: the rows to fit (default all).
        start: constants to start from (a warm start speeds cross-validation folds).
        iterations: L-BFGS iterations (strong-Wolfe line search).
        prior_weight: strength of the pull towards the prior, per free value.
        groups: fit only one log scale factor per group of constants (``SCALE_GROUPS``
            layout: the group of each constant) instead of every constant.

    Returns:
        The fitted constants, ``DeviceProfile.vector`` layout.
    """
    with torch_threads(1):  # small vectors: threads only add synchronisation (15x slower)
        return _lbfgs(d, prior, mask, start, iterations, prior_weight, groups)


def calibration_fit(
    d: Design, prior: DeviceProfile, *, mask: np.ndarray | None = None
) -> np.ndarray:
    """``calibrate``'s fit of the rows of ``d`` selected by ``mask`` (default all): on
    ``FEW_ROWS`` rows or more, every constant with the weak pull; on fewer, the prior
    rescaled by ``SCALE_GROUPS`` first (factors pulled towards 1 with ``SCALE_PRIOR_WEIGHT``),
    then every constant pulled towards it with ``FEW_ROWS_PRIOR_WEIGHT``."""
    rows = d.rows if mask is None else int(np.count_nonzero(mask))
    if rows >= FEW_ROWS:
        return fit(d, prior, mask=mask)
    factors = fit(d, prior, mask=mask, groups=SCALE_GROUPS, prior_weight=SCALE_PRIOR_WEIGHT)
    scaled = prior.with_vector(factors)
    return fit(d, scaled, mask=mask, prior_weight=FEW_ROWS_PRIOR_WEIGHT)


def _lbfgs(
    d: Design,
    prior: DeviceProfile,
    mask: np.ndarray | None,
    start: np.ndarray | None,
    iterations: int,
    prior_weight: float,
    groups: np.ndarray | None,
) -> np.ndarray:
    """L-BFGS on the free values: every constant's log offset from the prior, or one per group
    (each bounded by ``BOUND``)."""
    anchor = torch.from_numpy(prior.vector())
    if groups is None:
        offset = np.zeros(anchor.numel()) if start is None else start - prior.vector()
        initial = BOUND * np.arctanh(np.clip(offset / BOUND, -0.999, 0.999))
        spread = torch.arange(anchor.numel())
    else:
        initial, spread = np.zeros(int(groups.max()) + 1), torch.from_numpy(groups)
    free = torch.tensor(initial, dtype=torch.float64, requires_grad=True)

    def constants() -> torch.Tensor:
        return anchor + BOUND * torch.tanh(free[spread] / BOUND)

    weights = torch.ones(d.rows, dtype=torch.float64)
    if mask is not None:
        weights = torch.from_numpy(np.asarray(mask, dtype=np.float64))
    weights = weights / weights.sum()
    optimiser = torch.optim.LBFGS(
        [free],
        lr=1.0,
        max_iter=iterations,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    curve = prior.deployment.memory_curve

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        residual = predicted_log_sps(d, constants(), prior.bytes_scale, curve) - d.log_sps
        huber = torch.nn.functional.huber_loss(
            residual, torch.zeros_like(residual), reduction="none", delta=HUBER_DELTA
        )
        value = (weights * huber).sum() + prior_weight * (free**2).mean()
        value.backward()
        return value

    optimiser.step(loss)
    return constants().detach().numpy().copy()
