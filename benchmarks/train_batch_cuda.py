"""On a CUDA GPU: the largest training batch ``suggest --gpu-memory`` predicts against real steps.

For each model, size and dtype (float32 and float16 autocast; ``--dtypes`` can add bfloat16),
in one run on one GPU:

* predicted: ``archcalc.recommend.batch.batch_fits`` for this GPU's total memory (the static
  estimate with its margin: 1 GiB reserved, 90% of the rest);
* real: the largest batch for which two full training steps (train mode, forward,
  cross-entropy, backward, Adam step; under ``torch.autocast`` at float16/bfloat16) run without
  out-of-memory, searched by doubling then bisecting (``search_max_batch``) in steps of 1/16
  of the prediction; and, at the predicted batch, the peak ``torch.cuda.max_memory_reserved``
  against the GPU's total.

A predicted batch at or below the real one means the margin held. Needs a GPU; nothing here
runs in the test suite. Writes ``benchmarks/results/train_batch_cuda.csv``.

    python benchmarks/train_batch_cuda.py [--models resnet18:448 resnet50:224]
        [--dtypes float32 float16 bfloat16]
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
from pathlib import Path

import timm
import torch

import archcalc
from archcalc.checks import DTYPES
from archcalc.recommend.batch import batch_fits
from archcalc.timing.stats import search_max_batch

MODELS = ("resnet18:448", "resnet50:224", "mobilenetv3_large_100:224", "convnext_tiny:224")
OUT = Path(__file__).resolve().parent / "results" / "train_batch_cuda.csv"


def steps(model: torch.nn.Module, side: int, batch: int, dtype: str) -> int | None:
    """Peak reserved bytes over two Adam steps at ``batch`` (``dtype`` other than float32:
    under autocast), None on out-of-memory."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        x = torch.randn(batch, 3, side, side, device="cuda")
        y = torch.randint(0, 1000, (batch,), device="cuda")
        for _ in range(2):
            half = dtype != "float32"
            with torch.autocast("cuda", dtype=getattr(torch, dtype), enabled=half):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_reserved())
    except torch.OutOfMemoryError:
        return None
    finally:
        del opt
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()


def compare(name: str, side: int, total: int, dtypes: list[str]) -> list[list[object]]:
    """Predicted and real largest batch of one model at one size, at each of ``dtypes``.

    The real one is searched in steps of 1/16 of the prediction (a lower bound within ~6%),
    so each search takes about a dozen tries whatever the GPU's size.
    """
    profile = archcalc.profile(name, side)
    model = timm.create_model(name, pretrained=False).cuda().train()
    rows: list[list[object]] = []
    for dtype in dtypes:
        (fit,) = batch_fits(profile, [total / 2**30], dtype, epoch_images=3000)
        at_predicted = steps(model, side, fit.batch_size, dtype) if fit.batch_size else None
        step = max(1, fit.batch_size // 16)
        real = step * search_max_batch(
            functools.partial(
                lambda k, s, d: steps(model, side, k * s, d) is not None, s=step, d=dtype
            ),
            limit=64,
        )
        rows.append([name, side, dtype, fit.batch_size, real, at_predicted, total])
        reserved = "OOM" if at_predicted is None else f"{at_predicted / total:.0%}"
        print(
            f"{name:<24} {side:>4} {dtype:>8} predicted {fit.batch_size:>5} real >= "
            f"{real:>5} reserved at predicted {reserved}",
            flush=True,
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="NAME:SIDE")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=["float32", "float16"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 2
    total = torch.cuda.mem_get_info()[1]
    print(f"{torch.cuda.get_device_name()}: {total / 2**30:.1f} GiB")
    rows = []
    for spec in args.models:
        name, side = spec.split(":")[0], int(spec.split(":")[1])
        rows += compare(name, side, total, args.dtypes)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["model", "side", "dtype", "predicted_batch", "real_max_batch",
             "reserved_at_predicted_bytes", "gpu_total_bytes"]
        )  # fmt: skip
        writer.writerows(rows)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
