"""Fitting a device's constants to measured throughput: a robust fit on log throughput.

The loss is the Huber loss (delta 0.2, about 20 %) of log(predicted / measured samples/s)
over the measured rows, plus a weak pull of every constant towards a prior device (in log
units) so that a few rows still give a sensible profile and constants the rows say nothing
about (a class absent from the table) stay where the prior put them. The constants are
optimised in log space with torch's L-BFGS (torch is already a dependency; the model's
hypot() is smooth, and 100 iterations converge on 1,600 rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from archcalc.timing.predict.model import DeviceProfile, MemoryCurve, op_seconds
from archcalc.timing.session import torch_threads

__all__ = ["Design", "design", "fit", "predicted_log_sps"]

HUBER_DELTA = 0.2
PRIOR_WEIGHT = 1e-3


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
) -> np.ndarray:
    """The constants (log layout) that best predict the rows of ``d`` selected by ``mask``.

    Args:
        d: the measured rows.
        prior: the device the constants are pulled towards (and start from by default);
            its memory curve prices the rows.
        mask: the rows to fit (default all).
        start: constants to start from (a warm start speeds cross-validation folds).
        iterations: L-BFGS iterations (strong-Wolfe line search).
        prior_weight: strength of the pull towards the prior, per constant.

    Returns:
        The fitted constants, ``DeviceProfile.vector`` layout.
    """
    with torch_threads(1):  # small vectors: threads only add synchronisation (15x slower)
        return _lbfgs(d, prior, mask, start, iterations, prior_weight)


def _lbfgs(
    d: Design,
    prior: DeviceProfile,
    mask: np.ndarray | None,
    start: np.ndarray | None,
    iterations: int,
    prior_weight: float,
) -> np.ndarray:
    anchor = torch.from_numpy(prior.vector())
    theta = torch.tensor(prior.vector() if start is None else start, requires_grad=True)
    weights = torch.ones(d.rows, dtype=torch.float64)
    if mask is not None:
        weights = torch.from_numpy(np.asarray(mask, dtype=np.float64))
    weights = weights / weights.sum()
    optimiser = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=iterations,
        history_size=20,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        curve = prior.deployment.memory_curve
        residual = predicted_log_sps(d, theta, prior.bytes_scale, curve) - d.log_sps
        huber = torch.nn.functional.huber_loss(
            residual, torch.zeros_like(residual), reduction="none", delta=HUBER_DELTA
        )
        value = (weights * huber).sum() + prior_weight * ((theta - anchor) ** 2).mean()
        value.backward()
        return value

    optimiser.step(loss)
    return theta.detach().numpy().copy()
