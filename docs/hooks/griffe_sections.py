"""Griffe extensions for the API page: ``Example:`` read as ``Examples:``; lazy exports.

The house style writes one short example under ``Example:``; griffe's Google parser only knows
the plural, and would render the singular as a note whose ``[224, 256]`` output reads as a
broken link. Loaded by mkdocs.yml (mkdocstrings' ``extensions`` option).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_SINGULAR = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename every ``Example:`` section to ``Examples:`` before the docstring is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object once the tree is built."""
        if obj.docstring is not None:
            obj.docstring.value = _SINGULAR.sub(r"\1Examples:", obj.docstring.value)


class LazyExports(griffe.Extension):
    """Make every lazily exported public name of ``archcalc`` an alias griffe can resolve.

    ``archcalc/__init__.py`` imports its public names on first access (PEP 562, its ``_LAZY``
    table), which static analysis cannot follow; this extension reads the same table (``import
    archcalc`` loads no torch) and adds ``archcalc.NAME`` as an alias of the defining module's
    object, so ``::: archcalc.NAME`` on the API page works for every name in ``__all__``.
    """

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Add the missing aliases once the ``archcalc`` package is loaded."""
        if pkg.path != "archcalc":
            return
        import archcalc

        for name, module in archcalc._LAZY.items():
            if name not in pkg.members:
                pkg.set_member(name, griffe.Alias(name, f"{module}.{name}", parent=pkg))
