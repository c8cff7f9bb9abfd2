"""Do the entry points agree? profile(), bench, suggest and sweep on the same (model, size) pairs.

Every entry point gets its model from ``archcalc.profiling.prepare.prepare``; this script
checks that they therefore report the same global stride, final k x k map and MACs, or the
same one-line refusal, for each (model, size):

* ``profile``: ``archcalc.profile(model, size)`` (the reference column);
* ``bench``:   ``archcalc.bench(model, [size], [1], settings=TimingSettings(threads=1))``; its row
  reports MACs only, so only MACs (or the refusal) are compared. Its timing is irrelevant
  here and costs real forwards, so bench runs only where profile refused or profile's MACs
  are at most ``--bench-max-gmacs`` (the rest are shown as ``-`` and counted as not run);
* ``suggest``: ``archcalc.suggest("coarse", backbones=[model], latency=False)``: its
  alternative at that size with the default output stride, or its ``skipped MODEL at HxW:
  REASON`` warning; when suggest refuses as a whole, that refusal stands for every size;
* ``sweep``:   ``archcalc.run_sweep(models, sizes, jobs=2)`` into a temporary JSONL: the line.

Refusals are compared by message, normalised to one line with runs of whitespace collapsed
(``archcalc.errors.first_line(e, whole=True)``, what sweep lines store), and by exception
type where the entry point reports one (suggest's warning carries the message only). An
``ArchcalcError`` is a *refusal*; any other exception is a *crash* (an archcalc bug) and
never agrees with a refusal.

Models: a seeded sample of ``timm.list_models()`` (``random.Random(SEED).sample``) plus
fixed-input-size ViT/DeiT/EVA, Swin, CrossViT, HaloNet-style windowed nets and
reparameterizable nets, each at 48, 224 and 448.

    PYTHONPATH=$PWD python benchmarks/entry_points_agree.py            # ~70 models
    PYTHONPATH=$PWD python benchmarks/entry_points_agree.py --quick    # a smoke run
    python benchmarks/entry_points_agree.py --models crossvit_tiny_240,halonet26t

Prints a per-model table ("=" where an entry point agrees with profile, else what it gave),
counts per family and the summary line "N pairs, D disagreements"; writes one CSV row per
pair; exits 1 if any pair disagrees.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's archcalc (and the workers', via spawn)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "entry_points_agree.csv"
REFERENCES = (ROOT.parent / "shared" / "reference", Path("/work/shared/reference"))
SEED = 0
SAMPLE = 45
#: The sample is drawn from the archs of timm's published table up to this size (the cost of
#: four entry points on a shared 2-core host); from every timm arch when the table is absent.
SAMPLE_MAX_MPARAMS = 30.0
SIZES = (48, 224, 448)
BENCH_MAX_GMACS = 2.0
BENCH_MAX_MPARAMS = 30.0  # bench builds real weights: no giant random inits on a shared host
#: The smallest timed run bench accepts in practice: only its MACs matter here.
BENCH_MIN_RUN_TIME_S = 1e-3
TASK = "coarse"  # its own size (224) is a candidate side, so no extra sizes are added
ENTRY_POINTS = ("bench", "suggest", "sweep")
FAMILIES = {
    "fixed-size ViT": (
        "vit_tiny_patch16_224",
        "vit_small_patch16_384",
        "deit_tiny_patch16_224",
        "deit_tiny_distilled_patch16_224",
        "eva02_tiny_patch14_224",
    ),
    "Swin": (
        "swin_tiny_patch4_window7_224",
        "swinv2_tiny_window8_256",
        "swinv2_cr_tiny_224",
    ),
    "CrossViT": ("crossvit_tiny_240", "crossvit_9_240"),
    "windowed": (
        "halonet26t",
        "sehalonet33ts",
        "eca_halonext26ts",
        "halo2botnet50ts_256",
        "botnet26t_256",
        "lambda_resnet26t",
    ),
    "reparameterizable": (
        "repvgg_a0",
        "mobileone_s0",
        "fastvit_t8",
        "repvit_m0_9",
        "repghostnet_050",
        "levit_128s",
    ),
}
QUICK = ("resnet18", "vit_tiny_patch16_224", "halonet26t", "mobileone_s0")
#: How suggest names a size it could not profile, in a warning or in its refusal of the call.
SKIPPED = re.compile(r"skipped (?P<model>\S+) at (?P<h>\d+)x(?P<w>\d+): ")


@dataclass(frozen=True)
class Outcome:
    """What one entry point gave for one (model, size).

    ``kind``: ``ok`` (stride / k / MACs, each None where the entry point does not report it),
    ``refused`` (an ArchcalcError: type if known, one-line message), ``crashed`` (any other
    exception), ``not run`` (bench above the MACs limit) or ``missing`` (no row, no reason).
    """

    kind: str
    stride: tuple[int, int] | None = None
    k: tuple[int, int] | None = None
    macs: int | None = None
    error_type: str | None = None
    message: str = ""
    params: int | None = None  # profile's, to decide whether bench runs (never compared)

    def text(self) -> str:
        """One cell: ``32 7x7 1.819`` (stride, k, GMACs), or ``Type: message``."""
        from archcalc.formatting import billions, size, stride_text

        if self.kind == "ok":
            parts = [
                stride_text(self.stride) if self.stride else "",
                size(self.k) if self.k else "",
            ]
            macs = "" if self.macs is None else f"{billions(self.macs)} ({self.macs})"
            return " ".join(p for p in (*parts, macs) if p)
        if self.kind in ("not run", "missing"):
            return f"{self.kind}: {self.message}" if self.message else self.kind
        return f"{self.kind} {self.error_type or ''}: {self.message}".replace(" :", ":")


def ok(stride: Any, k: Any, macs: int) -> Outcome:
    """A profiled row (pairs from JSON lists become tuples)."""
    pair = lambda v: None if v is None else (int(v[0]), int(v[1]))  # noqa: E731
    return Outcome("ok", pair(stride), pair(k), int(macs))


def failed(error: BaseException) -> Outcome:
    """An exception as a refusal (ArchcalcError) or a crash (anything else)."""
    from archcalc.errors import ArchcalcError, first_line

    kind = "refused" if isinstance(error, ArchcalcError) else "crashed"
    return Outcome(kind, error_type=type(error).__name__, message=first_line(error, whole=True))


def one_line(text: str) -> str:
    """The normalisation every refusal message goes through before comparing."""
    return " ".join(text.split())


def agrees(ref: Outcome, got: Outcome) -> bool | None:
    """True/False: ``got`` says the same as ``ref`` on every field it reports; None: not run."""
    if got.kind == "not run":
        return None
    if got.kind != ref.kind:
        return False
    if got.kind == "ok":
        pairs = ((ref.stride, got.stride), (ref.k, got.k), (ref.macs, got.macs))
        return all(g is None or r == g for r, g in pairs)
    same_type = ref.error_type is None or got.error_type in (None, ref.error_type)
    return same_type and one_line(ref.message) == one_line(got.message)


# --- the in-process entry points, one worker task per model -----------------------------------


def in_process(model: str, bench_max_gmacs: float, deadline: float) -> dict[str, Any] | None:
    """profile and bench at every size, then suggest: ``{size: {entry point: Outcome}}``
    (None when called after ``deadline``: the time box is spent)."""
    if time.monotonic() > deadline:
        return None
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    found: dict[int, dict[str, Outcome]] = {}
    for side in SIZES:
        ref = run_profile(model, side)
        found[side] = {"profile": ref, "bench": run_bench(model, side, ref, bench_max_gmacs)}
    for side, outcome in run_suggest(model).items():
        found[side]["suggest"] = outcome
    return {"model": model, "outcomes": found, "seconds": time.perf_counter() - start}


def run_profile(model: str, side: int) -> Outcome:
    import archcalc

    try:
        p = archcalc.profile(model, side)
    except Exception as e:  # noqa: BLE001 - every failure is this pair's outcome
        return failed(e)
    return replace(ok(p.global_stride, p.final_map, p.macs), params=p.params)


def run_bench(model: str, side: int, ref: Outcome, max_gmacs: float) -> Outcome:
    """bench's row MACs at batch 1 (timing kept minimal); not run above ``max_gmacs`` or
    ``BENCH_MAX_MPARAMS`` (a refusal costs no real build, so bench always runs there)."""
    from archcalc.timing.bench import bench
    from archcalc.timing.measure import TimingSettings

    settings = TimingSettings(threads=1, min_run_time_s=BENCH_MIN_RUN_TIME_S)
    if ref.kind == "ok" and (ref.macs or 0) > max_gmacs * 1e9:
        return Outcome("not run", message=f"> {max_gmacs:g} GMACs")
    if ref.kind == "ok" and (ref.params or 0) > BENCH_MAX_MPARAMS * 1e6:
        return Outcome("not run", message=f"> {BENCH_MAX_MPARAMS:g} M params")
    try:
        report = bench(model, [side], [1], settings=settings)
    except Exception as e:  # noqa: BLE001
        return failed(e)
    (row,) = report.rows
    return Outcome("ok", macs=row.macs)


def run_suggest(model: str) -> dict[int, Outcome]:
    """suggest's alternative (default output stride) or ``skipped`` reason at each size.

    When suggest refuses the whole call (no size could be profiled), the per-size reasons its
    message lists stand for those sizes, and the refusal itself for any size it does not list.
    """
    import archcalc

    try:
        s = archcalc.suggest(TASK, backbones=[model], latency=False)
    except Exception as e:  # noqa: BLE001
        whole = failed(e)
        reasons = skipped_reasons(whole.message) if whole.kind == "refused" else {}
        return {side: _refused(reasons[side]) if side in reasons else whole for side in SIZES}
    got = dict.fromkeys(SIZES, Outcome("missing"))
    for o in s.alternatives:
        p = o.profile
        if p.output_stride is None and p.height == p.width and p.height in SIZES:
            got[p.height] = ok(p.global_stride, p.final_map, p.macs)
    for warning in s.warnings:
        got |= {side: _refused(r) for side, r in skipped_reasons(warning).items() if side in SIZES}
    return got


def skipped_reasons(text: str) -> dict[int, str]:
    """``skipped NAME at SxS: REASON[; skipped ...]`` -> {S: REASON} (square sizes only)."""
    marks = list(SKIPPED.finditer(text))
    found = {}
    for mark, after in zip(marks, [*marks[1:], None][: len(marks)], strict=True):
        reason = text[mark.end() : after.start() if after else len(text)].strip()
        if mark["h"] == mark["w"]:
            found[int(mark["h"])] = reason.removesuffix(";")
    return found


def _refused(reason: str) -> Outcome:
    """A size suggest skipped: its warning carries the message only (no exception type)."""
    return Outcome("refused", message=one_line(reason))


# --- sweep -------------------------------------------------------------------------------------


def run_sweep_lines(models: list[str], jobs: int, out: Path) -> dict[tuple[str, int], Outcome]:
    """``run_sweep`` over every model at every size into ``out`` (it resumes); one Outcome each."""
    from archcalc import errors
    from archcalc.sweep.jsonl import read_jsonl
    from archcalc.sweep.run import run_sweep

    names = {c.__name__ for c in vars(errors).values() if _is_archcalc_error(c, errors)}
    run_sweep(models, SIZES, out=out, jobs=jobs)
    lines = read_jsonl(out).records
    got: dict[tuple[str, int], Outcome] = {}
    for line in lines:
        side = line["input"]["height"]
        if line.get("status") == "ok":
            got[line["model"], side] = ok(line["global_stride"], line["final_map"], line["macs"])
            continue
        err = line.get("error") or {}
        kind = "refused" if err.get("type") in names else "crashed"
        message = str(err.get("reason", ""))
        got[line["model"], side] = Outcome(kind, error_type=err.get("type"), message=message)
    return got


def _is_archcalc_error(obj: Any, errors: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, errors.ArchcalcError)


# --- models, table, CSV ------------------------------------------------------------------------


def pick_models(args: argparse.Namespace) -> dict[str, str]:
    """model -> family: the seeded sample plus the curated families (or ``--models``/quick)."""
    import timm

    if args.models:
        return dict.fromkeys(args.models.split(","), "given")
    if args.quick:
        return dict.fromkeys(QUICK, "quick")
    curated = {m: fam for fam, names in FAMILIES.items() for m in names}
    pool = sorted((published_archs() or set(timm.list_models())) - set(curated))
    sample = random.Random(args.seed).sample(pool, args.sample)
    return {**curated, **dict.fromkeys(sample, "sample")}


def published_archs() -> set[str]:
    """Archs of ``timm_published.csv`` with at most ``SAMPLE_MAX_MPARAMS`` M params (or none)."""
    for folder in REFERENCES:
        path = folder / "timm_published.csv"
        if path.exists():
            with open(path, newline="") as f:
                rows = csv.DictReader(f)
                return {r["arch"] for r in rows if float(r["param_count_m"]) <= SAMPLE_MAX_MPARAMS}
    print("reference table timm_published.csv absent: sampling every timm arch")
    return set()


def rows_of(
    families: dict[str, str],
    local: dict[str, dict[int, dict[str, Outcome]]],
    sweep: dict[tuple[str, int], Outcome],
) -> list[dict[str, Any]]:
    """One row per (model, size): the profile outcome and each entry point's verdict."""
    rows = []
    for model, family in families.items():
        for side in SIZES:
            got = dict(local[model][side])
            got["sweep"] = sweep.get((model, side), Outcome("missing", message="no sweep line"))
            ref = got["profile"]
            verdicts = {ep: agrees(ref, got[ep]) for ep in ENTRY_POINTS}
            rows.append({"model": model, "family": family, "size": side, "got": got, **verdicts})
    return rows


def cell(row: dict[str, Any], ep: str, width: int) -> str:
    verdict = row[ep]
    if verdict is None:
        return "-"
    return "=" if verdict else _clip(row["got"][ep].text(), width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def print_table(rows: list[dict[str, Any]], width: int) -> None:
    from tabulate import tabulate

    table = [
        [r["model"], r["size"], _clip(r["got"]["profile"].text(), width)]
        + [cell(r, ep, width) for ep in ENTRY_POINTS]
        for r in rows
    ]
    print(tabulate(table, headers=["model", "size", "profile", *ENTRY_POINTS]))


def print_counts(rows: list[dict[str, Any]]) -> None:
    """Per family: pairs, profile outcomes, bench rows not run and pairs that disagree."""
    from tabulate import tabulate

    counts: dict[str, Counter[str]] = {}
    for r in rows:
        c = counts.setdefault(r["family"], Counter())
        c["models"] += r["size"] == SIZES[0]
        c["pairs"] += 1
        c[r["got"]["profile"].kind] += 1
        c["bench not run"] += r["bench"] is None
        c["disagreements"] += any(r[ep] is False for ep in ENTRY_POINTS)
    keys = ["models", "pairs", "ok", "refused", "crashed", "bench not run", "disagreements"]
    table = [[fam, *(c[k] for k in keys)] for fam, c in counts.items()]
    print(tabulate(table, headers=["family", *keys]))


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["model", "family", "size", "profile"]
    for ep in ENTRY_POINTS:
        fields += [ep, f"{ep}_agrees"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            line = {k: r[k] for k in ("model", "family", "size")}
            line["profile"] = r["got"]["profile"].text()
            for ep in ENTRY_POINTS:
                line[ep] = r["got"][ep].text()
                line[f"{ep}_agrees"] = {None: "not run", True: "yes", False: "no"}[r[ep]]
            w.writerow(line)


def run_local(
    models: list[str], workers: int, max_gmacs: float, state: Path, deadline: float
) -> dict[str, Any]:
    """profile/bench/suggest per model in ``workers`` spawned processes, each model's outcomes
    appended to ``state`` (a rerun with the same ``--work`` skips them); no model starts after
    ``deadline`` (``time.monotonic``). A progress line per model gives bench's and suggest's
    verdicts per size (``=``, ``!`` disagrees, ``-`` not run)."""
    local = read_state(state)
    todo = [m for m in models if m not in local]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(in_process, m, max_gmacs, deadline) for m in todo]
        for i, future in enumerate(as_completed(futures), 1):
            result = future.result()
            if result is None:
                continue  # started after the time box
            local[result["model"]] = found = result["outcomes"]
            with open(state, "a") as f:
                f.write(json.dumps(_state_line(result)) + "\n")
            marks = " ".join(
                f"{side}:"
                + "".join(_mark(agrees(o["profile"], o[ep])) for ep in ("bench", "suggest"))
                for side, o in found.items()
            )
            took = f"{result['seconds']:.0f} s"
            print(f"  [{i}/{len(todo)}] {result['model']} {took}  {marks}", flush=True)
    return local


def _state_line(result: dict[str, Any]) -> dict[str, Any]:
    outcomes = {
        str(side): {ep: asdict(o) for ep, o in eps.items()}
        for side, eps in result["outcomes"].items()
    }
    return {"model": result["model"], "seconds": result["seconds"], "outcomes": outcomes}


def read_state(state: Path) -> dict[str, dict[int, dict[str, Outcome]]]:
    """The outcomes a previous run with the same ``--work`` folder recorded, by model."""
    local: dict[str, dict[int, dict[str, Outcome]]] = {}
    if not state.exists():
        return local
    for text in state.read_text().splitlines():
        line = json.loads(text)
        local[line["model"]] = {
            int(side): {ep: _outcome(o) for ep, o in eps.items()}
            for side, eps in line["outcomes"].items()
        }
    return local


def _outcome(fields: dict[str, Any]) -> Outcome:
    pair = lambda v: None if v is None else (int(v[0]), int(v[1]))  # noqa: E731
    return Outcome(**{**fields, "stride": pair(fields["stride"]), "k": pair(fields["k"])})


def _mark(verdict: bool | None) -> str:
    return {None: "-", True: "=", False: "!"}[verdict]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--models", help="comma-separated timm names instead of the sample")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--sample", type=int, default=SAMPLE, help="seeded sample size")
    parser.add_argument("--workers", type=int, default=2, help="processes (and sweep jobs)")
    parser.add_argument("--bench-max-gmacs", type=float, default=BENCH_MAX_GMACS)
    parser.add_argument("--width", type=int, default=60, help="table cell width")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--work", type=Path, help="folder for resumable state (default: new)")
    parser.add_argument("--time-box", type=float, help="minutes after which no model starts")
    args = parser.parse_args(argv)

    import archcalc

    start = time.perf_counter()
    families = pick_models(args)
    models = list(families)
    print(f"archcalc from {Path(archcalc.__file__).parent}")
    print(
        f"{len(models)} models ({Counter(families.values())}), seed {args.seed}, "
        f"sizes {SIZES}; bench at <= {args.bench_max_gmacs:g} GMACs and "
        f"<= {BENCH_MAX_MPARAMS:g} M params, threads=1, "
        f"min_run_time={BENCH_MIN_RUN_TIME_S:g} s; {args.workers} workers, pid {os.getpid()}",
        flush=True,
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="entry_points_agree-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder (resume with --work): {work}", flush=True)
    deadline = float("inf") if args.time_box is None else time.monotonic() + 60 * args.time_box
    with ThreadPoolExecutor(1) as beside:  # the sweep's own workers run beside the pool's
        sweep_done = beside.submit(run_sweep_lines, models, args.workers, work / "sweep.jsonl")
        local = run_local(
            models, args.workers, args.bench_max_gmacs, work / "local.jsonl", deadline
        )
        print(f"profile + bench + suggest: done at {time.perf_counter() - start:.0f} s")
        sweep = sweep_done.result()
        print(f"sweep: {len(sweep)} lines, done at {time.perf_counter() - start:.0f} s")
    reached = {m: f for m, f in families.items() if m in local}
    if len(reached) < len(families):
        missed = ", ".join(m for m in families if m not in local)
        print(f"TIME BOX: {len(reached)} of {len(families)} models reached; not run: {missed}")

    rows = rows_of(reached, local, sweep)
    print()
    print_table(rows, args.width)
    print()
    print_counts(rows)
    write_csv(rows, args.out)
    compared = Counter(ep for r in rows for ep in ENTRY_POINTS if r[ep] is not None)
    bad = sum(any(r[ep] is False for ep in ENTRY_POINTS) for r in rows)
    print(f"\ncomparisons with profile: {dict(compared)}; CSV: {args.out}")
    print(f"wall time {time.perf_counter() - start:.0f} s")
    print(f"{len(rows)} pairs, {bad} disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
