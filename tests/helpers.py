"""Shared test helpers: synthetic profiles and option grids for the recommender's tests.

Import them as ``from helpers import make`` (pytest puts ``tests/`` on the path).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from archcalc.recommend.levels import find_level
from archcalc.recommend.suggestion import Option
from archcalc.results import Environment, Memory, Profile
from archcalc.timing.predict.model import DeviceProfile

__all__ = ["COARSE", "FINE", "MACS_PER_PIXEL", "REGION", "SIDES", "grid", "make"]

COARSE, FINE, REGION = (find_level(n) for n in ("coarse", "fine-grained", "region"))
SIDES = (48, 96, 160, 224, 320, 448)
#: Synthetic cost: MACs grow with the map area, 1000 MACs per input pixel at stride 32.
MACS_PER_PIXEL = 1000


def make(
    model: str,
    side: int | tuple[int, int],
    stride: int = 32,
    *,
    os: int | None = None,
    layout: str = "nchw",
) -> Profile:
    """A profile of a "same"-padded net: final map ceil(side / stride), MACs ~ pixels / stride^2."""
    h, w = (side, side) if isinstance(side, int) else side
    k = (-(-h // stride), -(-w // stride))
    aligned = h % stride == 0 and w % stride == 0
    (hb, ha), (wb, wa) = _multiples_around(h, stride), _multiples_around(w, stride)
    return Profile(
        model=model,
        convention="core",
        batch_size=1,
        channels=3,
        height=h,
        width=w,
        output_stride=os,
        global_stride=(stride, stride),
        final_map=k,
        final_channels=512,
        final_layout=layout,
        prefix_tokens=0,
        aligned=aligned,
        aligned_below=None if aligned or hb is None or wb is None else (hb, wb),
        aligned_above=None if aligned else (ha, wa),
        params=11_000_000,
        trainable_params=11_000_000,
        macs=h * w * MACS_PER_PIXEL * (32 // stride) ** 2,
        stages=(),
        memory=Memory(0, 0, 0, 0, 0, 0, 0),
        environment=Environment("0", "0", None, "meta", "float32", 1),
    )


def grid(model: str = "net", sides: tuple[int, ...] = SIDES) -> list[Option]:
    """One option of ``model`` per side (square, stride 32), unmeasured."""
    return [Option(make(model, s)) for s in sides]


def _multiples_around(side: int, stride: int) -> tuple[int | None, int]:
    """The multiples of ``stride`` just below and above an unaligned ``side`` (below is None
    when it would be 0), by plain arithmetic: 230 at stride 32 lies between 7 x 32 = 224 and
    8 x 32 = 256."""
    below = side - side % stride
    return (below if below > 0 else None), below + stride


def page_data(html: str) -> dict:
    """The JSON block the page's script reads."""
    found = re.search(
        r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S
    )
    assert found is not None
    return json.loads(found.group(1))


def round_target(**changes: Any) -> DeviceProfile:
    """A target of round constants: 1e12 MAC/s, 1e9 B/s, 10 us per kernel, 1 ms per call, at
    float32, fitted on this archcalc's features (no version warning); ``changes`` replace
    fields."""
    from archcalc.core.ops import OP_CLASSES
    from archcalc.timing.predict.features import made_with

    base = DeviceProfile(
        name="t",
        kind="gpu",
        dtype="float32",
        bytes_scale=1.0,
        rate=dict.fromkeys(OP_CLASSES[:4], 1e12),
        bandwidth=dict.fromkeys(OP_CLASSES, 1e9),
        overhead=dict.fromkeys(OP_CLASSES, 1e-5),
        fixed=1e-3,
        source={"features": made_with()},
    )
    return replace(base, **changes)
