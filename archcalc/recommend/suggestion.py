"""What the recommender decides over and returns: ``Option`` rows and the ``Suggestion`` (no torch).

An ``Option`` is one profiled configuration (backbone x input size x output stride) with its
latency and training-step MACs where known; a ``Suggestion`` is the decision with its reasons,
warnings, input pipeline, training start, batch sizes per GPU and every alternative, and its
``to_dict()`` is the JSON object docs/schemas.md documents; ``from_dict`` reads it back, and the
rows ``str()``, Jupyter and the CLI print live here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from archcalc.display import Summarised, Summary
from archcalc.formatting import billions, millions, milliseconds, size, stride_text
from archcalc.growth import GrowthLaw
from archcalc.recommend.batch import BatchFit
from archcalc.recommend.catalog import Accuracy
from archcalc.recommend.kmax import KAlternative
from archcalc.recommend.levels import Level
from archcalc.recommend.rules import KVerdict, Pipeline, k_verdict
from archcalc.recommend.search_front import SearchSummary
from archcalc.recommend.training import Training
from archcalc.results import Pair, Profile, pair_from_json

__all__ = [
    "SUGGEST_HEADERS",
    "Option",
    "Suggestion",
    "find_option",
    "relative_cost",
    "suggest_headline",
    "suggest_rows",
]


@dataclass(frozen=True)
class Option:
    """One profiled configuration (a row of the alternatives table), latency if measured.

    ``train_macs``: forward + backward MACs of one image (None when not available);
    ``build_kwargs``: the constructor arguments its profile was built with (so a timing
    builds the same model without tracing it again; not part of the JSON).
    """

    profile: Profile
    latency_s: float | None = None
    accuracy: Accuracy | None = None
    train_macs: int | None = None
    build_kwargs: tuple[tuple[str, Any], ...] = ()

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
        """The profile's JSON object plus ``latency_s``/``latency_ms`` (null if not measured),
        ``chosen`` and ``accuracy`` (the published ImageNet accuracy; null outside
        ``--backbone auto``)."""
        ms = None if self.latency_s is None else self.latency_s * 1e3
        acc = None if self.accuracy is None else self.accuracy.to_dict()
        return {**self.profile.to_dict(), "latency_s": self.latency_s, "latency_ms": ms} | {
            "chosen": chosen,
            "accuracy": acc,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Option:
        """Rebuild from ``to_dict()`` output."""
        accuracy = Accuracy.from_dict(data.get("accuracy"))
        return cls(Profile.from_dict(data), data.get("latency_s"), accuracy)


@dataclass(frozen=True)
class Suggestion(Summarised):
    """The decision: the chosen option, why, what to watch, the pipeline and every alternative.

    ``training``: the training start (None when hidden); ``train_batches``: the largest
    training batch per GPU size asked; ``k_alternatives``: the options keeping k <= 9 where
    the level's size gives a larger map. ``str()`` is the one-line recommendation, the chosen
    row and the warnings; Jupyter renders the whole alternatives table. ``to_dict()`` is the
    JSON of docs/schemas.md.

    Examples:
        >>> s = archcalc.suggest("fine-grained", ["resnet18"], measure_latency=False)
        >>> s.resolution, s.chosen.profile.final_map
        ((448, 448), (14, 14))
        >>> s.reasons[0].split(" (")[-1]
        'rules §1: coarse 224, fine-grained 448, region 48)'
    """

    level: Level
    chosen: Option
    warnings: tuple[str, ...]
    reasons: tuple[str, ...]
    pipeline: Pipeline
    alternatives: tuple[Option, ...]
    device: str = "cpu"
    growth: GrowthLaw | None = None
    search: SearchSummary | None = None
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

    def __repr__(self) -> str:
        return (
            f"Suggestion(task={self.task!r}, backbone={self.backbone!r}, "
            f"resolution={self.resolution}, final_map={self.chosen.profile.final_map}, "
            f"alternatives={len(self.alternatives)}, warnings={len(self.warnings)})"
        )

    def _summary(self) -> Summary:
        chosen = [row for row in suggest_rows(self) if row[0] == "*"]
        return SUGGEST_HEADERS, chosen, [suggest_headline(self), *self.warnings]

    def _repr_markdown_(self) -> str:
        from archcalc.display import summary_text

        everything = (SUGGEST_HEADERS, suggest_rows(self), [*self.warnings, *self.reasons])
        return f"**{suggest_headline(self)}**\n\n" + summary_text(everything, "markdown")

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
            "growth": None if self.growth is None else self.growth.to_dict(),
            "alternatives": [
                {
                    **o.to_dict(o.key == self.chosen.key),
                    "cost_vs_level": relative_cost(o, self.alternatives, self.level),
                }
                for o in self.alternatives
            ],
            "level": {**asdict(self.level), "resolution": list(self.level.resolution)},
            "device": self.device,
            "search": None if self.search is None else self.search.to_dict(),
            "k_alternatives": [a.to_dict() for a in self.k_alternatives],
            "training": None if self.training is None else self.training.to_dict(),
            "train_batches": [b.to_dict() for b in self.train_batches],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Suggestion:
        """Rebuild from ``to_dict()`` output (the result cache reads suggestions back so)."""
        level = data["level"]
        alternatives = tuple(Option.from_dict(o) for o in data["alternatives"])
        chosen = [o for o, d in zip(alternatives, data["alternatives"], strict=True) if d["chosen"]]
        return cls(
            level=Level(
                **level
                | {"resolution": pair_from_json(level["resolution"])}
                | {"aliases": tuple(level["aliases"])}
                | {"training": Training.from_dict(level["training"])}
            ),
            chosen=chosen[0],
            warnings=tuple(data["warnings"]),
            reasons=tuple(data["reasons"]),
            pipeline=Pipeline.from_dict(data["pipeline"]),
            alternatives=alternatives,
            device=data["device"],
            growth=None if data.get("growth") is None else GrowthLaw(**data["growth"]),
            search=SearchSummary.from_dict(data.get("search")),
            training=Training.from_dict(data.get("training")),
            train_batches=tuple(BatchFit.from_dict(b) for b in data.get("train_batches", ())),
            k_alternatives=tuple(KAlternative.from_dict(a) for a in data.get("k_alternatives", ())),
        )


def find_option(
    options: Sequence[Option], backbone: str, resolution: Pair, os: int | None
) -> Option | None:
    """The row of ``backbone`` at ``resolution`` built with output stride ``os`` (None: the
    default), if it was profiled."""
    return next((o for o in options if o.key == (backbone, resolution, os)), None)


def relative_cost(option: Option, options: Sequence[Option], level: Level) -> float | None:
    """``option``'s MACs over its backbone's at the level's size and default stride (so a row
    at 448 for a 224 level reads "costs 4.0x 224"); None when that row is missing."""
    base = find_option(options, option.backbone, level.resolution, None)
    if base is None or base.profile.macs <= 0:
        return None
    return option.profile.macs / base.profile.macs


SUGGEST_HEADERS = (
    "",
    "backbone",
    "res",
    "output stride",
    "stride",
    "k x k",
    "k rule",
    "GMACs",
    "cost vs level",
    "params (M)",
    "latency (ms)",
)


def suggest_rows(s: Suggestion) -> list[list[str]]:
    """The alternatives the decision was made from; ``*`` marks the chosen row; each row's
    MACs relative to its backbone at the level's size ("4.0x 224": 448 costs 4x 224)."""

    def relative(o: Option) -> str:
        ratio = relative_cost(o, s.alternatives, s.level)
        if ratio is None:
            return "-"
        return f"{ratio:.1f}x {size(s.level.resolution)}" if ratio >= 1 else f"{ratio:.2f}x"

    return [
        [
            "*" if o.key == s.chosen.key else "",
            o.backbone,
            size(o.profile.resolution),
            "default" if o.profile.output_stride is None else str(o.profile.output_stride),
            stride_text(o.profile.global_stride),
            size(o.profile.final_map),
            o.verdict(s.level).status,
            billions(o.profile.macs),
            relative(o),
            millions(o.profile.params),
            "-" if o.latency_s is None else milliseconds(o.latency_s),
        ]
        for o in s.alternatives
    ]


def suggest_headline(s: Suggestion) -> str:
    """The recommendation in one line."""
    p = s.chosen.profile
    os = "" if p.output_stride is None else f" built with output_stride={p.output_stride}"
    latency = "" if s.chosen.latency_s is None else f", {milliseconds(s.chosen.latency_s)} ms"
    return (
        f"Use {size(p.resolution)} input on {p.model}{os} for task level {s.task}: "
        f"{size(p.final_map)} final map (global stride {stride_text(p.global_stride)}), "
        f"{billions(p.macs)} GMACs, {millions(p.params)} M params{latency}."
    )
