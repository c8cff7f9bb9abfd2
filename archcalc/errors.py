"""The exception hierarchy: every user mistake is an ``ArchcalcError`` with a one-line message."""

from __future__ import annotations

import re

__all__ = [
    "ArchcalcError",
    "ArchitectureDefectError",
    "DeviceUnavailableError",
    "InsufficientMemoryError",
    "InvalidArgumentError",
    "InvalidResolutionError",
    "TraceError",
    "UnknownModelError",
    "first_line",
    "without_lead",
]


class ArchcalcError(Exception):
    """Base class: a problem the user can fix; the CLI prints it in one line and exits 2."""


class UnknownModelError(ArchcalcError):
    """The model name is not a timm architecture (the message lists the closest names)."""


class InvalidResolutionError(ArchcalcError):
    """The resolution is not a positive size the tool can trace (or is absurdly large)."""


class InvalidArgumentError(ArchcalcError):
    """Any other bad value: convention, batch size, channels, output stride, device name."""


class TraceError(ArchcalcError):
    """The model's own forward failed at this size; the message names model, size and cause."""


class ArchitectureDefectError(TraceError):
    """The model fails at the size asked for and at its own default size alike: a defect of
    the architecture (or of its trace), not of the size; the message says "fails at every
    size tried"."""


class DeviceUnavailableError(ArchcalcError):
    """The requested device (e.g. CUDA) is not visible on this machine."""


class InsufficientMemoryError(ArchcalcError):
    """The model does not fit at this size and batch: refused up front or out of memory."""


def first_line(error: BaseException, *, whole: bool = False, with_type: bool = False) -> str:
    """An exception's message on one line: its first line, or with ``whole`` every line joined
    (sweep results keep all of it); its type name when the message is empty, and prefixed
    ``TypeName: `` with ``with_type``."""
    text = " ".join(str(error).split()) if whole else str(error).strip()
    if not text:
        return type(error).__name__
    line = text if whole else text.splitlines()[0].strip()
    return f"{type(error).__name__}: {line}" if with_type else line


def without_lead(error: BaseException) -> str:
    """A trace or build failure's message without its "<model> fails at HxW: " lead (what is
    left is the cause, to quote after another lead)."""
    lead = r"^.*?(?:fails at|cannot be built for|at) \d+x\d+:\s*"
    return re.sub(lead, "", first_line(error), count=1)
