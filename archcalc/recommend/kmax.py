"""The options that keep the final map at k <= 9 when the chosen one is larger (no torch).

Sizing rules §3 (docs/rules.md): above 9 x 9 the features are less abstract; fine-grained work
at 448 through a stride-32 network ends at 14 x 14 on purpose. Two ways back into the window:

* ``input``: the largest aligned input with k <= 9, i.e. 9 x the global stride per axis
  (288 for stride 32); a real option, profiled like the others.
* ``extra-stride``: the same input through one more 2 x 2 pooling stage after the last stage,
  before global pooling (global stride x 2: 448 through stride 64 ends at 7 x 7). Offered only
  where it is clean: a convolutional map with both sides even and k / 2 >= 3. Its MACs are the
  profile's own in the ``core`` convention, which counts no pooling, and the head after global
  pooling sees the same vector size. A 2 x 2 *max* pool it must be: an average pool followed
  by global average pooling gives exactly the pooled vector without it (the mean of equal
  blocks' means). A strided 3 x 3 convolution C -> C instead would learn the reduction at
  ``9 x C^2 x (k / 2)^2`` extra MACs (``strided_conv_macs``). It changes the architecture, so it is
  shown, never chosen; the pretrained weights still apply since the pool has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archcalc.formatting import billions, size, stride_text
from archcalc.recommend.levels import Level
from archcalc.recommend.rules import K_MAX, K_MIN
from archcalc.results import Pair, Profile
from archcalc.serialize import Serialized

__all__ = ["KAlternative", "above_window", "k_alternatives", "k_policy_reason", "k_window_side"]

#: The extra pooling stage's window and stride.
POOL = 2


@dataclass(frozen=True)
class KAlternative(Serialized):
    """One option with k <= 9: ``kind`` is ``input`` (a smaller input) or ``extra-stride``.

    ``reference_macs``: the MACs of the option with the larger map it replaces.
    """

    kind: str
    backbone: str
    resolution: Pair
    global_stride: Pair
    final_map: Pair
    macs: int
    reference_macs: int
    strided_conv_macs: int | None = None

    def describe(self) -> str:
        """``288x288 -> 9x9, 2.998 GMACs`` (with the extra stage for ``extra-stride``)."""
        what = size(self.resolution)
        if self.kind == "extra-stride":
            what += f" with one more 2x2 max pool (global stride {stride_text(self.global_stride)})"
        return f"{what} -> {size(self.final_map)}, {billions(self.macs)} GMACs"


def above_window(p: Profile) -> bool:
    """A convolutional final map above 9 x 9 (token grids follow other rules)."""
    return p.final_layout != "tokens" and max(p.final_map) > K_MAX


def k_window_side(p: Profile) -> Pair:
    """The largest aligned input with k <= 9: 9 x the global stride on each axis."""
    return (K_MAX * p.global_stride[0], K_MAX * p.global_stride[1])


def _extra_stride(p: Profile) -> KAlternative | None:
    """The same input with one more 2 x 2 pooling stage, where that is clean (see module)."""
    if p.convention != "core" or any(k % POOL for k in p.final_map):
        return None
    k = (p.final_map[0] // POOL, p.final_map[1] // POOL)
    if min(k) < K_MIN:
        return None
    channels = p.final_channels
    conv = None if channels is None else 9 * channels * channels * k[0] * k[1]
    stride = (p.global_stride[0] * POOL, p.global_stride[1] * POOL)
    return KAlternative("extra-stride", p.model, p.resolution, stride, k, p.macs, p.macs, conv)


def k_alternatives(reference: Profile, profiles: Sequence[Profile]) -> tuple[KAlternative, ...]:
    """The k <= 9 options for ``reference`` (empty unless its map is above 9 x 9).

    ``input`` comes from ``profiles`` (same backbone and output stride at 9 x the global
    stride) when it was profiled; ``extra-stride`` is derived from ``reference`` itself.
    """
    if not above_window(reference):
        return ()
    side = k_window_side(reference)
    same = (reference.model, side, reference.output_stride)
    ref = reference.macs
    found = [
        KAlternative("input", p.model, p.resolution, p.global_stride, p.final_map, p.macs, ref)
        for p in profiles
        if (p.model, p.resolution, p.output_stride) == same and max(p.final_map) <= K_MAX
    ]
    extra = _extra_stride(reference)
    return tuple(found[:1] + ([extra] if extra else []))


def k_policy_reason(
    level: Level, chosen: Profile, reference: Profile, alternatives: Sequence[KAlternative]
) -> str | None:
    """Why the map above 9 x 9 was kept, or why the k <= 9 input was chosen instead."""
    if not alternatives:
        return None
    listed = "; ".join(_line(a, reference) for a in alternatives)
    where = f"{size(reference.resolution)} -> {size(reference.final_map)}"
    if chosen is not reference:
        return (
            f"k <= 9: chose {size(chosen.resolution)} -> {size(chosen.final_map)} over {where}, "
            f"{billions(reference.macs)} GMACs, because level {level.name}'s k_max_policy is "
            f"prefer-k9; the options that keep k <= 9: {listed}"
        )
    if level.k_max_policy == "prefer-k9":
        return (
            f"k <= 9: level {level.name}'s k_max_policy is prefer-k9, but no profiled input with "
            f"k <= 9 was within reach, so {where} stays; the options that keep k <= 9: {listed}"
        )
    why = (
        "small objects keep their cells in the larger map"
        if level.pixels.min_object_px is not None
        else "fine-grained detail survives in the larger map"
        if level.large_k_expected
        else "it is the level's size"
    )
    return (
        f"k <= 9: kept {where} because {why} (k_max_policy keep-large; set k_max_policy = "
        f'"prefer-k9" for level {level.name} in a levels file to choose the smaller input); the '
        f"options that keep k <= 9: {listed} (rules §3)"
    )


def _line(a: KAlternative, reference: Profile) -> str:
    """One alternative with its MACs relative to the reference option."""
    share = f"{100 * a.macs / reference.macs:.0f}%" if reference.macs else "-"
    text = f"{a.describe()} ({share} of {size(reference.resolution)}'s MACs"
    if a.kind == "extra-stride":
        text += "; the pool adds no MACs, an average pool would change nothing before global "
        text += "average pooling"
        if a.strided_conv_macs is not None:
            text += f"; a stride-2 3x3 conv instead adds {billions(a.strided_conv_macs)} GMACs"
    return text + ")"
