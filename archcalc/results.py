"""The profile report: frozen dataclasses of raw integers, with a stable JSON form (no torch).

Units are in the key names or fixed: sizes in pixels, counts as integers, memory in bytes.
``Profile.to_dict()`` is the JSON object ``archcalc/schemas/profile.json`` describes (written by
``archcalc.serialize`` from the fields and their metadata); ``from_dict`` reads it back, also
from files of older schema versions, so reports written by one run can be loaded by another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archcalc.display import Summarised, Summary
from archcalc.formatting import billions, field_text, mebibytes, millions, size, stride_text
from archcalc.serialize import Serialized, json_field

__all__ = [
    "INSPECT_HEADERS",
    "SCHEMA_VERSION",
    "STAGE_HEADERS",
    "Environment",
    "Identity",
    "LayerRow",
    "Memory",
    "Profile",
    "ReceptiveField",
    "Stage",
    "fused_note",
    "inspect_notes",
    "inspect_rows",
    "stage_rows",
]

#: Bumped whenever a key is renamed or its meaning changes (adding keys does not bump it).
#: 2: the receptive field per stage and for the final map (version-1 lines still load).
#: 3: a suggestion's ``train_batches[].precision`` (``fp32``/``amp``) became ``dtype``
#: (``float32``/``float16``/``bfloat16``, torch's names).
SCHEMA_VERSION = 3

Pair = tuple[int, int]


@dataclass(frozen=True)
class ReceptiveField(Serialized):
    """The input pixels one cell of a map sees (theoretical: unbounded by the input's borders).

    ``context``: ``local`` (the cell sees exactly ``size``), ``gate`` (``size`` is the field of
    the convolutional path, and global context -- a squeeze-and-excitation or global-context
    gate, a group norm's statistics -- also reaches every cell), ``global`` (an operation mixes
    every position, e.g. global self-attention: the cell sees the whole input; ``size`` is None)
    or ``unknown`` (``size`` is None and ``reason`` says which operation could not be analysed).
    ``stride`` is the spacing of neighbouring cells' centres in input pixels (the largest cell's
    field when upsampling makes cells differ).

    Examples:
        >>> archcalc.profile("resnet18", 224).receptive_field
        ReceptiveField(size=(435, 435), stride=(32, 32), context='local', reason=None)
    """

    size: Pair | None
    stride: Pair | None
    context: str
    reason: str | None = None


@dataclass(frozen=True)
class Stage(Serialized):
    """One stage of the main path: the module whose output ends it, its map and the MACs it ran.

    The last entry may be the ``head`` (everything after the final map); its map fields are None.
    The stages' MACs add up to the profile's.

    Examples:
        >>> [(s.name, s.stride) for s in archcalc.profile("resnet18", 224).stages][-2:]
        [('layer4', (32, 32)), ('head', None)]
    """

    name: str
    height: int | None
    width: int | None
    channels: int | None
    stride: Pair | None
    macs: int
    receptive_field: ReceptiveField | None = None


@dataclass(frozen=True)
class Memory:
    """Bytes: weights, inference activations (sum and live peak), Adam training-step estimates.

    ``train_step_bytes`` = params + grads + two Adam moments (float32, 16 B per parameter) + the
    activations autograd saves for backward in float32; ``train_step_bytes_half`` keeps the
    float32 weights and optimizer state but saves the activations at 2 B (float16 or bfloat16
    autocast: the same width).
    """

    param_bytes: int
    buffer_bytes: int
    activation_bytes: int
    peak_activation_bytes: int
    saved_activation_bytes: int
    train_step_bytes: int
    train_step_bytes_half: int


@dataclass(frozen=True)
class Environment:
    """What produced the numbers: versions, device, dtype and CPU threads."""

    archcalc: str
    torch: str
    timm: str | None
    device: str
    dtype: str
    threads: int


@dataclass(frozen=True, kw_only=True)
class Identity(Serialized):
    """What identifies one result line: model, counting convention and the input tensor.

    Every line of a sweep starts with these keys, a profile's and a failure's alike, so that
    reruns and shards can be matched (``archcalc.sweep.run.line_key``).
    """

    schema_version: int = SCHEMA_VERSION
    model: str
    convention: str
    batch_size: int = json_field(group="input")
    channels: int = json_field(group="input")
    height: int = json_field(group="input")
    width: int = json_field(group="input")


@dataclass(frozen=True, kw_only=True)
class Profile(Identity, Summarised):
    """Static profile of one model at one input size (JSON Schema: archcalc/schemas/profile.json).

    Counts are raw integers for the whole batch (``macs`` in the ``convention`` given), memory
    in bytes; ``to_dict()`` is the JSON of docs/schemas.md and ``from_dict()`` reads it back.
    ``fusable``: timm's ``reparameterize_model`` would fuse the model for deployment;
    ``reparameterized``: these numbers are of that fused form (``reparameterize=True``).

    ``str()`` (and Jupyter) show its ``archcalc inspect`` row and notes; ``stages`` holds the
    per-stage table.

    Examples:
        >>> p = archcalc.profile("resnet18", 448)
        >>> p.final_map, p.global_stride, p.params, p.macs
        ((14, 14), (32, 32), 11689512, 7254757376)
    """

    output_stride: int | None
    global_stride: Pair
    final_map: Pair
    final_channels: int | None
    final_layout: str
    receptive_field: ReceptiveField | None = None
    prefix_tokens: int
    aligned: bool
    aligned_below: Pair | None
    aligned_above: Pair | None
    params: int
    trainable_params: int
    macs: int = json_field(then=("flops",))
    #: MACs of one training step: forward + backward (trainable parameters' gradients, none for
    #: the input), counted through autograd on meta; None where the backward was not traced.
    train_macs: int | None = None
    stages: tuple[Stage, ...]
    memory: Memory
    environment: Environment
    fusable: bool = False
    reparameterized: bool = False

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (one multiply-accumulate is two floating-point operations)."""
        return 2 * self.macs

    @property
    def resolution(self) -> Pair:
        """The input ``(height, width)``."""
        return (self.height, self.width)

    def __repr__(self) -> str:
        return (
            f"Profile(model={self.model!r}, resolution={self.resolution}, "
            f"batch_size={self.batch_size}, convention={self.convention!r}, "
            f"final_map={self.final_map}, macs={self.macs}, params={self.params})"
        )

    def _summary(self) -> Summary:
        return INSPECT_HEADERS, inspect_rows([self]), inspect_notes([self])


INSPECT_HEADERS = (
    "model",
    "res",
    "stride",
    "k x k",
    "RF (px)",
    "channels",
    "params (M)",
    "GMACs",
    "train GMACs",
    "act. (MB)",
    "peak act. (MB)",
    "train step (MB)",
)


def inspect_rows(profiles: Sequence[Profile]) -> list[list[str]]:
    """One row per profile: model, resolution, stride, final map, channels, size and memory."""
    return [
        [
            p.model,
            size(p.resolution),
            stride_text(p.global_stride),
            size(p.final_map),
            field_text(p.receptive_field),
            "-" if p.final_channels is None else str(p.final_channels),
            millions(p.params),
            billions(p.macs),
            "-" if p.train_macs is None else billions(p.train_macs),
            mebibytes(p.memory.activation_bytes),
            mebibytes(p.memory.peak_activation_bytes),
            mebibytes(p.memory.train_step_bytes),
        ]
        for p in profiles
    ]


STAGE_HEADERS = ("stage (module)", "map", "channels", "stride", "RF (px)", "GMACs", "share")


def stage_rows(p: Profile) -> list[list[str]]:
    """Per-stage rows of one profile, with each stage's share of the total MACs."""
    total = p.macs or 1
    return [
        [
            s.name,
            "-" if s.height is None or s.width is None else size((s.height, s.width)),
            "-" if s.channels is None else str(s.channels),
            stride_text(s.stride),
            field_text(s.receptive_field),
            billions(s.macs),
            f"{100 * s.macs / total:.1f}%",
        ]
        for s in p.stages
    ]


def inspect_notes(profiles: Sequence[Profile]) -> list[str]:
    """Footnotes: units and convention, alignment, token prefixes, the k x k window."""
    if not profiles:
        return []
    first = profiles[0]
    notes = [
        f"MACs: multiply-accumulates at batch {first.batch_size}, convention {first.convention!r} "
        "(FLOPs = 2 x MACs); train GMACs = forward + backward of one training step (every "
        "trainable parameter's gradient, none for the input); memory in MiB, float32; train "
        "step = Adam (weights, grads, 2 moments) + activations saved for backward.",
        "RF: the theoretical receptive field of one final cell, in input pixels (unbounded by "
        "the input's borders; + gate: global context also reaches every cell).",
    ]
    for p in profiles:
        where = f"{p.model} at {size(p.resolution)}"
        rf = p.receptive_field
        if rf is not None and rf.context == "unknown":
            notes.append(f"{where}: receptive field not analysed: {rf.reason}.")
        if not p.aligned:
            near = [size(s) for s in (p.aligned_below, p.aligned_above) if s is not None]
            nearest = "nearest aligned size" + ("s" if len(near) > 1 else "")
            notes.append(
                f"{where}: not a multiple of the global stride {stride_text(p.global_stride)}, "
                f"so the final map is {size(p.final_map)}; {nearest}: {' and '.join(near)}."
            )
        if p.reparameterized:
            notes.append(
                f"{where}: the fused deploy form (timm's reparameterize_model: branches and "
                "BatchNorms folded into single convolutions)."
            )
        if p.prefix_tokens:
            notes.append(
                f"{where}: tokens output, {p.prefix_tokens} prefix token(s) beside the "
                f"{size(p.final_map)} patch grid."
            )
    return notes


def fused_note(trained: Profile, fused: Profile) -> str:
    """What fusing changes: ``trained`` is the training-time form, ``fused`` the deploy form of
    the same model and size (``--reparameterize``)."""

    def change(before: int, after: int) -> str:
        return f"{100 * (after - before) / before:+.1f}%" if before else "n/a"

    return (
        f"{trained.model} has a fused deploy form (timm's reparameterize_model): at "
        f"{size(trained.resolution)} it has {billions(fused.macs)} GMACs "
        f"({change(trained.macs, fused.macs)}) and {millions(fused.params)} M params "
        f"({change(trained.params, fused.params)}); --reparameterize profiles it."
    )


@dataclass(frozen=True)
class LayerRow:
    """One module in the walk: its dotted depth, type, output shape and own parameters."""

    name: str
    kind: str
    depth: int
    output_shape: tuple[int, ...]
    params: int
