"""The sizing rules as pure functions: the k x k window, the receptive field and the input
pipeline (no torch).

Sizing rules §3 (docs/rules.md): the final map should be 3x3 to 9x9 (7x7 is the ImageNet
norm); below 3 it cannot represent enough, above 9 the features are less abstract (except
fine-grained work at 448, which ends at 14x14 on purpose). §4: resize then crop, with the
backbone's own crop fraction and normalisation from timm's ``pretrained_cfg``. The receptive
field says what each of the k x k cells sees: larger than the input, most of it is padding;
smaller, final cells never see an object that fills the image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from archcalc.formatting import size, stride_text
from archcalc.recommend.levels import Level
from archcalc.results import Pair, Profile
from archcalc.serialize import Serialized

__all__ = [
    "DEFAULT_CROP_PCT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "K_MAX",
    "K_MIN",
    "K_TYPICAL",
    "Backbone",
    "KVerdict",
    "Pipeline",
    "field_lines",
    "k_verdict",
    "level_verdict",
    "pipeline_for",
]

#: The k x k window of the sizing rules (§3, docs/rules.md): 3..9 works, 7 is the ImageNet norm.
K_MIN, K_TYPICAL, K_MAX = 3, 7, 9
#: timm's fallbacks when a pretrained_cfg lacks them (timm.data.constants).
DEFAULT_CROP_PCT = 0.875
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_RULES = "rules §3"


@dataclass(frozen=True)
class KVerdict:
    """Where a final map falls in the k window: ``too-small``, ``good``, ``large``,
    ``expected-large`` (above 9 on purpose, fine-grained) or ``tokens`` (transformer grid)."""

    status: str
    k: int
    note: str

    @property
    def rank(self) -> int:
        """0 for maps the rules accept, 1 for large ones, 2 for too small (ranking order)."""
        return {"too-small": 2, "large": 1}.get(self.status, 0)


def k_verdict(final_map: Pair, *, large_expected: bool = False, layout: str = "nchw") -> KVerdict:
    """Judge a final map against the k window of rules §3 (docs/rules.md).

    Args:
        final_map: the final map's ``(height, width)``.
        large_expected: a map above 9 x 9 is intended (fine-grained work): ``expected-large``
            instead of ``large``.
        layout: ``tokens`` for a transformer's token grid (the window is a rule for
            convolutional maps), else ``nchw``/``nhwc``.

    Returns:
        A ``KVerdict``: ``status`` (``too-small`` below 3, ``good`` for 3-9, ``large`` or
        ``expected-large`` above 9, ``tokens``), the ``k`` judged and a ``note`` citing the rule.

    Examples:
        >>> k_verdict((7, 7)).note
        '7x7 is in the 3-9 window, the ImageNet norm (rules §3)'
        >>> k_verdict((2, 2)).status, k_verdict((14, 14), large_expected=True).status
        ('too-small', 'expected-large')
    """
    low, high = min(final_map), max(final_map)
    grid = size(final_map)
    if low < K_MIN:
        return KVerdict(
            "too-small",
            low,
            f"{grid} is too small to represent enough (k < {K_MIN}); remedies: a smaller "
            f"global stride (output_stride 16 or 8) or a larger input ({_RULES})",
        )
    if layout == "tokens":
        return KVerdict(
            "tokens",
            high,
            f"{grid} token grid: the 3-9 window is a rule for convolutional maps ({_RULES})",
        )
    if high <= K_MAX:
        typical = ", the ImageNet norm" if low == high == K_TYPICAL else ""
        return KVerdict(
            "good", high, f"{grid} is in the {K_MIN}-{K_MAX} window{typical} ({_RULES})"
        )
    if large_expected:
        return KVerdict(
            "expected-large",
            high,
            f"{grid} is above {K_MAX}x{K_MAX} on purpose: fine-grained work keeps a larger map "
            "so small details survive (14x14 at 448 through stride 32 is the usual choice) "
            f"({_RULES})",
        )
    return KVerdict(
        "large",
        high,
        f"{grid} is above {K_MAX}x{K_MAX}: the features are less abstract, accuracy tends to "
        f"drop and compute grows ({_RULES})",
    )


def level_verdict(p: Profile, level: Level) -> KVerdict:
    """Where a profiled option's final map falls in the k window at ``level`` (rules §3):
    ``k_verdict`` with the level's ``large_k_expected`` and the profile's layout. A level sized
    from its small objects (rules §6) keeps a large map for them, not for fine-grained parts."""
    verdict = k_verdict(p.final_map, large_expected=level.large_k_expected, layout=p.final_layout)
    if verdict.status == "expected-large" and level.pixels.min_object_px is not None:
        note = (
            f"{size(p.final_map)} is above {K_MAX}x{K_MAX} on purpose: small objects keep their "
            "cells in a dense map, which a detection head reads whole instead of pooling it "
            f"({_RULES}, §6)"
        )
        return replace(verdict, note=note)
    return verdict


@dataclass(frozen=True)
class Backbone:
    """What the recommender needs to know about a backbone besides its profiles."""

    name: str
    crop_pct: float = DEFAULT_CROP_PCT
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    output_stride_note: str | None = None

    @classmethod
    def from_cfg(cls, name: str, cfg: Mapping[str, Any], note: str | None = None) -> Backbone:
        """crop_pct, mean and std from a timm ``pretrained_cfg`` (timm's defaults if absent)."""
        crop = cfg.get("crop_pct")
        return cls(
            name=name,
            crop_pct=float(crop)
            if isinstance(crop, int | float) and 0 < crop <= 1
            else DEFAULT_CROP_PCT,
            mean=tuple(float(v) for v in cfg.get("mean") or IMAGENET_MEAN),
            std=tuple(float(v) for v in cfg.get("std") or IMAGENET_STD),
            output_stride_note=note,
        )


@dataclass(frozen=True)
class Pipeline(Serialized):
    """Input sizes for training (resize, random crop) and evaluation (resize, centre crop)."""

    train_resize: Pair
    train_crop: Pair
    eval_resize: Pair
    eval_crop: Pair
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pct: float
    flip: str


def pipeline_for(resolution: Pair, backbone: Backbone, level: Level) -> Pipeline:
    """The input pipeline of rules §4: resize to floor(side / crop_pct), then crop.

    timm's eval rule (224 / 0.875 = 256) with the backbone's own ``crop_pct``, mean and std.

    Args:
        resolution: the input ``(height, width)`` the network sees.
        backbone: the backbone, with its ``pretrained_cfg`` values.
        level: the task level, for its horizontal-flip advice.

    Returns:
        A ``Pipeline``: train and eval resize and crop sizes, mean, std, crop_pct and flip.

    Examples:
        >>> coarse = find_level("coarse")
        >>> pipeline_for((224, 224), Backbone("resnet18", crop_pct=0.875), coarse).eval_resize
        (256, 256)
    """
    resize = (
        math.floor(resolution[0] / backbone.crop_pct),
        math.floor(resolution[1] / backbone.crop_pct),
    )
    return Pipeline(
        train_resize=resize,
        train_crop=resolution,
        eval_resize=resize,
        eval_crop=resolution,
        mean=backbone.mean,
        std=backbone.std,
        crop_pct=backbone.crop_pct,
        flip=level.flip,
    )


def field_lines(p: Profile, where: str) -> tuple[list[str], list[str]]:
    """Warnings and reasons from the final map's receptive field at the profile's input.

    A centre cell sees the whole image when its field is at least the input on both axes;
    where the convolutional field is smaller, an object that fills the image is never seen
    whole by one cell (a gate only adds pooled context).
    """
    rf = p.receptive_field
    if rf is None:
        return [], []
    if rf.context == "global":
        return [], ["receptive field: every final cell sees the whole input (an operation mixes "
                    "every position: global self-attention or a token-mixing MLP)"]  # fmt: skip
    if rf.size is None:
        return [], [f"receptive field: not analysed ({rf.reason})"]
    seen, res = stride_text(rf.size), stride_text(p.resolution)
    gate = (
        "; global context also reaches every cell through a gate (squeeze-and-excitation, "
        "global context or norm statistics)"
        if rf.context == "gate"
        else ""
    )
    covered = all(f >= side for f, side in zip(rf.size, p.resolution, strict=True))
    if not covered:
        warning = (
            f"{where}: each final cell's convolutional field is {seen} px, smaller than the "
            f"{res} px input: final cells never see the whole of an object that fills the image"
        )
        return [warning + gate], [f"receptive field: each final cell sees {seen} px{gate}"]
    padding = all(f >= 2 * side for f, side in zip(rf.size, p.resolution, strict=True))
    tail = "most of it is padding" if padding else "a centre cell sees the whole image"
    sees = f"receptive field: each final cell sees {seen} px of a {res} px input"
    return [], [f"{sees}: {tail}{gate}"]
