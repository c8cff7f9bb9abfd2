"""Zoo coverage: ``profile()`` every ``timm.list_models()`` architecture at 48, 224 and 448.

Each model runs in a worker process with a per-model timeout (a hung or killed worker is
replaced: ``archcalc.workers.run_isolated``); its size rules are derived once
(``archcalc.sizes.probe``) and each (model, size) lands in one of five outcomes:

* ``ok``              -- ``profile()`` worked;
* ``refused``         -- the derived rules refused the size up front, with a one-line reason;
* ``refused_forward`` -- the rules passed but timm's own forward fails on the meta device
  (TraceError naming the module and cause; no real tensor was ever allocated);
* ``failed``          -- any other ArchcalcError (e.g. the model cannot be built);
* ``crashed``         -- any other exception, a time-out or a dead worker (an archcalc bug).

    flock /tmp/archcalc-heavy.lock python benchmarks/zoo_coverage.py            # whole zoo
    python benchmarks/zoo_coverage.py --only 'swin*' --sizes 48,300 --workers 1  # a family

Writes one CSV row per task and prints the share profiling per size, the refusals by reason
and every failure/crash in one line (model, size, cause).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "zoo_coverage.csv"
OUTCOMES = ("ok", "refused", "refused_forward", "failed", "crashed")


def run_model(model: str, sides: tuple[int, ...], check: bool = True) -> Iterator[dict[str, str]]:
    """Worker side: derive the model's rules once, then judge and ``profile()`` each side."""
    from archcalc import ArchcalcError, TraceError, profile
    from archcalc.sizes.probe import derive_rules
    from archcalc.sizes.validity import judge

    rules = None
    if check:
        try:
            rules = derive_rules(model)
        except ArchcalcError as e:
            for side in sides:
                yield {"size": str(side), "outcome": "failed", "cause": f"rules: {_line(e)}"}
            return
    for side in sides:
        row = {"size": str(side)}
        verdict = judge(rules, (side, side)) if rules is not None else None
        if verdict is not None and not verdict.valid:
            yield row | {
                "outcome": "refused",
                "cause": verdict.reason or "",
                "audit": _audit(model, side),
            }
            continue
        try:
            p = profile(model, side)
        except TraceError as e:  # the meta forward (timm's own code) fails at this size
            yield row | {"outcome": "refused_forward", "cause": _line(e)}
            continue
        except ArchcalcError as e:
            yield row | {"outcome": "failed", "cause": f"{type(e).__name__}: {_line(e)}"}
            continue
        k = f"{p.final_map[0]}x{p.final_map[1]}"
        yield row | {"outcome": "ok", "cause": "", "k": k, "stride": str(p.global_stride[0])}


def _audit(model: str, side: int) -> str:
    """Verify a refusal with the unchecked meta forward: does timm's forward really fail?"""
    from archcalc import ArchcalcError
    from archcalc.core.build import build
    from archcalc.profiling.prepare import profile_built

    try:
        profile_built(build(model, (side, side)), (side, side))
    except ArchcalcError:
        return "forward fails too"
    return "FORWARD RUNS"


def _line(error: BaseException) -> str:
    from archcalc.errors import first_line

    return first_line(error)[:400]


def zoo_task(payload: tuple[str, tuple[int, ...], bool]) -> Iterator[dict[str, str]]:
    """``archcalc.sweep.workers`` target: one (model, sides, check) payload -> one row per side.

    Anything but an ``ArchcalcError`` escapes and is recorded by the pool as ``crashed``."""
    model = payload[0]
    for row in run_model(*payload):
        yield {"model": model} | row


def run_all(
    models: list[str], sides: tuple[int, ...], workers: int, timeout_s: float, check: bool = True
) -> list[dict[str, str]]:
    """One task per model in isolated workers (``archcalc.workers.run_isolated``); an exception
    other than ArchcalcError, a time-out or a dead worker makes ``crashed`` rows."""
    from archcalc.sweep.workers import Done, Item, run_isolated

    rows: dict[tuple[str, str], dict[str, str]] = {}
    jobs = [(m, (m, sides, check)) for m in models]
    preload = ("archcalc.profiling.prepare", "archcalc.sizes.validity")
    events = run_isolated(
        jobs, "zoo_coverage:zoo_task", jobs=workers, timeout_s=timeout_s, preload=preload
    )
    done = 0
    for event in events:
        if isinstance(event, Item):
            rows[(event.task, event.value["size"])] = event.value
        elif isinstance(event, Done):
            cause = event.failure.to_dict() if event.failure else None
            for side in sides:
                key = (event.task, str(side))
                if key not in rows:
                    why = f"{cause['type']}: {cause['reason']}" if cause else "no result"
                    rows[key] = {
                        "model": event.task,
                        "size": str(side),
                        "outcome": "crashed",
                        "cause": why,
                    }
                rows[key]["seconds"] = f"{event.seconds:.2f}"
            done += 1
            if done % 100 == 0:
                print(f"  {done}/{len(models)} models", file=sys.stderr, flush=True)
    return [rows[(m, str(s))] for m in models for s in sides]


def reason_class(cause: str) -> str:
    """A reason without model, module names and numbers, so reasons group by kind."""
    text = cause.split(" cannot run at ", 1)[-1].split(": ", 1)[-1].split("; nearest", 1)[0]
    text = re.sub(r"\b\w+(\.\w+)+\b", "<module>", text)
    text = re.sub(r"\d+", "N", text)
    return text[:140]


def summarise(rows: list[dict[str, str]], sizes: list[int]) -> list[str]:
    """Closing note: share ok per size, refusals by reason, every failure and crash."""
    lines = []
    for side in sizes:
        mine = [r for r in rows if r["size"] == str(side)]
        counts = Counter(r["outcome"] for r in mine)
        share = 100 * counts["ok"] / max(len(mine), 1)
        parts = ", ".join(f"{o} {counts[o]}" for o in OUTCOMES)
        lines.append(f"{side:>4} px: {share:6.2f} % profile ({parts}) of {len(mine)}")
    for side in sizes:
        refused = Counter(
            (r["outcome"], reason_class(r["cause"]))
            for r in rows
            if r["size"] == str(side) and r["outcome"].startswith("refused")
        )
        for (outcome, reason), n in refused.most_common():
            lines.append(f"{outcome} at {side}: {n:4d} x {reason}")
    audits = Counter(r.get("audit") for r in rows if r["outcome"] == "refused")
    lines.append(f"refusals checked by the unchecked meta forward: {dict(audits)}")
    for r in rows:
        if r.get("audit") == "FORWARD RUNS":
            lines.append(f"over-refused: {r['model']} @ {r['size']}: {r['cause'][:200]}")
    for r in rows:
        if r["outcome"] in ("refused_forward", "failed", "crashed"):
            lines.append(f"{r['outcome']}: {r['model']} @ {r['size']}: {r['cause'][:200]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="48,224,448", help="comma-separated sides")
    parser.add_argument("--only", default="*", help="fnmatch pattern over model names")
    parser.add_argument("--limit", type=int, default=0, help="first N models only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per model")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--models-file", type=Path, help="only the names listed in this file")
    parser.add_argument("--no-check", action="store_true", help="profile without check_resolution")
    args = parser.parse_args()
    import timm

    models = [m for m in timm.list_models() if fnmatch.fnmatch(m, args.only)]
    if args.models_file:
        wanted = set(args.models_file.read_text().split())
        models = [m for m in models if m in wanted]
    models = models[: args.limit] if args.limit else models
    sizes = [int(s) for s in args.sizes.split(",")]
    start = time.monotonic()
    rows = run_all(models, tuple(sizes), args.workers, args.timeout, not args.no_check)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["model", "size", "outcome", "cause", "audit", "k", "stride", "seconds"]
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    took_s = time.monotonic() - start
    print(f"{len(models)} models x {len(sizes)} sizes in {took_s:.0f} s -> {args.out}")
    print("\n".join(summarise(rows, sizes)))


if __name__ == "__main__":
    main()
