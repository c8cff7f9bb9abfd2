"""archcalc: size a vision backbone before training it (stride, k x k map, MACs, memory, latency).

The public API is imported lazily so that ``import archcalc`` (and the CLI's ``--help``)
stays instant: torch and timm load on first use of a function that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archcalc.deprecation import install_module_aliases

__version__ = "0.1.0"

install_module_aliases()  # old module paths (archcalc.timing.scale...) for one release

__all__ = [
    "ArchcalcError",
    "ArchitectureDefectError",
    "BenchReport",
    "DataVersionWarning",
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
    "Prediction",
    "Profile",
    "ProgressCallback",
    "ReceptiveField",
    "ScalePoint",
    "Scaling",
    "SearchSummary",
    "SizeRange",
    "Stage",
    "Suggestion",
    "SweepSettings",
    "SweepSummary",
    "Timing",
    "TimingSettings",
    "TraceError",
    "UnknownModelError",
    "Validity",
    "WorkerCrashError",
    "__version__",
    "bench",
    "calibrate",
    "check_resolution",
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
    "ScalePoint": "archcalc.profiling.scale",
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
    "scale": "archcalc.profiling.scale",
    "Scaling": "archcalc.profiling.scale",
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
    "predict": "archcalc.timing.predict.api",
    "Prediction": "archcalc.timing.predict.model",
    "DeviceProfile": "archcalc.timing.predict.model",
    "targets": "archcalc.timing.predict.api",
    "calibrate": "archcalc.timing.predict.api",
    "load_target": "archcalc.timing.predict.targets",
    "DataVersionWarning": "archcalc.errors",
}

if TYPE_CHECKING:
    from archcalc.core.formulas import register_formula, use_formulas
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
    from archcalc.profiling.accepts import check_resolution, size_range
    from archcalc.profiling.prepare import profile
    from archcalc.profiling.scale import Scaling, scale
    from archcalc.recommend.named import suggest
    from archcalc.recommend.suggestion import Suggestion
    from archcalc.report.frames import to_pandas
    from archcalc.results import Profile, ReceptiveField, Stage
    from archcalc.sizes.validity import Validity
    from archcalc.sweep.merge import merge_results
    from archcalc.sweep.run import SweepSettings, SweepSummary, expand_models, run_sweep
    from archcalc.timing.measure import measure
    from archcalc.timing.predict.api import calibrate, predict, targets
    from archcalc.timing.predict.model import DeviceProfile, Prediction
    from archcalc.timing.predict.targets import load_target
    from archcalc.timing.stats import Timing


def __getattr__(name: str) -> Any:
    """Import public names on first access (PEP 562) to keep torch out of ``import archcalc``."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archcalc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
