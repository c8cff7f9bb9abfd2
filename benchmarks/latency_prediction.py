"""How well archcalc predicts throughput on devices it does not run on (issues 19 and 26).

(a) leave one family out on each timm GPU table (and the CPU table), with three log-linear
    baselines (GMACs, activations, both) on the same folds; (b) calibrate on 30 seeded rows,
    predict the rest; (c) calibrate without each multi-size model's largest size, predict it;
    (d) this machine's CPU: ``calibrate --device cpu``, then ``bench`` batch 1 of >= 25 other
    models; (e) the families that miss most; (f) speed: prediction vs profile(), and the time
    of ``calibrate --from`` on a full table; (g) ``--transfer``: a CPU you don't have from 30
    rows (the i7 from this machine's CPU, this machine's CPU from the i7; this machine's table
    is written by cpu_table.py). (b) and (g) also give the mean over ``DRAWS`` other draws of
    30 rows, so that a figure does not rest on one draw. Also writes the shipped targets
    (archcalc/data/targets/*.json) with their deployment, their leave-one-family-out error and
    the batch and input sizes it was measured at.

Run: ``nice -n 10 python benchmarks/latency_prediction.py`` (needs archcalc/data/
op_features.npz from build_op_features.py; ``--lofo NAME...`` reruns (a) only for those
tables; ``--few-rows`` runs only (b), ``--transfer`` only (g), ``--cpu`` only (d), each into
its own results file). Writes benchmarks/results/latency_prediction.txt.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from archcalc.core.ops import FEATURE_CLASSES
from archcalc.timing.predict.api import predict
from archcalc.timing.predict.calibrate import (
    CPU_MODELS,
    calibrate,
    calibrate_cpu,
    errors,
    measured_range,
    usable,
)
from archcalc.timing.predict.features import made_with, op_features, trace_features
from archcalc.timing.predict.fit import (
    Design,
    calibration_fit,
    design,
    fit,
    predicted_log_sps,
)
from archcalc.timing.predict.model import Deployment, op_seconds, predict_features
from archcalc.timing.predict.tables import deployment_of, read_table
from archcalc.timing.predict.targets import load_target, prior_for, save_target

ROOT = Path(__file__).resolve().parents[1]
#: timm's published tables (``ARCHCALC_TIMM_TABLES`` overrides, e.g. from a git worktree).
TABLES = Path(
    os.environ.get("ARCHCALC_TIMM_TABLES", ROOT.parent / "shared" / "reference" / "timm_benchmarks")
)
RESULTS = ROOT / "benchmarks" / "results" / "latency_prediction.txt"
CPU_RESULTS = RESULTS.with_name("latency_prediction_cpu.txt")
#: This machine's CPU at batch 1, about 100 models of the i7 table (cpu_table.py), for (g).
CPU_TABLE = RESULTS.with_name("cpu_table.csv")
#: (b) and (g): the seeds of the further draws of 30 rows whose mean error is reported.
DRAWS = range(100, 110)
TRANSFER_RESULTS = RESULTS.with_name("latency_prediction_transfer.txt")
FEW_ROWS_RESULTS = RESULTS.with_name("latency_prediction_few_rows.txt")
SHIPPED = ROOT / "archcalc" / "data" / "targets"
#: Where the tables come from: their path in timm's repository.
REPOSITORY = "huggingface/pytorch-image-models"
#: target name -> (table file, kind, dtype, description)
DEVICES = {
    "rtx4090": ("benchmark-infer-amp-nchw-pt291-cu128-4090.csv", "gpu", "float16", "RTX 4090"),
    "rtx5090": ("benchmark-infer-amp-nchw-pt291-cu130-5090.csv", "gpu", "float16", "RTX 5090"),
    "rtx3090": ("benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv", "gpu", "float16", "RTX 3090"),
    "i7-12700h": (
        "benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv",
        "cpu",
        "float32",
        "Core i7-12700H",
    ),
    "rtx5090-compiled": (
        "benchmark-infer-amp-nchw-pt291-cu130-5090-dynamo.csv",
        "gpu",
        "float16",
        "RTX 5090, torch.compile",
    ),
    "rtx3090-nhwc": (
        "benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv",
        "gpu",
        "float16",
        "RTX 3090, channels-last",
    ),
}


def reparameterized(file: str) -> bool:
    """timm's PyTorch 2.9.1 tables timed RepVGG, MobileOne, FastViT... in their deploy form
    (reparameterized), the 2.4.0 ones as built."""
    return "pt291" in file


#: Where each table's cross-validation folds start: another device's full fit (never the
#: table's own, which has seen the held-out family).
WARM_FROM = {
    "rtx4090": "rtx5090",
    "rtx5090": "rtx4090",
    "rtx3090": "rtx4090",
    "rtx5090-compiled": "rtx4090",
    "rtx3090-nhwc": "rtx4090",
}
#: (d): models timed on this CPU that calibration did not use: conv, depthwise, ViT, Swin,
#: ConvNeXt and more.
CPU_CHECK = (
    "resnet34", "resnet50", "resnet26d", "regnety_004", "regnetx_004", "vgg11",
    "mobilenetv2_100", "mobilenetv3_large_100", "efficientnet_lite0", "mnasnet_100",
    "efficientnet_b1", "ghostnetv2_100", "convnext_femto", "convnext_pico", "convnextv2_atto",
    "vit_tiny_patch16_224", "vit_small_patch16_224", "deit_small_patch16_224",
    "swin_tiny_patch4_window7_224", "swinv2_cr_tiny_ns_224", "levit_192", "mobilevitv2_050",
    "edgenext_xx_small", "poolformerv2_s12", "dla34", "hrnet_w18_small", "tf_mobilenetv3_small_100",
    "lcnet_050",
)  # fmt: skip


def family(model: str) -> str:
    """The letters of the first ``_``-separated token (resnet, convnext, vit, efficientformerv)."""
    return re.sub(r"[^a-z]", "", model.split("_")[0].lower())


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's on pandas' average ranks (pandas' own
    method="spearman" needs scipy, which archcalc does not depend on)."""
    return float(pd.Series(a).rank().corr(pd.Series(b).rank()))


def summary(pred: np.ndarray, meas: np.ndarray) -> dict[str, float]:
    """Median/P90 |error| % and Spearman of predicted vs measured throughput (rows with a
    prediction)."""
    keep = np.isfinite(pred)
    pred, meas = pred[keep], meas[keep]
    return {**errors(pred, meas), "spearman": spearman(pred, meas), "rows": int(keep.sum())}


def baselines(table: pd.DataFrame, folds: np.ndarray) -> dict[str, np.ndarray]:
    """Leave-one-family-out predictions of log-linear fits on GMACs, activations, both (NaN on
    rows whose table has no GMACs/activations cell: left out of the baselines' figures)."""
    y = np.log(table["infer_samples_per_sec"].to_numpy())
    g = np.log(table["infer_gmacs"].clip(lower=1e-3).to_numpy())
    a = np.log(table["infer_macts"].clip(lower=1e-3).to_numpy())
    valid = np.isfinite(g) & np.isfinite(a)
    one = np.ones_like(y)
    designs = {"GMACs": [one, g], "activations": [one, a], "GMACs+activations": [one, g, a]}
    out = {}
    for name, cols in designs.items():
        x = np.stack(cols, axis=1)
        pred = np.full_like(y, np.nan)
        for fam in np.unique(folds):
            test = (folds == fam) & valid
            coef, *_ = np.linalg.lstsq(x[~test & valid], y[~test & valid], rcond=None)
            pred[test] = x[test] @ coef
        out[name] = np.exp(pred)
    return out


def predicted(d, theta: np.ndarray, scale: float) -> np.ndarray:
    """Samples/s of every row of ``d``."""
    with torch.no_grad():
        return predicted_log_sps(d, torch.from_numpy(theta), scale).exp().numpy()


def load(name: str):
    """A table's usable rows, their design, and the frame of the same rows."""
    file = DEVICES[name][0]
    rows, _ = read_table(TABLES / file, need_throughput=True)
    dtype = DEVICES[name][2]
    use = usable(rows, dtype=dtype, reparameterize=reparameterized(file), trace=False)
    frame = pd.DataFrame([r.raw for r in use.rows])
    for col in ("infer_samples_per_sec", "infer_gmacs", "infer_macts"):
        frame[col] = pd.to_numeric(frame[col])
    return rows, use, design(use.samples()), frame


def out(lines: list[str], text: str = "") -> None:
    """Print and keep a results line."""
    print(text, flush=True)
    lines.append(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="only (d), this machine's CPU (results in latency_prediction_cpu.txt)",
    )
    parser.add_argument(
        "--transfer",
        action="store_true",
        help="only (g), the CPU transfer (results in latency_prediction_transfer.txt)",
    )
    parser.add_argument(
        "--few-rows",
        action="store_true",
        help="only (b), the 30-row calibrations (results in latency_prediction_few_rows.txt)",
    )
    parser.add_argument("--tables", nargs="*", default=list(DEVICES), help="targets to check")
    parser.add_argument(
        "--lofo",
        nargs="*",
        default=None,
        help="tables whose (a) folds run and whose shipped target is rewritten (default: every "
        "table); the others are only read (their error: their shipped target's; 185 folds take "
        "15-20 minutes a table on a busy machine)",
    )
    args = parser.parse_args()
    rerun = set(args.tables if args.lofo is None else args.lofo)
    lines: list[str] = []
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out(lines, f"# latency_prediction.py, {stamp}, torch {torch.__version__}")
    if args.cpu:
        cpu_check(lines)
        CPU_RESULTS.write_text("\n".join(lines) + "\n")
        return
    if args.transfer:
        _rows, _use, d, _frame = load("i7-12700h")
        cpu_transfer(lines, d, fit(d, prior_for("cpu", "float32")))
        TRANSFER_RESULTS.write_text("\n".join(lines) + "\n")
        return
    full: dict[str, np.ndarray] = {}
    loaded = {}
    for name in args.tables:
        rows, use, d, frame = load(name)
        kind, dtype = DEVICES[name][1:3]
        start = time.perf_counter()
        full[name] = fit(d, prior_for(kind, dtype))
        loaded[name] = (rows, use, d, frame, time.perf_counter() - start)
    if args.few_rows:
        few_row_calibration(lines, loaded, full)
        FEW_ROWS_RESULTS.write_text("\n".join(lines) + "\n")
        return

    out(
        lines,
        "\n## (a) leave one family out (goal on 4090/5090: median <= 10 %, P90 <= 30 %, "
        "Spearman >= 0.98)",
    )
    out(
        lines,
        f"{'table':<16} {'predictor':<18} {'rows':>5} {'fams':>5} {'median %':>9} "
        f"{'P90 %':>7} {'Spearman':>9}",
    )
    lofo: dict[str, dict[str, float]] = {}
    fam_err: dict[str, pd.DataFrame] = {}
    for name, (_rows, _use, d, frame, _) in loaded.items():
        kind, dtype = DEVICES[name][1:3]
        prior = prior_for(kind, dtype)
        folds = np.array([family(m) for m in frame["model"]])
        if name not in rerun:
            kept = load_target(name).error
            lofo[name] = {k: kept[k] for k in ("median_pct", "p90_pct", "spearman", "rows")}
            out(
                lines,
                f"{name:<16} {'archcalc per-op mo':<18} {kept['rows']:>5} "
                f"{len(np.unique(folds)):>5} {kept['median_pct']:>9.1f} {kept['p90_pct']:>7.1f} "
                f"{kept['spearman']:>9.3f}  (kept from the shipped target: not rerun)",
            )
            continue
        warm = full.get(WARM_FROM.get(name, ""))
        pred = np.empty(d.rows)
        for fam in np.unique(folds):
            test = folds == fam
            theta = fit(
                d, prior, mask=~test, start=warm, iterations=60 if warm is not None else 100
            )
            pred[test] = predicted(d, theta, prior.bytes_scale)[test]
        meas = frame["infer_samples_per_sec"].to_numpy()
        lofo[name] = summary(pred, meas)
        results = {"archcalc per-op model": pred, **baselines(frame, folds)}
        for label, p in results.items():
            s = summary(p, meas)
            out(
                lines,
                f"{name:<16} {label:<18.18} {s['rows']:>5} {len(np.unique(folds)):>5} "
                f"{s['median_pct']:>9.1f} {s['p90_pct']:>7.1f} {s['spearman']:>9.3f}",
            )
        frame = frame.assign(ratio=pred / meas, family=folds)
        fam_err[name] = frame
    out(
        lines,
        "rows without features (not traced yet, or not buildable on this timm), skipped: "
        + ", ".join(f"{n}: {len(v[0]) - len(v[1].rows)}" for n, v in loaded.items()),
    )

    save_shipped_targets({n: v for n, v in loaded.items() if n in rerun}, full, lofo)

    few_row_calibration(lines, loaded, full)

    out(
        lines,
        "\n## (c) across sizes: calibrate without each multi-size model's largest size, "
        "predict it (goal: median <= 12 %)",
    )
    for name, (_rows, _use, d, frame, _) in loaded.items():
        kind, dtype = DEVICES[name][1:3]
        sizes = frame.groupby("model")["infer_img_size"].transform(
            lambda s: pd.to_numeric(s).max() if s.nunique() > 1 else -1
        )
        test = (pd.to_numeric(frame["infer_img_size"]) == sizes).to_numpy()
        prior = prior_for(kind, dtype)
        theta = fit(d, prior, mask=~test)
        p = predicted(d, theta, prior.bytes_scale)[test]
        s = summary(p, frame["infer_samples_per_sec"].to_numpy()[test])
        out(
            lines,
            f"{name:<16} largest sizes predicted {int(test.sum()):>4}  median "
            f"{s['median_pct']:.1f} %  P90 {s['p90_pct']:.1f} %",
        )

    shown = "rtx4090" if "rtx4090" in fam_err else next(iter(fam_err))
    out(
        lines,
        f"\n## (e) families that miss most (leave-one-family-out, {shown}; ratio = "
        "predicted / measured throughput, median over the family's rows)",
    )
    frame = fam_err[shown]
    worst = frame.groupby("family")["ratio"].median()
    worst = worst.iloc[np.argsort(-np.abs(np.log(worst.to_numpy())))][:10]
    target = replace_target(shown, full)
    for fam, ratio in worst.items():
        row = frame[frame["family"] == fam].iloc[0]
        model, size, batch = row["model"], int(row["infer_img_size"]), int(row["infer_batch_size"])
        fused = reparameterized(DEVICES[shown][0])
        features = op_features(model, size, dtype=target.dtype, reparameterize=fused)
        p = predict_features(target, features, batch)
        feats = features.rows
        columns = (feats[:, 0].astype(int), *feats[:, 1:5].T)
        per_op = op_seconds(target.constants(), *columns, batch, target.bytes_scale).total
        shares = {
            c: per_op[feats[:, 0] == i].sum() / per_op.sum() for i, c in enumerate(FEATURE_CLASSES)
        }
        top = ", ".join(f"{c} {v:.0%}" for c, v in sorted(shares.items(), key=lambda x: -x[1])[:4])
        kernels = int(feats[:, 4].sum())
        out(
            lines,
            f"{fam:<18} x{ratio:.2f}  e.g. {model}@{size} b{batch}: {kernels} kernels; compute "
            f"{p.compute_share:.0%} memory {p.memory_share:.0%} overhead {p.overhead_share:.0%};"
            f" time by class: {top}",
        )

    family_evidence(lines, fam_err, list(worst.index))

    out(lines, "\n## (f) speed")
    ratios = []
    for model in ("resnet50", "convnext_tiny", "vit_base_patch16_224", "efficientnet_b0",
                  "swin_tiny_patch4_window7_224", "regnety_040"):  # fmt: skip
        from archcalc.profiling.prepare import profile

        profile(model, 224)  # warm-up (timm's registry, first-call costs)
        trace_features(model, 224)
        runs: dict[str, list[float]] = {"plain": [], "recorded": []}
        for i in range(7):  # alternate which goes first, so that drift cancels
            order = ("plain", "recorded") if i % 2 == 0 else ("recorded", "plain")
            for which in order:
                t0 = time.process_time()
                (profile if which == "plain" else trace_features)(model, 224)
                runs[which].append(time.process_time() - t0)
        ratios.append(statistics.median(runs["recorded"]) / statistics.median(runs["plain"]))
    out(
        lines,
        f"trace with per-op recording / plain profile() (CPU time, medians of 7 alternated "
        f"runs, 6 models): "
        f"median x{statistics.median(ratios):.3f}, max x{max(ratios):.3f} (goal <= x1.10)",
    )
    for name, (_rows, _use, d, _frame, seconds) in loaded.items():
        out(lines, f"fit of {name} ({d.rows} rows, features shipped): {seconds:.1f} s")
    start = time.perf_counter()
    rows, _ = read_table(TABLES / DEVICES["rtx4090"][0], need_throughput=True)
    calibrate("check", rows, kind="gpu", dtype="float16", reparameterize=True, trace=False)
    out(
        lines,
        f"calibrate --from rtx4090 table ({len(rows)} rows) end to end: "
        f"{time.perf_counter() - start:.1f} s (goal <= 300 s)",
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


def save_shipped_targets(loaded: dict, full: dict, lofo: dict) -> None:
    """Write archcalc/data/targets/*.json: each table's full fit, with its leave-one-family-out
    error (before anything below calibrates: ``calibrate`` starts from a shipped target)."""
    for name, (_rows, use, d, _frame, _) in loaded.items():
        kind, dtype, label = DEVICES[name][1:]
        prior = prior_for(kind, dtype)
        file = DEVICES[name][0]
        deployment = deployment_of(file)
        source = {
            "repository": REPOSITORY,
            "file": f"results/{file}",
            "file_date": "2026-01-06" if "pt291" in file else "timm snapshot aa4b5850c154",
            "reparameterized": reparameterized(file),
            "features": made_with(),
            "rows_used": d.rows,
            "calibrated": datetime.date.today().isoformat(),
        }
        err = {
            **lofo[name],
            "method": "leave-one-family-out",
            **measured_range(use.rows),
        }  # unrounded: prints as the results do
        target = prior.with_vector(
            full[name],
            name=name,
            deployment=Deployment(
                bool(deployment.compiled),
                deployment.layout or "nchw",
                deployment.torch_version or "",
            ),
            source=source,
            error=err,
            description=f"{label}, {dtype}, timm benchmark.py table",
        )
        save_target(target, SHIPPED / f"{name}.json")


def cpu_check(lines: list[str]) -> None:
    """(d): calibrate on this CPU, then predict bench batch-1 latency of models it did not use."""
    threads = torch.get_num_threads()
    out(
        lines,
        f"\n## (d) this machine's CPU, {threads} threads, batch 1, 224, fp32 "
        "(goal: median <= 20 %)",
    )
    t0 = time.perf_counter()
    target, use = calibrate_cpu("this-cpu", seconds=60)
    out(
        lines,
        f"calibrate --device cpu: {time.perf_counter() - t0:.0f} s, "
        f"{len(use.rows)} models timed (goal <= 60 s)",
    )
    from archcalc.timing.bench import bench
    from archcalc.timing.measure import TimingSettings

    pred, meas, names = [], [], []
    for model in CPU_CHECK:
        if model in CPU_MODELS:
            continue
        report = bench(model, [224], [1], settings=TimingSettings(min_run_time_s=0.5))
        timing = report.rows[0].timing
        if timing is None:
            continue
        p = predict(model, 224, target=target, batch_size=1)
        pred.append(p.samples_per_sec)
        meas.append(timing.images_per_s)
        names.append(model)
        out(
            lines,
            f"  {model:<32} measured {1e3 / timing.images_per_s:8.1f} ms  predicted "
            f"{p.latency_ms:8.1f} ms",
        )
    s = summary(np.array(pred), np.array(meas))
    out(
        lines,
        f"{len(names)} models: median {s['median_pct']:.1f} %  P90 {s['p90_pct']:.1f} %"
        f"  Spearman {s['spearman']:.3f} (the machine is shared with other jobs: noisy)",
    )


def family_evidence(
    lines: list[str], fam_err: dict[str, pd.DataFrame], families: list[str]
) -> None:
    """(e) continued: the worst families' leave-one-family-out ratio on every table, and two
    measured ratios relative to the median model's (no prediction involved): RTX 4090 under
    torch 2.9.1 over RTX 3090 under 2.4 (torch-version and GPU-generation sensitivity), and
    torch.compile over eager on the RTX 5090 (how much fusing elementwise work gains)."""
    names = [n for n in fam_err if n != "i7-12700h"]
    out(
        lines,
        "\nsame families, ratio on every GPU table; measured 4090(pt291)/3090(pt240) and "
        "5090 compiled/eager throughput, each relative to the median model's",
    )
    out(lines, f"{'family':<18} " + " ".join(f"{n:>16}" for n in names) + "  4090/3090  compiled")
    speed = {}
    for name in ("rtx4090", "rtx3090", "rtx5090", "rtx5090-compiled"):
        raw = pd.read_csv(TABLES / DEVICES[name][0])
        speed[name] = raw.set_index(["model", "infer_img_size"])["infer_samples_per_sec"]

    def relative(a: str, b: str) -> pd.Series:
        ratio = (speed[a] / speed[b]).dropna()
        ratio = ratio / ratio.median()
        fams = [family(m) for m in ratio.index.get_level_values(0)]
        return ratio.groupby(fams).median()

    torch_gen, compiled = relative("rtx4090", "rtx3090"), relative("rtx5090-compiled", "rtx5090")
    for fam in families:
        ratios = []
        for n in names:
            f = fam_err[n]
            r = f.loc[f["family"] == fam, "ratio"]
            ratios.append(f"x{r.median():.2f}" if len(r) else "-")
        out(
            lines,
            f"{fam:<18} "
            + " ".join(f"{r:>16}" for r in ratios)
            + f"  {torch_gen.get(fam, np.nan):>9.2f}  {compiled.get(fam, np.nan):>8.2f}",
        )


def few_row_calibration(lines: list[str], loaded: dict, full: dict[str, np.ndarray]) -> None:
    """(b): calibrate on 30 seeded rows of each table, as ``calibrate`` does, from another
    device's full fit (the i7 from the generic prior); predict the rest. Beside it, the error of
    the table's own full fit on the same rows: what the cost model reaches with every row."""
    out(
        lines,
        "\n## (b) calibrate on 30 seeded rows, predict the rest (goal: median <= 8 %); the fit "
        "starts from another GPU's full fit, as calibrate starts from a shipped target (never the "
        "table's own), the i7 from the generic prior",
    )
    rng = np.random.default_rng(19)
    for name, (_rows, _use, d, _frame, _) in loaded.items():
        kind, dtype = DEVICES[name][1:3]
        prior, other = prior_for(kind, dtype), WARM_FROM.get(name)
        if other in full:
            prior = prior.with_vector(full[other])
        pick = rng.choice(d.rows, 30, replace=False)
        s = few_rows(d, prior, pick)
        rest = np.setdiff1d(np.arange(d.rows), pick)
        floor = errors(predicted(d, full[name], prior.bytes_scale)[rest], d.log_sps.exp()[rest])
        out(
            lines,
            f"{name:<16} rows predicted {s['rows']:>5}  median {s['median_pct']:.1f} %"
            f"  P90 {s['p90_pct']:.1f} %  Spearman {s['spearman']:.3f}  (prior: "
            f"{other + ' fit' if other in full else 'generic'}; {mean_of_draws(d, prior)}; "
            f"the table's own full fit, every row, on the same rows: median "
            f"{floor['median_pct']:.1f} %)",
        )


def few_rows(d: Design, prior, pick: np.ndarray) -> dict[str, float]:
    """Calibrate on the rows ``pick`` of ``d`` from ``prior`` as ``calibrate`` does
    (``calibration_fit``); the error on the other rows."""
    theta = calibration_fit(d.select(pick), prior)
    rest = np.ones(d.rows, dtype=bool)
    rest[pick] = False
    return summary(predicted(d, theta, prior.bytes_scale)[rest], d.log_sps.exp().numpy()[rest])


def mean_of_draws(d: Design, prior) -> str:
    """The mean median and P90 error of ``few_rows`` over the ``DRAWS`` draws of 30 rows."""
    runs = [
        few_rows(d, prior, np.random.default_rng(s).choice(d.rows, 30, replace=False))
        for s in DRAWS
    ]
    median = np.mean([r["median_pct"] for r in runs])
    p90 = np.mean([r["p90_pct"] for r in runs])
    return f"{len(runs)} other draws: mean median {median:.1f} %, P90 {p90:.1f} %"


def cpu_transfer(lines: list[str], i7: Design, i7_fit: np.ndarray) -> None:
    """(g): a CPU you don't have, from 30 rows. The i7 table calibrated on 30 seeded rows from
    a prior never fitted on it (this machine's CPU, calibrated on its own table from the
    generic prior as ``calibrate`` does), and this machine's table on 30 rows from the i7's
    full fit; each predicts the rest of its table."""
    rows, _ = read_table(CPU_TABLE, need_throughput=True)
    here = design(usable(rows, dtype="float32", trace=False).samples())
    if here.rows < 40:
        out(lines, f"\n## (g) skipped: {CPU_TABLE.name} has {here.rows} rows (30 + at least 10)")
        return
    generic = prior_for("cpu", "float32")
    this_cpu = generic.with_vector(calibration_fit(here, generic))
    measured = CPU_TABLE.with_suffix(".txt")
    how = measured.read_text().splitlines()[0].lstrip("# ") if measured.is_file() else ""
    out(
        lines,
        f"\n## (g) a CPU you don't have, from 30 seeded rows (goal: median <= 10 % on the rest); "
        f"this machine's table: {CPU_TABLE.name}, {here.rows} rows ({how})",
    )
    rng = np.random.default_rng(26)
    picks = {"i7-12700h": rng.choice(i7.rows, 30, replace=False)}
    picks["this CPU"] = rng.choice(here.rows, 30, replace=False)  # the same rows per table
    cases = [
        ("i7-12700h", i7, this_cpu, "this machine's CPU fit"),
        ("i7-12700h", i7, generic, "generic prior"),
        ("this CPU", here, generic.with_vector(i7_fit), "i7-12700h fit"),
        ("this CPU", here, generic, "generic prior"),
    ]
    for name, d, prior, label in cases:
        s = few_rows(d, prior, picks[name])
        out(
            lines,
            f"{name:<16} rows predicted {s['rows']:>5}  median {s['median_pct']:.1f} %"
            f"  P90 {s['p90_pct']:.1f} %  (prior: {label}; {mean_of_draws(d, prior)})",
        )


def replace_target(name: str, full: dict[str, np.ndarray]):
    """The full-table fit of ``name`` as a DeviceProfile (for the (e) explanations)."""
    kind, dtype = DEVICES[name][1:3]
    return prior_for(kind, dtype).with_vector(full[name], name=name)


if __name__ == "__main__":
    sys.exit(main())
