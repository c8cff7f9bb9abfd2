"""The training start of the sizing rules (§5, docs/rules.md) as data, with reasons (no torch).

What to train with before the first serious run: Adam at lr 1e-3 with betas (0.9, 0.999),
weight decay 0 (or very small) at first, batch norm and dropout in the right mode for training
and evaluation (the classic "trains fine, tests wrong" bug when mixed up), and about 3,000
images from one distribution. A levels file overrides any field (``[training]`` for every level,
``[levels.NAME.training]`` for one); a value overridden without its reason gets the reason
"set in your levels file", so no reason cites the notes for a value they never gave.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archcalc.errors import InvalidArgumentError
from archcalc.serialize import Serialized

__all__ = ["TRAINING", "Training", "training_from_data"]

_NOTES = "rules §5"
_FROM_FILE = "set in your levels file"


@dataclass(frozen=True)
class Training(Serialized):
    """Training defaults, each value beside the reason for it.

    ``train_mode`` / ``eval_mode``: the PyTorch calls and what they switch (batch norm's batch
    vs running statistics, dropout on vs off). ``data_images``: the first amount of data, also
    the default epoch size for the training-step cost.
    """

    optimizer: str = "Adam"
    optimizer_reason: str = (
        f"the safe start; SGD can do better once you know what you are doing ({_NOTES})"
    )
    lr: float = 1e-3
    lr_reason: str = f"the safe start with Adam ({_NOTES})"
    betas: tuple[float, float] = (0.9, 0.999)
    betas_reason: str = f"Adam's usual (0.9, 0.999), part of the safe start ({_NOTES})"
    weight_decay: float = 0.0
    weight_decay_reason: str = f"start at 0 or very small, add it later ({_NOTES})"
    train_mode: str = (
        "model.train() before each training epoch: batch norm normalises with the batch's "
        "statistics and updates its running ones; dropout is active"
    )
    eval_mode: str = (
        "model.eval() and torch.inference_mode() for validation and test: batch norm uses its "
        "running statistics; dropout is off"
    )
    modes_reason: str = (
        "dropout only in training, batch norm in eval mode at test time; mixing these up "
        f"breaks training or evaluation silently ({_NOTES})"
    )
    data_images: int = 3000
    data_note: str = (
        "about 3,000 images for a binary task is a sensible first amount; start with one "
        f"clean, homogeneous distribution and widen it later ({_NOTES})"
    )


#: The notes' training start.
TRAINING = Training()

_REASONS = {
    "optimizer": "optimizer_reason",
    "lr": "lr_reason",
    "betas": "betas_reason",
    "weight_decay": "weight_decay_reason",
    "data_images": "data_note",
}
_TEXT = {f.name for f in dataclasses.fields(Training)} - {"lr", "betas", "weight_decay"}
_TEXT -= {"data_images"}


def training_from_data(data: Any, base: Training = TRAINING, where: str = "training") -> Training:
    """``base`` with the fields of a parsed ``training`` table replaced (checked, one-line errors).

    A value given without its reason gets the reason "set in your levels file".
    """
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(f"{where} must be a table of keys, got {data!r}")
    known = {f.name for f in dataclasses.fields(Training)}
    unknown = sorted(map(str, set(data) - known))
    if unknown:
        raise InvalidArgumentError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    changes: dict[str, Any] = {name: _value(name, data[name], where) for name in data}
    for name, reason in _REASONS.items():
        if name in changes and reason not in changes:
            changes[reason] = _FROM_FILE
    return dataclasses.replace(base, **changes)


def _value(name: str, value: Any, where: str) -> Any:
    """One field's value, checked for its type and range."""
    if name in _TEXT:
        if not isinstance(value, str) or not value.strip():
            raise InvalidArgumentError(f"{where}.{name} must be a non-empty string")
        return value
    if name == "data_images":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(f"{where}.data_images must be a positive integer")
        return value
    if name == "betas":
        ok = isinstance(value, list | tuple) and len(value) == 2
        if not ok or not all(_number(b) and 0 <= b < 1 for b in value):
            raise InvalidArgumentError(f"{where}.betas must be two numbers in [0, 1)")
        return (float(value[0]), float(value[1]))
    low_ok = (lambda v: v > 0) if name == "lr" else (lambda v: v >= 0)
    if not _number(value) or not low_ok(value):
        bound = "positive" if name == "lr" else "zero or positive"
        raise InvalidArgumentError(f"{where}.{name} must be a {bound} finite number")
    return float(value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
