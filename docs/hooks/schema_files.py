"""MkDocs hook: publish the shipped JSON Schemas (``archcalc/schemas/*.json``) with the site.

The schemas live in the package (they ship with it, for scripts that validate archcalc's
output); this hook adds each file to the site as ``schemas/<name>.json``, so the JSON schemas
page links to the very files the package ships instead of a copy. Loaded by mkdocs.yml
(``hooks:``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

SCHEMAS = Path(__file__).resolve().parents[2] / "archcalc" / "schemas"


def on_files(files: Files, config: Any) -> Files:
    """Add every shipped schema file as ``schemas/<name>.json``."""
    for path in sorted(SCHEMAS.glob("*.json")):
        files.append(File.generated(config, f"schemas/{path.name}", abs_src_path=str(path)))
    return files
