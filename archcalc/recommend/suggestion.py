"""What the recommender decides over and returns: ``Option`` rows and the ``Suggestion`` (no torch).

An ``Option`` is one profiled configuration (backbone x input size x output stride) with its
latency and training-step MACs where known; a ``Suggestion`` is the decision with its reasons,
warnings, input pipeline, training start, batch sizes per GPU and every alternative, and its
``to_dict()`` is the JSON object the README documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archcalc.recommend.batch import BatchFit
from archcalc.recommend.kmax import KAlternative
from archcalc.recommend.levels import Level
from archcalc.recommend.rules import KVerdict, Pipeline, k_verdict
from archcalc.recommend.training import Training
from archcalc.results import Pair, Profile

__all__ = ["Option", "Suggestion"]


@dataclass(frozen=True)
class Option:
    """One profiled configuration (a row of the alternatives table), latency if measured.

    ``train_macs``: forward + backward MACs of one image (None when not available).
    """

    profile: Profile
    latency_s: float | None = None
    train_macs: int | None = None

    @property
    def backbone(self) -> str:
        return self.profile.model

    @property
    def key(self) -> tuple[str, Pair, int | None]:
        """(backbone, resolution, output_stride): what identifies a row."""
        return (self.profile.model, self.profile.resolution, self.profile.output_stride)

    def verdict(self, level: Level) -> KVerdict:
        p = self.profile
        return k_verdict(p.final_map, large_expected=level.large_k_expected, layout=p.final_layout)

    def to_dict(self, chosen: bool = False) -> dict[str, Any]:
        """The profile's JSON object plus ``latency_ms`` (null if not measured) and ``chosen``."""
        ms = None if self.latency_s is None else self.latency_s * 1e3
        return {**self.profile.to_dict(), "latency_ms": ms, "chosen": chosen}


@dataclass(frozen=True)
class Suggestion:
    """The decision: the chosen option, why, what to watch, the pipeline and every alternative.

    ``training``: the training start (None when hidden); ``train_batches``: the largest
    training batch per GPU size asked; ``k_alternatives``: the options keeping k <= 9 where
    the level's size gives a larger map.
    """

    level: Level
    chosen: Option
    warnings: tuple[str, ...]
    reasons: tuple[str, ...]
    pipeline: Pipeline
    alternatives: tuple[Option, ...]
    device: str = "cpu"
    training: Training | None = None
    train_batches: tuple[BatchFit, ...] = ()
    k_alternatives: tuple[KAlternative, ...] = ()

    @property
    def task(self) -> str:
        """The level's canonical name (``fine-grained`` even when asked as ``fine``)."""
        return self.level.name

    @property
    def resolution(self) -> Pair:
        return self.chosen.profile.resolution

    @property
    def backbone(self) -> str:
        return self.chosen.backbone

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON object; ``alternatives`` mark the chosen row with ``chosen``."""
        p = self.chosen.profile
        return {
            "task": self.task,
            "resolution": list(p.resolution),
            "backbone": p.model,
            "output_stride": p.output_stride,
            "final_map": list(p.final_map),
            "global_stride": list(p.global_stride),
            "macs": p.macs,
            "params": p.params,
            "latency_ms": None if self.chosen.latency_s is None else self.chosen.latency_s * 1e3,
            "warnings": list(self.warnings),
            "reasons": list(self.reasons),
            "pipeline": self.pipeline.to_dict(),
            "alternatives": [o.to_dict(o.key == self.chosen.key) for o in self.alternatives],
            "k_alternatives": [a.to_dict() for a in self.k_alternatives],
            "training": None if self.training is None else self.training.to_dict(),
            "train_batches": [b.to_dict() for b in self.train_batches],
        }
