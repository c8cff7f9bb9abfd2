"""What the recommender decides over and returns: ``Option`` rows and the ``Suggestion`` (no torch).

An ``Option`` is one profiled configuration (backbone x input size x output stride) with its
latency and training-step MACs where known; a ``Suggestion`` is the decision with its reasons,
warnings, input pipeline, training start, batch sizes per GPU and every alternative, and its
``to_dict()`` is the JSON object ``archcalc/schemas/suggestion.json`` describes; ``from_dict``
reads it back, and the rows ``str()``, Jupyter and the CLI print live here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archcalc.display import Summarised, Summary
from archcalc.formatting import billions, millions, milliseconds, size, stride_text
from archcalc.growth import GrowthLaw
from archcalc.recommend.batch import BatchFit
from archcalc.recommend.catalog import Accuracy
from archcalc.recommend.data_size import DataSize
from archcalc.recommend.kmax import KAlternative
from archcalc.recommend.levels import Level
from archcalc.recommend.rules import Pipeline, level_verdict
from archcalc.recommend.search_front import SearchSummary
from archcalc.recommend.training import Training
from archcalc.results import Pair, Profile
from archcalc.serialize import Serialized, from_json, json_field

__all__ = [
    "SUGGEST_HEADERS",
    "Alternative",
    "Option",
    "Suggestion",
    "find_option",
    "relative_cost",
    "suggest_headline",
    "suggest_rows",
]


@dataclass(frozen=True)
class Option(Serialized):
    """One profiled configuration (a row of the alternatives table), latency if measured.

    ``train_macs``: forward + backward MACs of one image (None when not available);
    ``build_kwargs``: the constructor arguments its profile was built with (so a timing
    builds the same model without tracing it again; not part of the JSON). Its JSON object is
    the profile's keys plus ``latency_s``, ``latency_ms`` and ``accuracy`` (the published
    ImageNet accuracy; null outside ``--backbone auto``).

    Example:
        >>> s = archcalc.suggest("coarse", ["resnet18"], latency=False)
        >>> s.chosen.profile.final_map, s.chosen.latency_s
        ((7, 7), None)
    """

    profile: Profile = json_field(flatten=True)
    latency_s: float | None = json_field(default=None, then=("latency_ms",))
    accuracy: Accuracy | None = None
    train_macs: int | None = json_field(default=None, skip=True)
    build_kwargs: tuple[tuple[str, Any], ...] = json_field(default=(), skip=True)

    @property
    def backbone(self) -> str:
        """The profiled model's timm name."""
        return self.profile.model

    @property
    def latency_ms(self) -> float | None:
        """The measured latency in milliseconds (None when not measured)."""
        return None if self.latency_s is None else self.latency_s * 1e3

    @property
    def key(self) -> tuple[str, Pair, int | None]:
        """(backbone, resolution, output_stride): what identifies a row."""
        return (self.profile.model, self.profile.resolution, self.profile.output_stride)


@dataclass(frozen=True)
class Alternative:
    """One row of a suggestion's ``alternatives`` in JSON: the option's keys, whether it is the
    chosen one, and its MACs over its backbone's at the level's size (``relative_cost``)."""

    option: Option = json_field(flatten=True)
    chosen: bool
    cost_vs_level: float | None


def _alternative_rows(s: Suggestion) -> tuple[Alternative, ...]:
    return tuple(
        Alternative(o, o.key == s.chosen.key, relative_cost(o, s.alternatives, s.level))
        for o in s.alternatives
    )


def _read_alternatives(data: Mapping[str, Any]) -> tuple[Option, ...]:
    return tuple(from_json(Option, row) for row in data["alternatives"])


def _read_chosen(data: Mapping[str, Any]) -> Option:
    return next(from_json(Option, row) for row in data["alternatives"] if row["chosen"])


#: The chosen option's figures a suggestion's JSON object starts with.
_HEADLINE = (
    "resolution", "backbone", "output_stride", "final_map", "global_stride", "macs", "params",
    "latency_ms",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Suggestion(Summarised, Serialized):
    """The decision: the chosen option, why, what to watch, the pipeline and every alternative.

    ``training``: the training start (None when hidden); ``train_batches``: the largest
    training batch per GPU size asked; ``k_alternatives``: the options keeping k <= 9 where
    the level's size gives a larger map. ``latency_basis``: what the latencies are when they
    were not measured on ``device`` (None: measured; a prediction names its target and batch).
    ``data``: how ``suggest --data`` sized the input from the data set (rules §6; None
    without a data set). ``str()`` is the one-line recommendation, the chosen
    row and the warnings; Jupyter renders the whole alternatives table. In JSON the chosen
    option is the alternative marked ``chosen``, and its figures head the object.

    Examples:
        >>> s = archcalc.suggest("fine-grained", ["resnet18"], latency=False)
        >>> s.resolution, s.chosen.profile.final_map
        ((448, 448), (14, 14))
        >>> s.reasons[0].split(" (")[-1]
        'rules §1: coarse 224, fine-grained 448, region 48)'
    """

    chosen: Option = json_field(skip=True, decode=_read_chosen, before=("task",), then=_HEADLINE)
    warnings: tuple[str, ...]
    reasons: tuple[str, ...]
    pipeline: Pipeline
    growth: GrowthLaw | None = None
    alternatives: tuple[Option, ...] = json_field(
        encode=_alternative_rows, decode=_read_alternatives, json_type=tuple[Alternative, ...]
    )
    level: Level
    device: str = "cpu"
    latency_basis: str | None = None
    search: SearchSummary | None = None
    k_alternatives: tuple[KAlternative, ...] = ()
    training: Training | None = None
    train_batches: tuple[BatchFit, ...] = ()
    data: DataSize | None = None

    @property
    def task(self) -> str:
        """The level's canonical name (``fine-grained`` even when asked as ``fine``)."""
        return self.level.name

    @property
    def resolution(self) -> Pair:
        """The chosen input ``(height, width)``."""
        return self.chosen.profile.resolution

    @property
    def backbone(self) -> str:
        """The chosen backbone's timm name."""
        return self.chosen.backbone

    @property
    def output_stride(self) -> int | None:
        """The chosen output stride (None: the backbone's default)."""
        return self.chosen.profile.output_stride

    @property
    def final_map(self) -> Pair:
        """The chosen option's final map ``(k_h, k_w)``."""
        return self.chosen.profile.final_map

    @property
    def global_stride(self) -> Pair:
        """The chosen option's global stride."""
        return self.chosen.profile.global_stride

    @property
    def macs(self) -> int:
        """The chosen option's forward MACs."""
        return self.chosen.profile.macs

    @property
    def params(self) -> int:
        """The chosen option's parameter count."""
        return self.chosen.profile.params

    @property
    def latency_ms(self) -> float | None:
        """The chosen option's measured latency in ms (None when not measured)."""
        return self.chosen.latency_ms

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
            level_verdict(o.profile, s.level).status,
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
    if latency and s.latency_basis is not None:
        latency += " PREDICTED"  # never read as a measurement
    return (
        f"Use {size(p.resolution)} input on {p.model}{os} for task level {s.task}: "
        f"{size(p.final_map)} final map (global stride {stride_text(p.global_stride)}), "
        f"{billions(p.macs)} GMACs, {millions(p.params)} M params{latency}."
    )
