"""Fuzz the CLI: random model names, sizes and flags; any traceback or odd exit code is a bug.

Each invocation runs in-process through click's ``CliRunner`` (torch and timm load once).
A run passes when every invocation exits 0 (it worked) or 2 (one-line user error on stderr),
never prints a traceback and never exits 1 ("internal error").

    flock /tmp/archcalc-heavy.lock python benchmarks/cli_fuzz.py --runs 600 --seed 1
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections import Counter

TINY = [
    "resnet18",
    "convnext_atto",
    "vit_tiny_patch16_224",
    "mobilenetv3_small_050",
    "efficientnet_b0",
]
GARBAGE_SIZES = ["224x", "x224", "", "1e3", "0x0", "-1", "abc", "224x224x3", "99999999999", " 64 "]
FORMATS = ["table", "json", "markdown", "csv", "xml"]


def random_name(rng: random.Random, names: list[str]) -> str:
    """A real timm name, a tiny one, a misspelling, a bad tag or garbage."""
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(names)
    if roll < 0.6:
        return rng.choice(TINY)
    if roll < 0.75:
        name = list(rng.choice(names))
        name[rng.randrange(len(name))] = rng.choice(string.ascii_lowercase + "_-.")
        return "".join(name)
    if roll < 0.85:
        return f"{rng.choice(TINY)}.{rng.choice(['in1k', 'nope', '', 'a1_in1k'])}"
    return "".join(rng.choices(string.printable, k=rng.randint(0, 12)))


def random_size(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return str(rng.choice([1, 7, 16, 24, 31, 32, 48, 64, 75, 96, 224, 300, 448, 513]))
    if roll < 0.85:
        return f"{rng.randint(1, 600)}x{rng.randint(1, 600)}"
    if roll < 0.93:
        return str(rng.choice([0, -5, 16385, 100000, 2**40]))
    return rng.choice(GARBAGE_SIZES)


def random_int(rng: random.Random, good: list[int]) -> str:
    return str(rng.choice([*good, 0, -1, 10**9])) if rng.random() < 0.93 else "x"


def invocation(rng: random.Random, names: list[str]) -> list[str]:
    """One random command line (without the program name)."""
    command = rng.choice(["inspect"] * 5 + ["sizes"] * 3 + ["suggest"] * 2 + ["bench", "nonsense"])
    if command == "suggest":
        args = [
            "suggest",
            "--task",
            rng.choice(["coarse", "fine-grained", "region", "fine", "xray"]),
        ]
        args += (
            ["--no-latency"] if rng.random() < 0.9 else ["--device", rng.choice(["tpu", "cuda"])]
        )
        if rng.random() < 0.5:
            args += ["--backbone", rng.choice([*TINY, "nope_net"])]
        if rng.random() < 0.15:
            args += ["--levels", rng.choice(["/nonexistent.toml", "/etc/hostname", "/tmp"])]
        if rng.random() < 0.2:
            args += ["--max-gmacs", rng.choice(["0", "-1", "2", "abc"])]
        return [*args, "--format", rng.choice(FORMATS)]
    args = [command, random_name(rng, names)]
    if command == "bench":  # real timing: keep it to refusals and tiny runs
        args = ["bench", rng.choice([*TINY[:2], "nope"]), "--min-time", "0.01", "--res"]
        args += [rng.choice(["32", "0", "100000", "224x", "48"])]
        args += ["--device", rng.choice(["cpu", "tpu", "cuda", "cuda:7"])]
        return [*args, "--batch-size", random_int(rng, [1, 2])]
    if command == "sizes":
        args += ["--min", random_int(rng, [16, 32, 100]), "--max", random_int(rng, [64, 512])]
        args += ["--all"] if rng.random() < 0.3 else []
    else:
        for _ in range(rng.randint(1, 2)):
            args += ["--res", random_size(rng)]
        if rng.random() < 0.3:
            args += ["--batch-size", random_int(rng, [1, 8])]
        if rng.random() < 0.3:
            args += ["--convention", rng.choice(["core", "fvcore", "flops"])]
        if rng.random() < 0.2:
            args += ["--stages"]
        if rng.random() < 0.1:
            args += ["--layers", "--depth", random_int(rng, [1, 2])]
    if rng.random() < 0.3:
        args += ["--in-chans", random_int(rng, [1, 3, 4])]
    if rng.random() < 0.2:
        args += ["--output-stride", random_int(rng, [8, 16, 32, 7])]
    if rng.random() < 0.5:
        args += ["--format", rng.choice(FORMATS)]
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import timm
    from click.testing import CliRunner

    from archcalc.cli import main as cli

    rng = random.Random(args.seed)
    names = timm.list_models()
    runner = CliRunner()
    codes: Counter[int] = Counter()
    bad = []
    start = time.monotonic()
    for i in range(args.runs):
        argv = invocation(rng, names)
        result = runner.invoke(cli, argv)
        codes[result.exit_code] += 1
        text = result.stdout + result.stderr
        crashed = not isinstance(result.exception, (SystemExit, type(None)))
        if crashed or "Traceback" in text or result.exit_code not in (0, 2):
            bad.append((argv, result.exit_code, (text.strip().splitlines() or ["?"])[-1][:300]))
        elif result.exit_code == 2 and result.stderr.count("\n") != 1:
            bad.append((argv, 2, f"error is not one line: {result.stderr[:300]!r}"))
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{args.runs}", file=sys.stderr, flush=True)
    took = time.monotonic() - start
    print(f"{args.runs} invocations in {took:.0f} s; exit codes: {dict(sorted(codes.items()))}")
    print(f"tracebacks / internal errors / multi-line errors: {len(bad)}")
    for argv, code, last in bad:
        print(f"  exit {code}: archcalc {' '.join(argv)}\n    {last}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
