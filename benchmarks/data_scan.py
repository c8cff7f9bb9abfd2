"""Is ``archcalc data`` fast at the scale of real data sets? (issue 28, goals 10 s / 2 GB, 5,000/s)

Two synthetic data sets are generated under a scratch folder (never committed):

- ``coco_train2017.json``: a COCO instances file of train2017's size (118,287 images, 860,001
  boxes, 80 categories), with the real structure: info, licenses, images with file names,
  URLs and dates, annotations with segmentation polygons (1 % crowd regions with RLE counts),
  area, iscrowd, bbox and ids. About 450 MB, like the real file.
- ``imagefolder/``: 20,000 real image files (two thirds JPEG, some with an EXIF block, one
  third PNG) of varied sizes in 20 class folders, written by Pillow.

Each is read by the whole CLI (``archcalc data PATH --format json`` in a subprocess: start-up,
reading, statistics and printing), and the figures are set beside baselines measured in the
same run: a plain ``json.load`` of the same file, and a plain ``PIL.Image.open(p).size`` loop
over the same files (warm page cache for both). The JSON parsers considered for the COCO reader
are timed too, each decoding the same bytes.

    nice python benchmarks/data_scan.py --scratch /tmp/data_scan > benchmarks/results/data_scan.txt
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGES = 118_287
BOXES = 860_001
CATEGORIES = 80
FOLDER_IMAGES = 20_000
CLASSES = 20
#: COCO's most common image sizes, and a few others.
COCO_SIZES = [(640, 480), (640, 427), (480, 640), (640, 426), (427, 640), (500, 375), (640, 640)]


def _polygon(rng: random.Random, x: float, y: float, w: float, h: float) -> str:
    points = rng.randint(6, 48)  # about 450 MB in all, as the real file
    coords = []
    for _ in range(points):
        coords.append(f"{x + rng.random() * w:.2f}")
        coords.append(f"{y + rng.random() * h:.2f}")
    return "[[" + ",".join(coords) + "]]"


def make_coco(path: Path, images: int = IMAGES, boxes: int = BOXES, seed: int = 0) -> None:
    """Write a synthetic COCO instances file with train2017's counts and structure."""
    rng = random.Random(seed)
    sizes = [rng.choice(COCO_SIZES) for _ in range(images)]
    with path.open("w") as f:
        f.write('{"info": {"description": "synthetic COCO 2017", "version": "1.0", "year": 2017}')
        f.write(', "licenses": [')
        f.write(",".join(f'{{"url": "http://example.org/{i}", "id": {i}, "name": "L{i}"}}'
                         for i in range(1, 9)))  # fmt: skip
        f.write('], "images": [')
        for i, (w, h) in enumerate(sizes):
            name = f"{i + 1:012d}.jpg"
            f.write(("," if i else "") + json.dumps({
                "license": rng.randint(1, 8), "file_name": name,
                "coco_url": f"http://images.cocodataset.org/train2017/{name}", "height": h,
                "width": w, "date_captured": "2013-11-14 11:18:45",
                "flickr_url": f"http://farm4.staticflickr.com/{name}", "id": i + 1}))  # fmt: skip
        f.write('], "annotations": [')
        for a in range(boxes):
            image = rng.randrange(images)
            iw, ih = sizes[image]
            rel = min(1.0, rng.lognormvariate(-2.0, 0.9))
            bw = max(1.0, round(iw * rel * rng.uniform(0.5, 1.0), 2))
            bh = max(1.0, round(ih * rel * rng.uniform(0.5, 1.0), 2))
            x, y = round(rng.uniform(0, iw - bw), 2), round(rng.uniform(0, ih - bh), 2)
            crowd = rng.random() < 0.01
            segmentation = (
                f'{{"counts": [{",".join(str(rng.randint(1, 500)) for _ in range(80))}], '
                f'"size": [{ih}, {iw}]}}'
                if crowd
                else _polygon(rng, x, y, bw, bh)
            )
            f.write(
                ("," if a else "")
                + f'{{"segmentation": {segmentation}, "area": {bw * bh * 0.6:.4f}, '
                f'"iscrowd": {int(crowd)}, "image_id": {image + 1}, '
                f'"bbox": [{x}, {y}, {bw}, {bh}], "category_id": {rng.randint(1, CATEGORIES)}, '
                f'"id": {a + 1}}}'
            )
        f.write('], "categories": [')
        f.write(",".join(json.dumps({"supercategory": "thing", "id": c, "name": f"class{c}"})
                         for c in range(1, CATEGORIES + 1)))  # fmt: skip
        f.write("]}")


def make_imagefolder(root: Path, images: int = FOLDER_IMAGES, seed: int = 0) -> None:
    """Write ``images`` small real JPEG and PNG files of varied sizes in class folders."""
    from PIL import Image

    rng = random.Random(seed)
    exif = Image.Exif()
    exif[0x0110] = "synthetic camera"  # Model
    exif[0x0112] = 1  # Orientation
    for i in range(images):
        folder = root / f"class{i % CLASSES:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = (rng.randint(32, 640), rng.randint(32, 640))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        image = Image.new("RGB", size, colour)
        if i % 3 == 2:
            image.save(folder / f"{i:06d}.png")
        else:
            extra = {"exif": exif} if i % 3 == 1 else {}
            image.save(folder / f"{i:06d}.jpg", quality=80, **extra)


def run(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (bytes) and stdout of a command,
    from the child's own rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"{' '.join(argv)} failed: {err.read().decode().strip()}")
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, cpu, usage.ru_maxrss * 1024, out.read().decode()


#: Each JSON parser decoding the COCO file in a fresh interpreter; prints its seconds.
PARSERS = {
    "json.load (stdlib)": "import json; d = json.load(open(PATH, 'rb'))",
    "orjson.loads": "import orjson; d = orjson.loads(open(PATH, 'rb').read())",
    "msgspec, typed (archcalc's reader)": (
        "from pathlib import Path; from archcalc.datasets.coco import read_coco; "
        "d = read_coco(Path(PATH))"
    ),
}


def parser_rows(path: Path) -> list[tuple[str, float, int]]:
    """(parser, seconds to decode, peak RSS) for each parser installed."""
    rows = []
    for name, code in PARSERS.items():
        module = code.split()[1].rstrip(";")
        if (
            module != "pathlib"
            and subprocess.run(
                [sys.executable, "-c", f"import {module}"], capture_output=True
            ).returncode
        ):
            print(f"# {name}: not installed, skipped")
            continue
        timed = f"import time; PATH = {str(path)!r}; t = time.perf_counter(); {code}; " \
            "print(time.perf_counter() - t)"  # fmt: skip
        _, _, rss, out = run([sys.executable, "-c", timed])
        rows.append((name, float(out), rss))
    return rows


def header_rates(root: Path) -> dict[str, float]:
    """Images per second: a plain Pillow ``Image.open(p).size`` loop and archcalc's header
    reader, in this process over the same files (listed once, beforehand)."""
    from PIL import Image

    from archcalc.datasets.formats import files
    from archcalc.datasets.headers import EXTENSIONS, image_size

    paths = files(root, EXTENSIONS)
    rates = {}
    for name, size in (
        ("PIL.Image.open(p).size", lambda p: Image.open(p).size),
        ("archcalc image_size(p)", image_size),
    ):
        for p in paths[:500]:  # warm the page cache and the imports alike
            size(p)
        start = time.perf_counter()
        for p in paths:
            size(p)
        rates[name] = len(paths) / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/data_scan"))
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    coco, folder = args.scratch / "coco_train2017.json", args.scratch / "imagefolder"
    if not coco.exists():
        make_coco(coco)
    if not folder.exists():
        make_imagefolder(folder)
    cli = [sys.executable, "-c", "from archcalc.cli import main; main()", "data"]
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")  # fmt: skip

    rows = parser_rows(coco)
    seconds, cpu, rss, out = run([*cli, str(coco), "--format", "json"])
    stats = json.loads(out)
    base_s, base_rss = rows[0][1], rows[0][2]
    print(f"\n## COCO instances: {coco.stat().st_size / 1e6:.0f} MB, {stats['images']} images, "
          f"{stats['boxes']} boxes (1 % crowd regions left out)\n")  # fmt: skip
    print(f"{'decoding':<38} {'s':>7} {'RSS MB':>8} {'x json.load time':>17}")
    for name, s, r in rows:
        print(f"{name:<38} {s:7.2f} {r / 2**20:8.0f} {s / base_s:17.3f}")
    print(f"\narchcalc data (whole CLI, subprocess): {seconds:.2f} s ({cpu:.2f} s CPU), "
          f"{rss / 2**20:.0f} MB RSS; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"  = {seconds / base_s:.3f} x the time and {rss / base_rss:.3f} x the RSS of json.load "
          "alone")  # fmt: skip
    met = seconds <= 10 and rss <= 2 * 2**30
    print(f"  goal <= 10 s and <= 2 GB RSS: {'met' if met else 'MISSED'}")

    rates = header_rates(folder)
    seconds, cpu, _, out = run([*cli, str(folder), "--format", "json"])
    images = json.loads(out)["images"]
    pil = rates["PIL.Image.open(p).size"]
    print(f"\n## ImageFolder: {images} files (JPEG and PNG, {CLASSES} classes), warm page cache\n")
    print(f"{'reading sizes':<38} {'images/s':>9} {'x PIL loop':>11}")
    for name, rate in rates.items():
        print(f"{name:<38} {rate:9.0f} {rate / pil:11.2f}")
    cli_rate = images / seconds
    print(f"{'archcalc data (whole CLI, subprocess)':<38} {cli_rate:9.0f} {cli_rate / pil:11.2f}")
    print(f"  ({seconds:.2f} s, {cpu:.2f} s CPU; load average {os.getloadavg()[0]:.1f})")
    print(f"  goal >= 5,000 images/s: {'met' if cli_rate >= 5000 else 'MISSED'}")


if __name__ == "__main__":
    main()
