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
    "DeviceUnavailableError",
    "InvalidArgumentError",
    "InvalidResolutionError",
    "Profile",
    "Stage",
    "TraceError",
    "UnknownModelError",
    "__version__",
    "profile",
]

_LAZY = {
    "profile": "archcalc.profiling",
    "Profile": "archcalc.results",
    "Stage": "archcalc.results",
    "ArchcalcError": "archcalc.errors",
    "DeviceUnavailableError": "archcalc.errors",
    "InvalidArgumentError": "archcalc.errors",
    "InvalidResolutionError": "archcalc.errors",
    "TraceError": "archcalc.errors",
    "UnknownModelError": "archcalc.errors",
}

if TYPE_CHECKING:
    from archcalc.errors import (
        ArchcalcError,
        DeviceUnavailableError,
        InvalidArgumentError,
        InvalidResolutionError,
        TraceError,
        UnknownModelError,
    )
    from archcalc.profiling import profile
    from archcalc.results import Profile, Stage


def __getattr__(name: str) -> Any:
    """Import public names on first access (PEP 562) to keep torch out of ``import archcalc``."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archcalc' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
