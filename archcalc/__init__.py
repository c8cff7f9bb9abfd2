"""archcalc: size a vision backbone before training it (stride, k x k map, MACs, memory, latency).

The public API is imported lazily so that ``import archcalc`` (and the CLI's ``--help``)
stays instant: torch and timm load on first use of a function that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ArchcalcError",
    "ArchitectureDefectError",
    "BenchReport",
    "Budgets",
    "DataVersionWarning",
    "Deployment",
    "DeviceProfile",
    "DeviceUnavailableError",
    "GrowthLaw",
    "InsufficientMemoryError",
    "InvalidArgumentError",
    "InvalidResolutionError",
    "Level",
    "MergeSummary",
    "NothingFitsError",
    "Option",
    "PredictedLatency",
    "Prediction",
    "Profile",
    "ProgressCallback",
    "ReceptiveField",
    "ScalePoint",
    "Scaling",
    "SearchScope",
    "SearchSummary",
    "SizeRange",
    "Stage",
    "Suggestion",
    "SweepSettings",
    "SweepSummary",
    "Timing",
    "TimingSettings",
    "TraceError",
    "TrainBatch",
    "UnknownModelError",
    "Validity",
    "WorkerCrashError",
    "__version__",
    "bench",
    "calibrate",
    "check_resolution",
    "describe_data",
    "expand_models",
    "load_target",
    "measure",
    "merge_results",
    "predict",
    "profile",
    "register_formula",
    "run_sweep",
    "scale",
    "search_backbones",
    "size_range",
    "suggest",
    "targets",
    "to_pandas",
    "use_formulas",
]

_LAZY = {
    "suggest": "archcalc.recommend.named",
    "search_backbones": "archcalc.recommend.search",
    "Suggestion": "archcalc.recommend.suggestion",
    "Option": "archcalc.recommend.suggestion",
    "SearchSummary": "archcalc.recommend.search_front",
    "Level": "archcalc.recommend.levels",
    "SizeRange": "archcalc.sizes.validity",
    "GrowthLaw": "archcalc.growth",
    "ProgressCallback": "archcalc.progress",
    "bench": "archcalc.timing.bench",
    "BenchReport": "archcalc.timing.stats",
    "TimingSettings": "archcalc.timing.measure",
    "ScalePoint": "archcalc.timing.scale",
    "MergeSummary": "archcalc.sweep.merge",
    "check_resolution": "archcalc.profiling.accepts",
    "size_range": "archcalc.profiling.accepts",
    "Validity": "archcalc.sizes.validity",
    "profile": "archcalc.profiling.prepare",
    "measure": "archcalc.timing.measure",
    "Timing": "archcalc.timing.stats",
    "InsufficientMemoryError": "archcalc.errors",
    "Profile": "archcalc.results",
    "ReceptiveField": "archcalc.results",
    "Stage": "archcalc.results",
    "ArchcalcError": "archcalc.errors",
    "ArchitectureDefectError": "archcalc.errors",
    "DeviceUnavailableError": "archcalc.errors",
    "InvalidArgumentError": "archcalc.errors",
    "InvalidResolutionError": "archcalc.errors",
    "TraceError": "archcalc.errors",
    "UnknownModelError": "archcalc.errors",
    "scale": "archcalc.timing.scale",
    "Scaling": "archcalc.timing.scale",
    "NothingFitsError": "archcalc.errors",
    "WorkerCrashError": "archcalc.errors",
    "to_pandas": "archcalc.report.frames",
    "register_formula": "archcalc.core.formulas",
    "use_formulas": "archcalc.core.formulas",
    "run_sweep": "archcalc.sweep.run",
    "expand_models": "archcalc.sweep.run",
    "merge_results": "archcalc.sweep.merge",
    "SweepSettings": "archcalc.sweep.run",
    "SweepSummary": "archcalc.sweep.run",
    "Budgets": "archcalc.recommend.request",
    "SearchScope": "archcalc.recommend.request",
    "PredictedLatency": "archcalc.recommend.request",
    "TrainBatch": "archcalc.recommend.request",
    "describe_data": "archcalc.datasets.describe",
    "predict": "archcalc.timing.predict.api",
    "Prediction": "archcalc.timing.predict.model",
    "DeviceProfile": "archcalc.timing.predict.model",
    "Deployment": "archcalc.timing.predict.model",
    "targets": "archcalc.timing.predict.api",
    "calibrate": "archcalc.timing.predict.api",
    "load_target": "archcalc.timing.predict.targets",
    "DataVersionWarning": "archcalc.errors",
}

if TYPE_CHECKING:  # what the lazy names are, for type checkers (tests/test_api.py)
    from archcalc.core.formulas import register_formula, use_formulas
    from archcalc.datasets.describe import describe_data
    from archcalc.errors import (
        ArchcalcError,
        ArchitectureDefectError,
        DataVersionWarning,
        DeviceUnavailableError,
        InsufficientMemoryError,
        InvalidArgumentError,
        InvalidResolutionError,
        NothingFitsError,
        TraceError,
        UnknownModelError,
        WorkerCrashError,
    )
    from archcalc.growth import GrowthLaw
    from archcalc.profiling.accepts import check_resolution, size_range
    from archcalc.profiling.prepare import profile
    from archcalc.progress import ProgressCallback
    from archcalc.recommend.levels import Level
    from archcalc.recommend.named import suggest
    from archcalc.recommend.request import Budgets, PredictedLatency, SearchScope, TrainBatch
    from archcalc.recommend.search import search_backbones
    from archcalc.recommend.search_front import SearchSummary
    from archcalc.recommend.suggestion import Option, Suggestion
    from archcalc.report.frames import to_pandas
    from archcalc.results import Profile, ReceptiveField, Stage
    from archcalc.sizes.validity import SizeRange, Validity
    from archcalc.sweep.merge import MergeSummary, merge_results
    from archcalc.sweep.run import SweepSettings, SweepSummary, expand_models, run_sweep
    from archcalc.timing.bench import bench
    from archcalc.timing.measure import TimingSettings, measure
    from archcalc.timing.predict.api import calibrate, predict, targets
    from archcalc.timing.predict.model import Deployment, DeviceProfile, Prediction
    from archcalc.timing.predict.targets import load_target
    from archcalc.timing.scale import ScalePoint, Scaling, scale
    from archcalc.timing.stats import BenchReport, Timing


def __getattr__(name: str) -> Any:
    """Import public names on first access (PEP 562) to keep torch out of ``import archcalc``."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archcalc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
