"""Pure pieces of ``--backbone auto``: the search's result (``Front``, ``SearchSummary``), cheap
lower bounds, the reasons.

Bounds (no profile needed): a candidate is excluded before it is traced only when a lower
bound on its cost already breaks a budget, or already costs as much as a more accurate option
found before it (it cannot be on the accuracy-cost front). The bounds start from what timm
published at the weight's evaluation size and are made safe against the differences the
reference README measures: published GMACs are fvcore's (they add norm terms archcalc's
``core`` convention leaves out, up to 6 % for small BN-heavy nets) and rounded to 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from archcalc.formatting import size
from archcalc.recommend.catalog import Accuracy, Entry
from archcalc.results import Pair
from archcalc.serialize import Serialized

if TYPE_CHECKING:
    from archcalc.recommend.rules import Backbone
    from archcalc.recommend.suggestion import Option

__all__ = [
    "ATTENTION_SHARE_MAX",
    "MAC_SLACK",
    "PARAM_SLACK",
    "Front",
    "SearchSummary",
    "auto_reason",
    "fixres_reason",
    "mac_bound",
    "param_bound",
]

#: Published fvcore GMACs x 0.9 <= archcalc's core MACs (worst measured ratio 0.942,
#: mobilenetv3_large_100, reference README); then less half the 0.01 G rounding.
MAC_SLACK = 0.9
#: Below the published size, the share of MACs that shrinks with the area squared (attention
#: over all tokens) is assumed to be at most a half: a transformer's attention share is
#: N / (6 d + N) for N tokens of width d, under a half while N < 6 d (vit_tiny at 384:
#: 576 tokens, d = 192, a third). 0.55 leaves room for a patch grid that floors a size not
#: a multiple of the patch (vit_relpos_base_patch32_plus_rpn_256 at 48: 1 patch for 1.5; 1.7 %
#: under the bound at 0.5). ``benchmarks/auto_backbone_front.py`` checks every row of the zoo.
ATTENTION_SHARE_MAX = 0.55
#: Published params x 0.85 <= archcalc's count at another size: a ViT's position table shrinks
#: with the input (0.2 % of vit_base at 48), and so do the token-mixing weights of an MLP-mixer
#: (resmlp_big_24 at 48: 0.886 of its published count); then less half the 0.01 M rounding.
PARAM_SLACK = 0.85


def mac_bound(entry: Entry, resolution: Pair) -> int:
    """A lower bound on ``entry``'s MACs at ``resolution`` from its published MACs.

    Growth law: a convolution's MACs grow with the input area (ratio a); global attention
    adds a term that grows with a^2. Without a profile the mix is unknown. Above the
    published size the bound takes a (the slowest growth: all convolution), which never
    excludes an option that would fit. Below it, a^2 (all attention) would prune almost
    nothing at 48 (a = 0.046), so the bound takes the attention share at its largest
    (``ATTENTION_SHARE_MAX``): (1 - s) a + s a^2 >= (1 - s) a. The area ratio is the smaller
    of the exact one and the one of the stride-32 maps (``ceil(side / 32)``): a size that is
    not a multiple of 32 pads the deep stages (tinynet_e published at 106: its 4x4 deep maps
    are 1.46 times the exact area), so its published MACs grow slower than the area.
    """
    area = _area_ratio(resolution, entry.accuracy.eval_size)
    factor = area if area >= 1 else max(area * area, (1 - ATTENTION_SHARE_MAX) * area)
    return max(0, round((entry.macs - 5e6) * MAC_SLACK * factor))


def _area_ratio(resolution: Pair, side: int) -> float:
    """min(exact area ratio, stride-32 map area ratio) from a square ``side`` to ``resolution``."""
    exact = resolution[0] * resolution[1] / side**2
    deep = -(-resolution[0] // 32) * -(-resolution[1] // 32) / (-(-side // 32)) ** 2
    return min(exact, deep)


def param_bound(entry: Entry) -> int:
    """A lower bound on ``entry``'s parameters at any input size (see ``PARAM_SLACK``)."""
    return max(0, round((entry.params - 5e3) * PARAM_SLACK))


@dataclass(frozen=True)
class SearchSummary(Serialized):
    """How ``--backbone auto`` narrowed the accuracy table down (counts of architectures).

    ``candidates``: architectures searched (after ``--family``), each with its most accurate
    weight; ``pruned_params`` / ``pruned_macs``: excluded by a published lower bound without
    profiling; ``pruned_front``: skipped because a more accurate option already costs no
    more (off the accuracy-cost front); ``profiled``: traced on the meta device;
    ``rejected_k`` / ``over_budget``: profiled, then excluded by the k rule or a budget;
    ``resized``: profiled, then excluded because the network resizes its input to its own
    size (CrossViT): the level's size never reaches it, and its MACs do not follow the bound;
    ``measured``: latencies measured; ``missing``: names timm does not list; ``failed``:
    architectures that could not be profiled at the level's size; ``not_reached``: less
    accurate than the last front option found (the walk stops after ``top`` of them).

    Example:
        >>> scope = archcalc.SearchScope(family="resnet18")
        >>> s = archcalc.search_backbones("coarse", scope=scope, latency=False)
        >>> s.search.candidates, s.search.profiled
        (1, 1)
    """

    candidates: int
    pruned_params: int = 0
    pruned_macs: int = 0
    pruned_front: int = 0
    profiled: int = 0
    rejected_k: int = 0
    resized: int = 0
    over_budget: int = 0
    measured: int = 0
    missing: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    family: str | None = None
    not_reached: int = 0

    def text(self) -> str:
        """``900 architectures: 850 excluded by published bounds, ...`` for the reasons."""
        family = f" matching {self.family!r}" if self.family else ""
        return (
            f"searched {self.candidates} architectures{family}: "
            f"{self.pruned_params + self.pruned_macs} excluded by published lower bounds "
            f"(params, MACs scaled by area), {self.pruned_front} off the accuracy-cost front, "
            f"{self.profiled} profiled (meta device; {self.rejected_k} failed the k rule, "
            f"{self.resized} resize their input, {self.over_budget} over budget), "
            f"{self.measured} timed, {self.not_reached} "
            "less accurate ones not needed"
        )


@dataclass(frozen=True)
class Front:
    """The search's answer (``search.search``): front options (most accurate first), their
    backbones, the summary and notes."""

    options: tuple[Option, ...]
    backbones: tuple[Backbone, ...]
    summary: SearchSummary
    notes: tuple[str, ...] = ()


def auto_reason(name: str, acc: Accuracy, search: SearchSummary) -> str:
    """Why the search chose ``name``: its published accuracy, the transfer evidence, the search."""
    return (
        f"backbone: {name}, the most accurate option at this size that keeps k in the window "
        f"and fits the budgets: fine-tune from the {acc.tag} weights, ImageNet-1k top-1 "
        f"{acc.top1:.2f}% (top-5 {acc.top5:.2f}%) at {acc.eval_size}x{acc.eval_size} "
        f"({acc.source}); ImageNet accuracy predicts accuracy after fine-tuning (Kornblith et "
        f"al., CVPR 2019: r = 0.96 over 12 datasets); {search.text()}"
    )


def fixres_reason(name: str, acc: Accuracy, resolution: Pair) -> list[str]:
    """The test-time size advice where the weights were evaluated above (or below) their
    training size (FixRes); empty where both sizes agree."""
    if acc.eval_size == acc.train_size:
        return []
    ratio = acc.eval_size / acc.train_size
    scaled = (round(resolution[0] * ratio), round(resolution[1] * ratio))
    return [
        f"test-time size (FixRes): {name} was trained at {acc.train_size}x{acc.train_size} and "
        f"its published top-1 is measured at {acc.eval_size}x{acc.eval_size} (crop_pct "
        f"{acc.crop_pct:g}); random-resized-crop training shows objects larger than a centre "
        "crop does at test, so testing above the training size recovers accuracy (Touvron et "
        "al., 'Fixing the train-test resolution discrepancy', NeurIPS 2019); after training at "
        f"{size(resolution)}, also evaluate at {size(scaled)} ({acc.eval_size}/"
        f"{acc.train_size} x {resolution[0]}) and keep the better"
    ]
