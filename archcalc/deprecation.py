"""Old names that keep working for one release, each with a ``DeprecationWarning`` (no torch).

Two kinds: a keyword argument renamed (``renamed_kwargs``, a decorator), and a module moved
(``MOVED_MODULES``: ``import archcalc.timing.scale`` still finds ``archcalc.profiling.scale``
through a small import hook that ``archcalc/__init__.py`` installs). Nothing is kept as a copy:
the old spelling reaches the one new definition.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

__all__ = ["MOVED_MODULES", "install_module_aliases", "renamed_kwargs", "warn_deprecated"]

F = TypeVar("F", bound=Callable[..., Any])

#: Old module path -> new one (moved in 0.2; the old paths go in the release after).
MOVED_MODULES = {
    "archcalc.cache": "archcalc.cli.result_cache",
    "archcalc.core.fields": "archcalc.core.receptive.tracker",
    "archcalc.core.field_rules": "archcalc.core.receptive.rules",
    "archcalc.core.field_state": "archcalc.core.receptive.state",
    "archcalc.core.field_views": "archcalc.core.receptive.views",
    "archcalc.core.reshape": "archcalc.core.receptive.dims",
    "archcalc.recommend.suggest": "archcalc.recommend.named",
    "archcalc.recommend.auto": "archcalc.recommend.search",
    "archcalc.recommend.front": "archcalc.recommend.search_front",
    "archcalc.recommend.profiles": "archcalc.recommend.evaluate",
    "archcalc.timing.scale": "archcalc.profiling.scale",
}


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """One ``DeprecationWarning``: ``old`` goes in the next release, ``new`` replaces it."""
    message = f"{old} is deprecated and will be removed in the next release; use {new}"
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)


def renamed_kwargs(**renames: str) -> Callable[[F], F]:
    """Accept each old keyword (``old="new"``) for the new one, with a ``DeprecationWarning``.

    Example:
        >>> @renamed_kwargs(low="min_resolution")
        ... def f(*, min_resolution: int = 1) -> int:
        ...     return min_resolution
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both {old}= and {new}=")
                    warn_deprecated(f"{func.__name__}({old}=...)", f"{new}=")
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and hands back the module that now holds its code."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED_MODULES[spec.name]
        warn_deprecated(f"module {spec.name}", new, stacklevel=8)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is already imported."""


def install_module_aliases() -> None:
    """Put the moved-module finder first on ``sys.meta_path`` (once): it claims only the old
    paths, which no other finder should resolve (a stale install could still hold them)."""
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedModules())
