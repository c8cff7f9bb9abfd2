"""Trace the per-op features of every (model, size) in the shipped timm benchmark tables once
and pack them into archcalc/data/op_features.npz (what ``calibrate --from`` reads instead of
tracing the zoo again): each model as built and, for a model with a deploy form (RepVGG,
MobileOne, FastViT...), reparameterized too (the ``@fused`` keys), in both feature sets.

Run once, on final feature code, in one process: ``nice -n 10 python
benchmarks/build_op_features.py``. Traces are cached per model (resumable); failures are
listed in benchmarks/results/op_features_failures.txt.
"""

from __future__ import annotations

import csv
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: timm's published tables (``ARCHCALC_TIMM_TABLES`` overrides, e.g. from a git worktree).
TABLES = Path(
    os.environ.get("ARCHCALC_TIMM_TABLES", ROOT.parent / "shared" / "reference" / "timm_benchmarks")
)


def wanted() -> list[tuple[str, int]]:
    """Every distinct (model, size) of the four tables."""
    pairs: set[tuple[str, int]] = set()
    for path in sorted(TABLES.glob("*.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                pairs.add((row["model"], int(row["infer_img_size"])))
    return sorted(pairs)


def main() -> None:
    import argparse

    import timm
    import torch

    from archcalc.core.build import has_fused_form
    from archcalc.errors import ArchcalcError
    from archcalc.timing.predict.features import (
        FEATURE_DTYPES,
        key_of,
        op_features,
        save_shipped,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pack-only", action="store_true", help="pack what is traced already, trace nothing"
    )
    args = parser.parse_args()
    pairs = wanted()
    found, failures, fusable = {}, [], set()
    start = time.perf_counter()
    for i, (model, size) in enumerate(pairs):
        try:
            with torch.device("meta"):
                fused = has_fused_form(timm.create_model(model, pretrained=False))
            for reparameterize in (False, True) if fused else (False,):
                for dtype in FEATURE_DTYPES:  # the first traces and caches both sets
                    features = op_features(
                        model,
                        size,
                        dtype=dtype,
                        reparameterize=reparameterize,
                        trace=not args.pack_only,
                    )
                    if features is None:
                        raise LookupError("not traced yet (--pack-only)")
                    key = key_of(model, size, dtype, reparameterize=reparameterize)
                    found[key] = features
            if fused:
                fusable.add(model)
        except (ArchcalcError, Exception) as e:  # noqa: BLE001 - one bad arch must not stop the zoo
            failures.append(f"{model}@{size}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        if i % 50 == 0:
            print(
                f"{i}/{len(pairs)} {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True
            )
    out = ROOT / "archcalc" / "data" / "op_features.npz"
    save_shipped(
        found,
        out,
        fusable,
        torch=torch.__version__,
        timm=timm.__version__,
        date=datetime.date.today().isoformat(),
        source="every (model, infer_img_size) of shared/reference/timm_benchmarks/*.csv",
    )
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "op_features_failures.txt").write_text(
        "\n".join(failures) + "\n"
    )
    total = time.perf_counter() - start
    print(
        f"{len(found) // len(FEATURE_DTYPES)} traced, {len(failures)} failed, {total:.0f}s, "
        f"{out.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
