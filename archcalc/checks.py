"""Argument checks shared by every entry point (no torch): each raises a one-line error.

Also ``file_errors``, which turns an OS error on a path the user gave into such an error, the
counting conventions (which operations a MAC total includes) and the dtypes, so that the CLI
can offer them as choices without importing the counter or torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archcalc.errors import InvalidArgumentError, first_line
from archcalc.results import Pair

__all__ = [
    "CONVENTIONS",
    "DTYPES",
    "MAX_INPUT_BYTES",
    "check_convention",
    "check_dtype",
    "check_input_size",
    "check_limit",
    "check_positive",
    "file_errors",
    "input_bytes",
    "is_test_model",
]

#: ``core``: conv/linear/matmul/attention (papers, torchvision ``_ops``);
#: ``fvcore``: core + norm/pool/upsample terms (timm's published tables).
CONVENTIONS = ("core", "fvcore")
#: torch's dtype names, one vocabulary for timing, prediction and batch sizing: float16 and
#: bfloat16 mean ``torch.autocast`` (float32 weights; mixed precision when training).
DTYPES = ("float32", "float16", "bfloat16")
#: Largest input tensor accepted: beyond it even meta tensors overflow storage arithmetic.
MAX_INPUT_BYTES = 2**40


def is_test_model(name: str) -> bool:
    """timm's tiny ``test_*`` architectures (built for its own unit tests, not for use): the
    zoo commands (``sweep``, ``report``) leave them out unless asked (``--include-test``)."""
    return name.startswith("test_")


def check_convention(convention: str) -> str:
    """Return ``convention`` if known, else raise naming the choices."""
    if convention not in CONVENTIONS:
        raise InvalidArgumentError(
            f"unknown convention {convention!r}: use one of {', '.join(CONVENTIONS)}"
        )
    return convention


def check_dtype(dtype: Any) -> str:
    """Return ``dtype`` if it is one of ``DTYPES``, else raise naming them."""
    if dtype not in DTYPES:
        raise InvalidArgumentError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return str(dtype)


def check_positive(name: str, value: Any, *, optional: bool = False) -> int | None:
    """Return ``value`` if it is a positive int (or None when optional), else raise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_limit(name: str, value: Any) -> float | None:
    """A positive, finite number such as a budget (None when not set)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidArgumentError(f"{name} must be finite, got {value!r}")
    return float(value)


def input_bytes(batch_size: int, channels: int, resolution: Pair) -> int:
    """Bytes of a float32 input tensor of ``batch_size x channels x height x width``."""
    return 4 * batch_size * channels * resolution[0] * resolution[1]


def check_input_size(resolution: Pair, batch_size: int, in_chans: int) -> None:
    """Refuse an input tensor beyond ``MAX_INPUT_BYTES`` (float32) before building anything."""
    nbytes = input_bytes(batch_size, in_chans, resolution)
    if nbytes > MAX_INPUT_BYTES:
        raise InvalidArgumentError(
            f"an input of {batch_size}x{in_chans}x{resolution[0]}x{resolution[1]} is "
            f"{nbytes / 2**40:.1f} TiB in float32 (limit {MAX_INPUT_BYTES // 2**40} TiB): "
            "lower --batch-size or --in-chans"
        )


@contextmanager
def file_errors(path: str | Path, action: str) -> Iterator[None]:
    """Turn an ``OSError`` while ``action``-ing ``path`` (a file the user named: a folder that
    is a file, no permission, disk full) into a one-line InvalidArgumentError naming the path.

    Example: ``with file_errors(out, "write"): out.write_text(text)``.
    """
    try:
        yield
    except OSError as e:
        raise InvalidArgumentError(f"cannot {action} {path}: {_os_reason(e, Path(path))}") from e


def _os_reason(error: OSError, path: Path) -> str:
    """Why: a file where a folder of the path should be (the usual surprise), else the OS's text."""
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"{existing} is a file, not a folder; choose a path inside a folder"
    return error.strerror or first_line(error, with_type=True)
