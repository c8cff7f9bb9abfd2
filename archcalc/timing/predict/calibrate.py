"""Calibrating a target: measured rows -> features -> fitted constants -> a DeviceProfile.

``calibrate`` fits a table of measurements (rows of unknown models or without a usable
throughput are skipped and counted; fewer than ``MIN_ROWS`` usable rows is refused).
``calibrate_cpu`` measures this machine's CPU: its memory bandwidth by working set (the
target's ``MemoryCurve``: at batch 1 a small model's activations fit in the caches, at batch
32 they stream from DRAM) and a fixed set of small timm models at batch 1 (within a time
budget), and calibrates on them.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archcalc.errors import ArchcalcError, InvalidArgumentError
from archcalc.timing.predict.features import feature_dtype, made_with, op_features
from archcalc.timing.predict.fit import calibration_fit, design, predicted_log_sps
from archcalc.timing.predict.model import Deployment, DeviceProfile, MemoryCurve
from archcalc.timing.predict.tables import Measured, deployment_of
from archcalc.timing.predict.targets import (
    LAYOUTS,
    calibration_prior,
    check_target_name,
    prior_for,
)

__all__ = [
    "CPU_MODELS",
    "MIN_ROWS",
    "Usable",
    "calibrate",
    "calibrate_cpu",
    "default_source",
    "errors",
    "guess_settings",
    "measured_range",
    "usable",
]

MIN_ROWS = 10
#: What ``calibrate --device cpu`` times: small models covering every op class.
CPU_MODELS = (
    "resnet18",
    "mobilenetv3_small_100",
    "efficientnet_b0",
    "convnext_atto",
    "deit_tiny_patch16_224",
    "regnetx_002",
    "ghostnet_100",
    "resnet10t",
    "mobilevit_xxs",
    "levit_128s",
    "mixer_s32_224",
    "densenet121",
)


@dataclass(frozen=True)
class Usable:
    """The rows a fit can use, with their features, and how many were skipped and why."""

    rows: list[Measured]
    features: list[np.ndarray]
    unknown: int
    no_throughput: int

    def samples(self) -> list[tuple[np.ndarray, int, float]]:
        """``(features, batch, samples/s)`` per usable row (what ``fit.design`` takes)."""
        return [
            (f, r.batch_size, float(r.samples_per_sec or 0))
            for r, f in zip(self.rows, self.features, strict=True)
        ]


def usable(
    rows: Sequence[Measured],
    *,
    dtype: str = "float32",
    reparameterize: bool = False,
    trace: bool = True,
) -> Usable:
    """Keep the rows with a positive throughput and a model that traces (or is stored); their
    feature rows of ``dtype`` (``op_features``), reparameterized or not as the rows were
    measured."""
    kept, feats, unknown, missing = [], [], 0, 0
    for row in rows:
        if row.samples_per_sec is None:
            missing += 1
            continue
        try:
            f = op_features(
                row.model, row.size, dtype=dtype, reparameterize=reparameterize, trace=trace
            )
        except ArchcalcError:
            f = None
        if f is None or len(f) == 0:
            unknown += 1
            continue
        kept.append(row)
        feats.append(f.rows)
    return Usable(kept, feats, unknown, missing)


def measured_range(rows: Sequence[Measured]) -> dict[str, list[int]]:
    """The batch sizes and input sizes (``[low, high]``) of ``rows``: where an error measured
    on them holds (``DeviceProfile.band_at``)."""
    batches, sizes = [r.batch_size for r in rows], [r.size for r in rows]
    return {"batch_sizes": [min(batches), max(batches)], "input_sizes": [min(sizes), max(sizes)]}


def errors(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """Median and P90 of |predicted / measured - 1| in %, over the rows."""
    err = np.abs(np.asarray(predicted) / np.asarray(measured) - 1) * 100
    return {"median_pct": float(np.median(err)), "p90_pct": float(np.percentile(err, 90))}


def calibrate(
    name: str,
    rows: Sequence[Measured],
    *,
    kind: str,
    dtype: str,
    compiled: bool = False,
    layout: str = "nchw",
    torch_version: str = "",
    reparameterize: bool = False,
    prior: DeviceProfile | None = None,
    source: dict[str, object] | None = None,
    trace: bool = True,
    memory_curve: MemoryCurve | None = None,
) -> tuple[DeviceProfile, Usable]:
    """Fit a target's constants to measured rows.

    Args:
        name: the target's name.
        rows: measured rows (``tables.read_table``).
        kind: ``gpu`` or ``cpu`` (picks the generic prior).
        dtype: ``float32``, or ``float16``/``bfloat16`` (autocast: its simulated bytes and
            casts).
        compiled, layout, torch_version: the deployment the rows were measured under
            (``torch.compile``, ``nchw``/``channels_last``, torch version; ``""``: unknown).
        reparameterize: the rows were measured on deploy forms (timm's
            ``reparameterize_model``; timm's PyTorch 2.9.1 tables were).
        prior: the device the fit starts from and is pulled towards (default: the shipped
            target that matches kind, dtype, compilation and layout best,
            ``targets.calibration_prior``); below 100 rows, rescaled first
            (``fit.calibration_fit``).
        source: provenance stored in the profile (file, date...); the feature version, torch
            and timm of the features are added (``source.features``).
        trace: trace models that are neither shipped nor cached (False: skip them).
        memory_curve: the measured device's bandwidth by working set (``MemoryCurve``), used
            by the fit and kept in the profile (None: none, whatever the prior has: a curve
            belongs to the machine it was measured on).

    Returns:
        The profile (its ``error`` is the in-sample error, labelled so) and the usable rows.

    Raises:
        InvalidArgumentError: a ``name`` that is not a name, fewer than ``MIN_ROWS`` usable
            rows, or a fit whose constants or error are not finite numbers.
    """
    check_target_name(name)
    if kind not in ("gpu", "cpu"):
        raise InvalidArgumentError(f"kind must be gpu or cpu, not {kind!r}")
    feature_dtype(dtype)  # a known dtype, or one line naming them
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    start = prior or calibration_prior(kind, dtype, compiled=compiled, layout=layout)
    start = replace(
        start,
        kind=kind,
        dtype=dtype,
        bytes_scale=prior_for(kind, dtype).bytes_scale,
        deployment=Deployment(compiled, layout, torch_version, memory_curve),
    )
    use = usable(rows, dtype=dtype, reparameterize=reparameterize, trace=trace)
    if len(use.rows) < MIN_ROWS:
        raise InvalidArgumentError(
            f"only {len(use.rows)} usable rows ({use.unknown} of unknown or untraceable models, "
            f"{use.no_throughput} without a positive throughput skipped); calibration needs at "
            f"least {MIN_ROWS}"
        )
    d = design(use.samples())
    theta = calibration_fit(d, start)
    with torch.no_grad():
        theta_t = torch.from_numpy(theta)
        predicted = predicted_log_sps(d, theta_t, start.bytes_scale, memory_curve).exp()
    measured = d.log_sps.exp()
    error = {
        **errors(predicted.numpy(), measured.numpy()),
        "method": "in-sample",
        "rows": d.rows,
        **measured_range(use.rows),
    }
    _check_finite(name, theta, error)
    provenance = {
        **(source or {}),
        "reparameterized": reparameterize,
        "features": made_with(),
        "rows_used": len(use.rows),
        "rows_skipped_unknown_model": use.unknown,
        "rows_skipped_no_throughput": use.no_throughput,
        "prior": start.name,
        "calibrated": datetime.date.today().isoformat(),
    }
    fitted = start.with_vector(
        theta,
        name=name,
        kind=kind,
        dtype=dtype,
        source=provenance,
        error=error,
        description=f"calibrated on {len(use.rows)} measured rows",
    )
    return fitted, use


def _check_finite(name: str, theta: np.ndarray, error: dict[str, object]) -> None:
    """Refuse a fit that diverged: a profile with NaN or infinite constants predicts nothing
    (and must never replace a saved target)."""
    bad = int(np.count_nonzero(~np.isfinite(theta)))
    if bad or not all(np.isfinite([error["median_pct"], error["p90_pct"]])):
        raise InvalidArgumentError(
            f"the fit of {name!r} diverged ({bad} of {theta.size} constants and the in-sample "
            "error must be finite numbers): check the table's sizes, batches and throughputs"
        )


def calibrate_cpu(
    name: str = "cpu",
    *,
    seconds: float = 60.0,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[DeviceProfile, Usable]:
    """Measure this CPU's memory curve (``timing.bandwidth``, a fifteenth of the budget) and
    time ``CPU_MODELS`` at batch 1 and 224 (float32), then calibrate on them with the curve.

    The budget is split over the models (each gets at least its warm-up and 10 runs); models
    are timed until the budget is spent, and at least ``MIN_ROWS`` must be timed. Curve and
    models run at ``threads``.
    """
    from archcalc.timing.bandwidth import SIZES, measure_bandwidth
    from archcalc.timing.bench import bench
    from archcalc.timing.measure import TimingSettings, default_threads

    check_target_name(name)  # before a minute of timing
    start = time.perf_counter()
    if progress is not None:
        progress("measuring memory bandwidth")
    threads = threads or default_threads()
    bandwidth = measure_bandwidth(SIZES, threads=threads, seconds=seconds / 15)
    curve = MemoryCurve(sizes=tuple(map(float, SIZES)), bandwidth=tuple(bandwidth))
    rows: list[Measured] = []
    per_model = max(0.2, seconds / len(CPU_MODELS) / 4)
    settings = TimingSettings(threads=threads, min_run_time_s=per_model, warmup_max_s=per_model)
    for model in CPU_MODELS:
        if time.perf_counter() - start > seconds * 0.85 and len(rows) >= MIN_ROWS:
            break
        if progress is not None:
            progress(f"timing {model}")
        report = bench(model, [224], [1], settings=settings)
        timing = report.rows[0].timing
        if timing is None:
            continue
        sps = timing.images_per_s
        raw = {"model": model, "infer_img_size": "224", "infer_batch_size": "1"}
        rows.append(Measured(model, 224, 1, sps, {**raw, "infer_samples_per_sec": str(sps)}))
    source = {"measured": "this machine's CPU, archcalc bench, batch 1, 224", "threads": threads}
    version = torch.__version__.split("+")[0]
    return calibrate(
        name,
        rows,
        kind="cpu",
        dtype="float32",
        torch_version=version,
        source=source,
        memory_curve=curve,
    )


def guess_settings(
    path: Path,
    kind: str | None = None,
    dtype: str | None = None,
    *,
    compiled: bool | None = None,
    layout: str | None = None,
    torch_version: str | None = None,
) -> dict[str, Any]:
    """How a table was measured, as ``calibrate``'s keywords (``kind``, ``dtype``,
    ``compiled``, ``layout``, ``torch_version``): as given, else from timm's file name
    (``tables.deployment_of``: ``cpu``, ``amp`` = float16 autocast, ``fp32`` = float32, ``nhwc``,
    ``-dynamo``, ``pt291``), else a GPU, float16 (float32 on a CPU), eager, NCHW, torch unknown."""
    named = deployment_of(path.name)
    kind = kind or named.kind or "gpu"
    dtype = dtype or named.dtype or ("float32" if kind == "cpu" else "float16")
    return {
        "kind": kind,
        "dtype": dtype,
        "compiled": bool(named.compiled) if compiled is None else compiled,
        "layout": layout or named.layout or "nchw",
        "torch_version": torch_version or named.torch_version or "",
    }


def default_source(path: Path) -> dict[str, object]:
    """Provenance of a calibration table: its file name and modification date."""
    stamp = datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return {"file": path.name, "file_date": stamp}
