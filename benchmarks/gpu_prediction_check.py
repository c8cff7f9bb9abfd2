"""Does a calibration at large batches predict small batches and unseen models on a real GPU,
and does the simulated fp16 autocast match the real one (issue 26, step 4)?

On any CUDA GPU:

1. time 30 models at batch 1, 8, 64 and 256 at 224x224 in eager fp16 autocast, the way timm's
   ``benchmark.py`` does (``eval()``, ``no_grad``, 10 warm-up steps, then 40 steps each timed
   between two ``cuda.synchronize()``; samples/s = batch / mean step time);
2. calibrate on the batch-256 rows of 20 of them (``CALIBRATE``), as ``archcalc calibrate``
   does (starting from the shipped target of its deployment);
3. predict the other 10 (``HELD_OUT``) at every batch, and the batches below 256 of all 30;
   report median/P90 |predicted / measured - 1| per group and per batch, beside the shipped
   prior's own predictions without refit;
4. record the dtype every aten op really runs at under ``torch.autocast`` (a
   ``TorchDispatchMode``) and compare it, op by op, with the simulated autocast of the meta
   trace (``archcalc.core.ops._Autocast``): which ops disagree, and the casts counted.

Run: ``python benchmarks/gpu_prediction_check.py`` (about 5 minutes on an RTX-class GPU);
writes benchmarks/results/gpu_prediction_check.txt. Without CUDA it says so and exits 2.
Everything but the timer and the device is tested on CPU (tests/test_gpu_prediction_check.py).
"""

from __future__ import annotations

import datetime
import difflib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from archcalc.core import ops as ops_module
from archcalc.core.ops import classify
from archcalc.timing.predict.calibrate import calibrate, errors
from archcalc.timing.predict.features import op_features, trace_features
from archcalc.timing.predict.model import DeviceProfile, predict_features
from archcalc.timing.predict.tables import Measured
from archcalc.timing.predict.targets import calibration_prior

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_prediction_check.txt"
SIZE = 224
BATCHES = (1, 8, 64, 256)
CALIBRATION_BATCH = 256
#: Calibrated on at batch 256: plain and depthwise convs, ViT, Swin, ConvNeXt, MLP-Mixer, LeViT.
CALIBRATE = (
    "resnet18", "resnet50", "resnet26d", "mobilenetv3_large_100", "mobilenetv2_100",
    "efficientnet_b0", "efficientnet_lite0", "convnext_tiny", "convnext_nano",
    "vit_small_patch16_224", "deit_tiny_patch16_224", "swin_tiny_patch4_window7_224",
    "regnety_016", "regnetx_008", "densenet121", "ghostnet_100", "levit_128s", "mixer_s16_224",
    "resnext26ts", "vgg11",
)  # fmt: skip
#: Never calibrated on: predicted at every batch.
HELD_OUT = (
    "resnet34", "efficientnet_b1", "convnextv2_nano", "vit_tiny_patch16_224",
    "deit_small_patch16_224", "mobilevitv2_100", "regnety_008", "edgenext_small",
    "poolformer_s12", "dla34",
)  # fmt: skip

#: ``timer(model, batch, size) -> samples/s``: the one thing that needs the GPU.
Timer = Callable[[str, int, int], float]


def cuda_timer(warmup: int = 10, steps: int = 40) -> Timer:
    """timm ``benchmark.py``'s inference timing: fp16 autocast, ``no_grad``, ``warmup`` steps,
    then ``steps`` steps each timed between two synchronizes; samples/s from the mean step."""
    import timm

    def timer(model: str, batch: int, size: int) -> float:
        net = timm.create_model(model, pretrained=False).cuda().eval()
        x = torch.randn(batch, 3, size, size, device="cuda")
        total = 0.0
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
            for i in range(warmup + steps):
                torch.cuda.synchronize()
                start = time.perf_counter()
                net(x)
                torch.cuda.synchronize()
                if i >= warmup:
                    total += time.perf_counter() - start
        del net, x
        torch.cuda.empty_cache()
        return batch / (total / steps)

    return timer


def measure(
    models: Sequence[str], timer: Timer, batches: Sequence[int] = BATCHES
) -> list[Measured]:
    """One row per (model, batch) at ``SIZE``; a row that fails (out of memory) has no
    throughput."""
    rows = []
    for model in models:
        for batch in batches:
            try:
                sps: float | None = timer(model, batch, SIZE)
            except torch.cuda.OutOfMemoryError:
                sps = None
            raw = {"model": model, "infer_img_size": str(SIZE), "infer_batch_size": str(batch)}
            rows.append(
                Measured(model, SIZE, batch, sps, {**raw, "infer_samples_per_sec": str(sps)})
            )
    return rows


@dataclass(frozen=True)
class Checked:
    """One measured row against its prediction by the calibrated target and by the prior the
    calibration started from (samples/s)."""

    model: str
    batch_size: int
    measured: float
    predicted: float
    prior: float
    held_out: bool


def check(
    rows: Sequence[Measured], calibrate_on: Sequence[str], *, prior: DeviceProfile | None = None
) -> tuple[DeviceProfile, list[Checked]]:
    """Calibrate on the batch-``CALIBRATION_BATCH`` rows of ``calibrate_on``; predict every other
    row with a throughput (held-out models at every batch, calibration models below it)."""
    start = prior or calibration_prior("gpu", "float16")
    fit_rows = [r for r in rows if r.model in calibrate_on and r.batch_size == CALIBRATION_BATCH]
    target, _ = calibrate("gpu-check", fit_rows, kind="gpu", dtype="float16", prior=start)
    checked = []
    for r in rows:
        if r.samples_per_sec is None or r in fit_rows:
            continue
        features = op_features(r.model, r.size, dtype="float16")
        checked.append(
            Checked(
                r.model,
                r.batch_size,
                r.samples_per_sec,
                predict_features(target, features, r.batch_size).samples_per_sec,
                predict_features(start, features, r.batch_size).samples_per_sec,
                r.model not in calibrate_on,
            )
        )
    return target, checked


def summarize(
    checked: Sequence[Checked],
) -> list[tuple[str, int, dict[str, float], dict[str, float]]]:
    """``(group, rows, calibrated errors, prior errors)`` for the held-out models at every
    batch, and every model at each batch below ``CALIBRATION_BATCH``."""
    groups: list[tuple[str, list[Checked]]] = [
        ("held-out models, every batch", [c for c in checked if c.held_out]),
    ]
    for batch in BATCHES:
        if batch < CALIBRATION_BATCH:
            groups.append(
                (f"all models, batch {batch}", [c for c in checked if c.batch_size == batch])
            )
    out = []
    for label, group in groups:
        if not group:
            continue
        meas = np.array([c.measured for c in group])
        calibrated = errors(np.array([c.predicted for c in group]), meas)
        prior = errors(np.array([c.prior for c in group]), meas)
        out.append((label, len(group), calibrated, prior))
    return out


# --- dtypes under autocast: real (dispatch mode) against simulated (meta trace) -------------


def _key(name: str, cls: str) -> str:
    """What aligns a real op with a simulated one: the class for ops whose aten name differs
    by backend (``cudnn_convolution``, ``cudnn_batch_norm``, ``_scaled_dot_product_flash_...``
    against the meta trace's names), else the aten name."""
    return cls if cls in ("conv", "depthwise_conv", "batch_norm", "norm", "attention") else name


class _RealDtypes(TorchDispatchMode):
    """Every kernel op run under it: (key, whether its first floating output is 16-bit)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, bool]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        cls = classify(func, args)
        outs = [t for t in ops_module._tensors((out,)) if t.is_floating_point()]
        if cls is not None and outs:
            half = outs[0].dtype in (torch.float16, torch.bfloat16)
            self.ops.append((_key(func._overloadpacket.__name__, cls), half))
        return out


def real_dtypes(
    model: torch.nn.Module, x: torch.Tensor, dtype: torch.dtype
) -> list[tuple[str, bool]]:
    """Run ``model(x)`` under ``torch.autocast`` on ``x``'s device at ``dtype``; per kernel op
    its key and whether it wrote 16-bit floats (casts included, as ``_to_copy``)."""
    mode = _RealDtypes()
    with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype), mode:
        model(x)
    return mode.ops


@contextmanager
def _simulated_outputs() -> Iterator[list[tuple[str, bool]]]:
    """Observe ``_Autocast.run``: per simulated op (casts included), its key and whether the
    simulation makes its output fp16 (read from the autocast state, not recomputed)."""
    seen: list[tuple[str, bool]] = []
    original = ops_module._Autocast.run

    def run(self: Any, op: Any, reads: Any, outputs: Any) -> Any:
        kernels = original(self, op, reads, outputs)
        floating = [t for t in outputs if t.is_floating_point()]
        seen.extend([("_to_copy", True)] * (len(kernels) - 1))  # the casts autocast inserts
        if floating:
            seen.append((_key(op.op, op.cls), floating[0].untyped_storage() in self.half))
        return kernels

    ops_module._Autocast.run = run  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        ops_module._Autocast.run = original  # type: ignore[method-assign]


def simulated_dtypes(model: str | torch.nn.Module, size: int = SIZE) -> list[tuple[str, bool]]:
    """The simulated fp16 autocast of the meta trace of ``model``: per op, its key and whether
    its output is fp16."""
    with _simulated_outputs() as seen:
        trace_features(model, size, dtype="float16")
    return seen


@dataclass(frozen=True)
class DtypeComparison:
    """Real against simulated autocast dtypes, op by op (casts counted apart)."""

    matched: int
    agree: int
    unmatched_real: int
    unmatched_simulated: int
    real_casts: int
    simulated_casts: int
    disagreements: Counter[str]


def compare_dtypes(
    real: Sequence[tuple[str, bool]], simulated: Sequence[tuple[str, bool]]
) -> DtypeComparison:
    """Align the two op sequences by key (casts left out: counted apart) and compare whether
    each matched op writes 16-bit floats; ``disagreements`` counts ``key: real X, simulated Y``."""
    real_ops = [o for o in real if o[0] != "_to_copy"]
    sim_ops = [o for o in simulated if o[0] != "_to_copy"]
    matcher = difflib.SequenceMatcher(
        a=[k for k, _ in real_ops], b=[k for k, _ in sim_ops], autojunk=False
    )
    matched = agree = 0
    wrong: Counter[str] = Counter()
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            (key, r), (_, s) = real_ops[block.a + i], sim_ops[block.b + i]
            matched += 1
            if r == s:
                agree += 1
            else:
                half = {True: "16-bit", False: "fp32"}
                wrong[f"{key}: real {half[r]}, simulated {half[s]}"] += 1
    return DtypeComparison(
        matched=matched,
        agree=agree,
        unmatched_real=len(real_ops) - matched,
        unmatched_simulated=len(sim_ops) - matched,
        real_casts=len(real) - len(real_ops),
        simulated_casts=len(simulated) - len(sim_ops),
        disagreements=wrong,
    )


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_prediction_check: no CUDA device is visible; run it on a GPU", file=sys.stderr)
        return 2
    import timm

    lines: list[str] = []

    def out(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out(
        f"# gpu_prediction_check.py, {stamp}, {torch.cuda.get_device_name()}, "
        f"torch {torch.__version__}"
    )
    rows = measure([*CALIBRATE, *HELD_OUT], cuda_timer())
    _, checked = check(rows, CALIBRATE)
    out(
        f"\n## predicted / measured throughput (calibrated on {len(CALIBRATE)} models at "
        f"batch {CALIBRATION_BATCH})"
    )
    out(
        f"{'group':<32} {'rows':>4} {'median %':>9} {'P90 %':>7}   "
        "prior without refit: median / P90 %"
    )
    for label, n, cal, pri in summarize(checked):
        out(
            f"{label:<32} {n:>4} {cal['median_pct']:>9.1f} {cal['p90_pct']:>7.1f}   "
            f"{pri['median_pct']:.1f} / {pri['p90_pct']:.1f}"
        )
    out("\nmodel                           batch   measured/s  predicted/s  ratio")
    for c in checked:
        out(
            f"{c.model:<32}{c.batch_size:>5} {c.measured:>12.1f} {c.predicted:>12.1f}  "
            f"{c.predicted / c.measured:.2f}"
        )
    out(f"\n## autocast dtypes, real (CUDA fp16, dispatch mode) against simulated, batch 1, {SIZE}")
    total: Counter[str] = Counter()
    agree = matched = 0
    for model in (*CALIBRATE, *HELD_OUT):
        net = timm.create_model(model, pretrained=False).cuda().eval()
        real = real_dtypes(net, torch.randn(1, 3, SIZE, SIZE, device="cuda"), torch.float16)
        cmp = compare_dtypes(real, simulated_dtypes(model))
        total += cmp.disagreements
        agree, matched = agree + cmp.agree, matched + cmp.matched
        out(
            f"{model:<32} ops matched {cmp.matched:>4} agree {cmp.agree:>4}  unmatched real "
            f"{cmp.unmatched_real:>3} simulated {cmp.unmatched_simulated:>3}  casts real "
            f"{cmp.real_casts:>3} simulated {cmp.simulated_casts:>3}"
        )
    out(
        f"all: {agree} of {matched} matched ops agree ({agree / max(matched, 1):.1%}); "
        "disagreements:"
    )
    for what, n in total.most_common():
        out(f"  {n:>5}  {what}")
    RESULTS.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
