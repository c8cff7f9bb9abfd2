"""Validate archcalc's counts against published tables (timm benchmark CSV, torchvision metadata).

Reads ``../shared/reference/{timm,torchvision}_published.csv`` (see that folder's README for
units), profiles every (arch, img_size) on the meta device -- timm rows with the ``fvcore``
convention, torchvision rows with ``core`` -- and prints the share within 1 % (MACs) and
0.1 % (params), the worst rows with reasons, and writes one CSV row per model.

Published values are rounded to 0.01 (G or M), so a row also counts as a match when our
value rounds to the published one; both the strict and the rounding-aware shares are shown.

    python benchmarks/validate_published.py                 # everything (tens of minutes)
    python benchmarks/validate_published.py --limit 50      # a quick look
    python benchmarks/validate_published.py --only 'vit_*'  # one family
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "validate_published.csv"
MACS_TOL = 0.01
PARAMS_TOL = 0.001


@dataclass
class Row:
    """One published row and what archcalc measured for it."""

    source: str
    model: str
    img_size: int
    pub_gmacs: float
    pub_params_m: float
    gmacs: float | None = None
    params_m: float | None = None
    reparameterized: bool = False
    error: str = ""

    def macs_ok(self, rounding: bool) -> bool:
        return self.gmacs is not None and _close(self.gmacs, self.pub_gmacs, MACS_TOL, rounding)

    def params_ok(self, rounding: bool) -> bool:
        ok = self.params_m is not None
        return ok and _close(self.params_m, self.pub_params_m, PARAMS_TOL, rounding)


def _close(ours: float, published: float, tol: float, rounding: bool) -> bool:
    """Within ``tol`` relative, or (rounding-aware) equal once rounded to the published 0.01."""
    if published == 0:
        return round(ours, 2) == 0
    if abs(ours - published) <= tol * abs(published):
        return True
    return rounding and round(ours, 2) == round(published, 2)


def read_timm(reference: Path) -> list[Row]:
    """Unique (arch, img_size) rows of timm's benchmark table (tags repeat the same sizes)."""
    rows: dict[tuple[str, int], Row] = {}
    with open(reference / "timm_published.csv", newline="") as f:
        for r in csv.DictReader(f):
            key = (r["arch"], int(r["img_size"]))
            rows.setdefault(
                key, Row("timm", key[0], key[1], float(r["gmacs"]), float(r["param_count_m"]))
            )
    return list(rows.values())


def read_torchvision(reference: Path) -> list[Row]:
    """torchvision weights metadata: GMACs (labelled GFLOPS) and exact params at crop size."""
    rows: dict[tuple[str, int], Row] = {}
    with open(reference / "torchvision_published.csv", newline="") as f:
        for r in csv.DictReader(f):
            key = (r["model"], int(r["crop_size"]))
            params_m = int(r["num_params"]) / 1e6
            rows.setdefault(
                key, Row("torchvision", key[0], key[1], float(r["gflops_reported"]), params_m)
            )
    return list(rows.values())


def _torchvision_kwargs(row: Row) -> dict[str, object]:
    """Builder arguments that match how the weights' metadata was measured.

    ViTs take ``image_size`` (the SWAG weights run at 384/512/518); googlenet's published
    ``num_params`` leaves out the aux classifiers, which do not run in eval anyway.
    """
    if row.model.startswith("vit_"):
        return {"image_size": row.img_size}
    if row.model == "googlenet":
        return {"aux_logits": False, "init_weights": False}
    return {}


def measure(row: Row) -> None:
    """Profile one row in place (errors recorded, never raised)."""
    import torch

    import archcalc

    try:
        if row.source == "timm":  # timm's table reports the fused form of re-param nets
            prof = archcalc.profile(
                row.model, row.img_size, convention="fvcore", reparameterize=True
            )
            row.reparameterized = prof.reparameterized
        else:
            import torchvision

            device = "cpu" if row.model.startswith("regnet") else "meta"
            with torch.device(device):
                module = torchvision.models.get_model(
                    row.model, weights=None, **_torchvision_kwargs(row)
                )
            prof = archcalc.profile(module, row.img_size, convention="core")
        row.gmacs = prof.macs / 1e9
        row.params_m = prof.params / 1e6
    except Exception as e:  # noqa: BLE001 - a benchmark records every failure
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        row.error = f"{type(e).__name__}: {text}"[:200]


def summarise(rows: list[Row], source: str) -> list[str]:
    """Lines: counts, shares within tolerance (strict / rounding-aware), worst rows."""
    mine = [r for r in rows if r.source == source]
    built = [r for r in mine if not r.error]
    lines = [f"{source}: {len(mine)} (model, size) rows, {len(built)} profiled"]
    if not built:
        return lines
    for label, ok in (("MACs within 1%", Row.macs_ok), ("params within 0.1%", Row.params_ok)):
        strict = sum(ok(r, False) for r in built) / len(built)
        aware = sum(ok(r, True) for r in built) / len(built)
        lines.append(f"  {label}: {100 * strict:.1f}% strict, {100 * aware:.1f}% rounding-aware")
    worst = sorted(
        (r for r in built if not r.macs_ok(True)),
        key=lambda r: -abs((r.gmacs or 0) / r.pub_gmacs - 1) if r.pub_gmacs else 0,
    )
    lines.append(f"  MAC misses: {len(worst)}; worst 15:")
    lines += [
        f"    {r.model}@{r.img_size}: ours {r.gmacs:.3f} G vs {r.pub_gmacs} G "
        f"({100 * ((r.gmacs or 0) / r.pub_gmacs - 1):+.1f}%)"
        for r in worst[:15]
    ]
    misses = [r for r in built if not r.params_ok(True)]
    lines.append(f"  param misses: {len(misses)}")
    lines += [
        f"    {r.model}@{r.img_size}: ours {r.params_m:.3f} M vs {r.pub_params_m} M"
        for r in misses[:15]
    ]
    errors = Counter(r.error.split(":")[0] for r in mine if r.error)
    if errors:
        lines.append(f"  errors by type: {dict(errors)}")
        lines += [f"    {r.model}@{r.img_size}: {r.error}" for r in mine if r.error][:10]
    return lines


def write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "source",
                "model",
                "img_size",
                "pub_gmacs",
                "gmacs",
                "macs_ok",
                "pub_params_m",
                "params_m",
                "params_ok",
                "reparameterized",
                "error",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.source,
                    r.model,
                    r.img_size,
                    r.pub_gmacs,
                    "" if r.gmacs is None else f"{r.gmacs:.4f}",
                    int(r.macs_ok(True)),
                    r.pub_params_m,
                    "" if r.params_m is None else f"{r.params_m:.4f}",
                    int(r.params_ok(True)),
                    int(r.reparameterized),
                    r.error,
                ]
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", default="*", help="fnmatch pattern on the model name")
    parser.add_argument("--limit", type=int, default=0, help="first N rows per source")
    parser.add_argument("--source", choices=("timm", "torchvision", "both"), default="both")
    args = parser.parse_args()
    if not (args.reference / "timm_published.csv").exists():
        print(
            f"reference tables not found in {args.reference}: they live in the project's "
            "shared/reference folder, which a user's clone does not have; pass --reference",
            file=sys.stderr,
        )
        return 2
    rows: list[Row] = []
    for source, reader in (("timm", read_timm), ("torchvision", read_torchvision)):
        if args.source in (source, "both"):
            picked = [r for r in reader(args.reference) if fnmatch.fnmatch(r.model, args.only)]
            rows += picked[: args.limit] if args.limit else picked
    start = time.perf_counter()
    for i, row in enumerate(rows, 1):
        measure(row)
        if i % 100 == 0:
            print(f"  {i}/{len(rows)} rows, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(f"{len(rows)} rows in {time.perf_counter() - start:.0f} s")
    for source in ("timm", "torchvision"):
        print("\n".join(summarise(rows, source)))
    write_csv(rows, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
