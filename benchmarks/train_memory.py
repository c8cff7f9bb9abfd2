"""The static training-step estimate behind ``suggest --gpu-memory`` against a traced step.

For each model, size, batch and dtype, two numbers side by side in one run:

* static: what ``archcalc.recommend.batch`` plans with, ``fixed + batch x per_image`` from one
  batch-1 meta profile (weights, grads, 2 Adam moments, buffers; saved activations per image).
* traced: the peak that torch's ``MemTracker`` (torch.distributed._tools.mem_tracker) sees over
  two full training steps (train mode, forward, cross-entropy, backward, Adam step, zero_grad)
  on fake tensors: every live storage counted, rounded to 512 B like the CUDA caching
  allocator, parameters, buffers, gradients, Adam state, activations and backward temporaries
  included. ``bfloat16`` runs under ``torch.autocast`` (the CPU's autocast dtype, with the same
  op lists for conv and linear as float16 on CUDA; the static estimate gives float16 and
  bfloat16 the same bytes).

What it cannot see: the CUDA context, cuBLAS/cuDNN workspaces and allocator fragmentation (no
GPU here); those are what ``GPU_RESERVED_BYTES`` and the 10% of ``GPU_FRACTION`` are for.
Writes ``benchmarks/results/train_memory.csv``.

    python benchmarks/train_memory.py [--batches 8 32] [--models resnet18:448 resnet50:224]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import timm
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import MemTracker

import archcalc
from archcalc.recommend.batch import step_bytes

MODELS = (
    "resnet18:448",
    "resnet50:224",
    "mobilenetv3_large_100:224",
    "efficientnet_b0:224",
    "convnext_tiny:224",
    "vit_small_patch16_224:224",
)
OUT = Path(__file__).resolve().parent / "results" / "train_memory.csv"


def traced_peak(name: str, side: int, batch: int, dtype: str) -> int:
    """Peak bytes MemTracker sees over two Adam training steps on fake tensors (``dtype``
    other than float32: under CPU autocast)."""
    model = timm.create_model(name, pretrained=False)  # real: some constructors read values
    with FakeTensorMode(allow_non_fake_inputs=True):
        model.to_empty(device="cpu")  # every parameter and buffer becomes a fake tensor
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(batch, 3, side, side)
        y = torch.randint(0, 1000, (batch,))
        tracker = MemTracker()
        tracker.track_external(model, opt)
        with tracker:
            for step in range(2):  # the second step runs with Adam's state already allocated
                if step:
                    tracker.reset_mod_stats()
                half = dtype != "float32"
                with torch.autocast("cpu", dtype=getattr(torch, dtype), enabled=half):
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                opt.zero_grad()
        return int(tracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="NAME:SIDE")
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--out", type=Path, default=OUT, help=f"CSV to write [{OUT.name}]")
    args = parser.parse_args()
    header = f"{'model':<26} {'side':>4} {'batch':>5} {'dtype':>8} {'static MiB':>11} "
    print(header + f"{'traced MiB':>11} {'traced/static':>13}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open(
        "w", newline=""
    ) as f:  # a row per run, flushed: a cut-short run keeps its rows
        writer = csv.writer(f)
        writer.writerow(["model", "side", "batch", "dtype", "static_bytes", "traced_peak_bytes"])
        for spec in args.models:
            name, side = spec.split(":")[0], int(spec.split(":")[1])
            profile = archcalc.profile(name, side)
            for dtype in ("float32", "bfloat16"):
                fixed, per_image = step_bytes(profile.memory, profile.params, dtype)
                for batch in args.batches:
                    static = fixed + batch * per_image
                    traced = traced_peak(name, side, batch, dtype)
                    writer.writerow([name, side, batch, dtype, static, traced])
                    f.flush()
                    print(
                        f"{name:<26} {side:>4} {batch:>5} {dtype:>8} {static / 2**20:>11.1f} "
                        f"{traced / 2**20:>11.1f} {traced / static:>13.3f}",
                        flush=True,
                    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
