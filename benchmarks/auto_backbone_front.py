"""Is the pruned ``--backbone auto`` search exact? Profile every candidate, compare choices.

For each task level (coarse 224, fine-grained 448, region 48) every architecture of the
packaged accuracy table (its most accurate weight) is profiled at the level's size with the
output-stride remedies (``recommend.search.level_options``), without any pruning. Profiles are
cached in ``benchmarks/results/auto_backbone_profiles.jsonl.gz`` (a rerun resumes). Then,
for at least three budgets per level, the exhaustive answer (most accurate option that keeps
k in the window and fits; ties to the cheaper) is compared with ``recommend.search.search`` run
on the same profiles, and the table prints both choices, the profiles the pruned search
needed, and every case where a published lower bound exceeded the profiled cost.

    nice python benchmarks/auto_backbone_front.py --jobs 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from archcalc.errors import ArchcalcError
from archcalc.recommend.catalog import Entry, best_per_arch, load_catalog
from archcalc.recommend.decide import violations
from archcalc.recommend.levels import LEVELS, Level
from archcalc.recommend.rules import Backbone, level_verdict
from archcalc.recommend.search import level_options, resizes_input, search
from archcalc.recommend.search_front import mac_bound, param_bound
from archcalc.recommend.suggestion import Option
from archcalc.results import Profile

CACHE = Path(__file__).resolve().parent / "results" / "auto_backbone_profiles.jsonl.gz"
#: (max_gmacs, max_params) budgets per level: loose, middle, tight, and one with params.
BUDGETS = {
    "coarse": [(None, None), (8.0, None), (2.0, None), (0.5, None), (4.0, 10.0)],
    "fine-grained": [(None, None), (20.0, None), (5.0, None), (1.0, None), (10.0, 20.0)],
    "region": [(None, None), (1.0, None), (0.2, None), (0.05, None), (0.5, 5.0)],
}


def _work(name: str, res: tuple[int, int]) -> dict[str, Any]:
    try:
        options, backbone = level_options(name, res)
    except ArchcalcError as e:
        return {"name": name, "res": list(res), "error": str(e)}
    return {
        "name": name,
        "res": list(res),
        "profiles": [o.profile.to_dict() for o in options],
        "build_kwargs": [[list(kv) for kv in o.build_kwargs] for o in options],
        "backbone": {"name": backbone.name, "crop_pct": backbone.crop_pct},
    }


def _options(row: dict) -> list[Option]:
    """A cached row's options, with the constructor arguments each was built with."""
    kwargs = row.get("build_kwargs") or [[] for _ in row.get("profiles", [])]
    return [
        Option(Profile.from_dict(p), build_kwargs=tuple((k, _tuple(v)) for k, v in kw))
        for p, kw in zip(row.get("profiles", []), kwargs, strict=True)
    ]


def _tuple(value: Any) -> Any:
    """JSON lists back to the tuples they were (``img_size``)."""
    return tuple(value) if isinstance(value, list) else value


def _read_cache() -> dict[tuple, dict]:
    """The cached rows; a file cut short by a kill (a torn line or gzip member) is rewritten
    with the rows that were whole, so appending to it goes on cleanly."""
    done: dict[tuple, dict] = {}
    if not CACHE.exists():
        return done
    torn = False
    with gzip.open(CACHE, "rt") as f:
        try:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    torn = True
                    continue
                if "error" in row or "build_kwargs" in row:  # older rows lack the arguments
                    done[(row["name"], tuple(row["res"]))] = row
        except (EOFError, gzip.BadGzipFile):
            torn = True
    if torn:
        with gzip.open(CACHE, "wt") as out:
            out.writelines(json.dumps(row) + "\n" for row in done.values())
        print(f"cache was cut short; rewrote it with its {len(done)} whole rows", file=sys.stderr)
    return done


def profile_all(
    entries: list[Entry], levels: list[Level], jobs: int, minutes: float
) -> dict[tuple, dict]:
    """Every (name, level size) profiled, from the cache where it has the row, until the
    time limit. Architectures go in a fixed shuffled order, each at every level, so a run cut
    short leaves a random sample of whole architectures."""
    done = _read_cache()
    order = list(entries)
    random.Random(0).shuffle(order)
    todo = [(e.name, lv.resolution) for e in order for lv in levels]
    todo = [t for t in todo if t not in done]
    start = time.perf_counter()
    if minutes <= 0:  # compare on the cache only
        print(f"no profiling (--minutes 0); {len(done)} (name, size) pairs cached", flush=True)
        return done
    deadline = start + minutes * 60
    pool = ProcessPoolExecutor(jobs)
    with gzip.open(CACHE, "at") as out:
        futures = [pool.submit(_work, name, res) for name, res in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            row = fut.result()
            done[(row["name"], tuple(row["res"]))] = row
            out.write(json.dumps(row) + "\n")
            out.flush()
            if i % 100 == 0:
                print(
                    f"  {i}/{len(todo)} profiled, {time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            if time.perf_counter() > deadline:
                break
    pool.shutdown(wait=False, cancel_futures=True)
    print(
        f"profiled {i if todo else 0} of {len(todo)} (name, size) pairs left in "
        f"{time.perf_counter() - start:.0f} s with {jobs} jobs (limit {minutes:g} min)",
        flush=True,
    )
    return done


def cached_profiler(done: dict[tuple, dict], calls: list[str]):
    def profiler(name: str, res: tuple[int, int]) -> tuple[list[Option], Backbone]:
        calls.append(name)
        row = done[(name, tuple(res))]
        if "error" in row:
            raise ArchcalcError(row["error"])
        return _options(row), Backbone(
            row["backbone"]["name"], crop_pct=row["backbone"]["crop_pct"]
        )

    return profiler


def exhaustive(entries, done, level, max_gmacs, max_params) -> list[tuple[Entry, Option]]:
    """The front found by looking at every profile: most accurate first, each cheaper."""
    fits = []
    for e in entries:
        row = done[(e.name, level.resolution)]
        options = _options(row)
        if options and resizes_input(options[0], level.resolution):
            continue  # the network resizes its input itself: never an option (as in search)
        fit = next((o for o in options if level_verdict(o.profile, level).rank == 0), None)
        if fit is not None and not violations(fit, None, max_gmacs, max_params):
            fits.append((e, fit))
    fits.sort(key=lambda t: (-t[0].accuracy.top1, t[1].profile.macs, t[0].arch))
    front: list[tuple[Entry, Option]] = []
    for e, o in fits:
        if not front or o.profile.macs < front[-1][1].profile.macs:
            if front and front[-1][0].accuracy.top1 == e.accuracy.top1:
                front.pop()
            front.append((e, o))
    return front


def bound_violations(entries, done, level) -> list[str]:
    """Architectures whose published lower bound exceeds the profiled cost (should be none;
    a network that resizes its input is rejected after its profile, so its bound never
    decides)."""
    out = []
    for e in entries:
        row = done[(e.name, level.resolution)]
        profiles = row.get("profiles") or []
        if not profiles or resizes_input(_options(row)[0], level.resolution):
            continue
        base = profiles[0]
        if mac_bound(e, level.resolution) > base["macs"]:
            out.append(
                f"{e.name} MACs bound {mac_bound(e, level.resolution) / 1e9:.3f} > "
                f"{base['macs'] / 1e9:.3f} G"
            )
        if param_bound(e) > base["params"]:
            out.append(
                f"{e.name} params bound {param_bound(e) / 1e6:.2f} > {base['params'] / 1e6:.2f} M"
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--family", default=None, help="limit to a family (quick look)")
    parser.add_argument("--minutes", type=float, default=18.0, help="profiling time limit")
    args = parser.parse_args()
    table = best_per_arch(load_catalog(), args.family)
    done = profile_all(table, list(LEVELS), args.jobs, args.minutes)
    # The table the comparison runs on: the architectures profiled at every level.
    entries = [e for e in table if all((e.name, lv.resolution) in done for lv in LEVELS)]
    failed = {
        lv.name: sum("error" in done[(e.name, lv.resolution)] for e in entries) for lv in LEVELS
    }
    print(
        f"{len(entries)} of {len(table)} architectures profiled at every level (no pruning); "
        f"could not be profiled: {failed}"
    )
    print(
        "level | max_gmacs | max_params | exhaustive choice (top-1, GMACs) | pruned choice | "
        "same choice | same front | profiles needed"
    )
    agree = total = 0
    for level in LEVELS:
        for max_gmacs, max_params in BUDGETS[level.name]:
            truth = exhaustive(entries, done, level, max_gmacs, max_params)[: args.top]
            calls: list[str] = []
            try:
                found = search(
                    level,
                    entries,
                    max_gmacs=max_gmacs,
                    max_params=max_params,
                    top=args.top,
                    latency=False,
                    profiler=cached_profiler(done, calls),
                ).options
            except ArchcalcError as e:
                found = ()
                print(f"  ({level.name}, {max_gmacs}, {max_params}): {e}")
            want = truth[0][1].profile.model if truth else "none fits"
            got = found[0].profile.model if found else "none fits"
            desc = (
                f"{want} ({truth[0][0].accuracy.top1:.2f}, {truth[0][1].profile.macs / 1e9:.2f})"
                if truth
                else want
            )
            same_front = [o.profile.model for _, o in truth] == [o.profile.model for o in found]
            total += 1
            agree += want == got and same_front
            print(
                f"{level.name} | {max_gmacs} | {max_params} | {desc} | {got} | "
                f"{'yes' if want == got else 'NO'} | {'yes' if same_front else 'NO'} | "
                f"{len(calls)} of {len(entries)}"
            )
    for level in LEVELS:
        bad = bound_violations(entries, done, level)
        print(
            f"{level.name}: {len(bad)} lower-bound violation(s)" + "".join(f"\n  {b}" for b in bad)
        )
    print(f"{agree}/{total} budgets: pruned search == exhaustive (choice and top-{args.top} front)")
    return 0 if agree == total else 1


if __name__ == "__main__":
    raise SystemExit(main())
