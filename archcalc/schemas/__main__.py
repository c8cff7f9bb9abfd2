"""``python -m archcalc.schemas``: rewrite the shipped schemas; ``--check``: exit 1 if stale."""

from __future__ import annotations

import sys

from archcalc.schemas import stale, write


def main(argv: list[str]) -> int:
    """Write every schema file, or with ``--check`` only list the stale ones (exit 1)."""
    if "--check" in argv:
        names = stale()
        for name in names:
            print(f"archcalc/schemas/{name}.json is stale: run python -m archcalc.schemas")
        return 1 if names else 0
    for path in write():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
