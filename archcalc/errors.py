"""The exception hierarchy: every user mistake is an ``ArchcalcError`` with a one-line message.

``ArchcalcError``
    ``UnknownModelError``, ``InvalidResolutionError``, ``TraceError``,
    ``DeviceUnavailableError``, ``InsufficientMemoryError``, ``WorkerCrashError``;
    ``InvalidArgumentError`` (also a ``ValueError``), and below it ``NothingFitsError``.

The CLI prints any of them as one line and exits 2.
"""

from __future__ import annotations

import re

__all__ = [
    "ArchcalcError",
    "ArchitectureDefectError",
    "DataVersionWarning",
    "DeviceUnavailableError",
    "InsufficientMemoryError",
    "InvalidArgumentError",
    "InvalidResolutionError",
    "NothingFitsError",
    "TraceError",
    "UnknownModelError",
    "WorkerCrashError",
    "first_line",
    "without_lead",
]


class ArchcalcError(Exception):
    """Base class: a problem the user can fix; the CLI prints it in one line and exits 2.

    Catch it to handle every mistake archcalc reports, whatever its kind.

    Examples:
        >>> try:
        ...     archcalc.profile("resnet5O")
        ... except archcalc.ArchcalcError as e:
        ...     print(e)
        unknown model 'resnet5O'; closest: resnet50, resnet51q, resnet50t, resnet50s, resnet50d
    """


class DataVersionWarning(UserWarning):
    """Data shipped with or saved by archcalc (op features, a target) was made with another
    feature version, torch or timm than the one running: predictions may differ from the
    ones its error was measured with. Issued once per file, in one line (the CLI prints
    ``warning: ...``).
    """


class UnknownModelError(ArchcalcError):
    """The model name is not a timm architecture (the message lists the closest names).

    Example:
        >>> archcalc.profile("resnet5O")  # doctest: +SKIP
        UnknownModelError: unknown model 'resnet5O'; closest: resnet50, resnet51q, ...
    """


class InvalidResolutionError(ArchcalcError):
    """The resolution is not a positive size the tool can trace (or is absurdly large).

    Example:
        >>> archcalc.profile("resnet18", 0)  # doctest: +SKIP
        InvalidResolutionError: resolution sides must be positive, got 0x0
    """


class InvalidArgumentError(ArchcalcError, ValueError):
    """Any other bad value: convention, batch size, channels, output stride, device name.

    Also a ``ValueError``, so ``except ValueError`` catches a bad argument as it would from
    any other library.

    Example:
        >>> try:
        ...     archcalc.profile("resnet18", 224, batch_size=0)
        ... except ValueError as e:
        ...     print(e)
        batch_size must be a positive integer, got 0
    """


class NothingFitsError(InvalidArgumentError):
    """No candidate meets the budgets (``search_backbones`` with ``max_gmacs`` and the like);
    the message gives the counts of the search and the fix: relax a budget.

    Example:
        >>> try:
        ...     archcalc.search_backbones("coarse", max_gmacs=1e-6, latency=False)
        ... except archcalc.NothingFitsError as e:  # also an InvalidArgumentError, a ValueError
        ...     print(e)  # doctest: +SKIP
    """


class TraceError(ArchcalcError):
    """The model's own forward failed at this size; the message names model, size and cause.

    Example:
        >>> archcalc.profile(torch.nn.Linear(3, 4), 16)  # doctest: +SKIP
        TraceError: Linear fails at 16x16: RuntimeError: a and b must have same reduction dim, ...
    """


class ArchitectureDefectError(TraceError):
    """The model fails at the size asked for and at its own default size alike: a defect of
    the architecture (or of its trace), not of the size; the message says "fails at every
    size tried".

    Example:
        >>> try:
        ...     archcalc.profile(broken_model_name, 224)  # doctest: +SKIP
        ... except archcalc.ArchitectureDefectError as e:
        ...     print(e)  # "<name> fails at every size tried (224x224): ..."
    """


class DeviceUnavailableError(ArchcalcError):
    """The requested device (e.g. CUDA) is not visible on this machine.

    Example:
        >>> # on a machine without a GPU
        >>> archcalc.measure("resnet18", settings=archcalc.TimingSettings(device="cuda"))
        ... # doctest: +SKIP
        DeviceUnavailableError: no CUDA device is visible (asked for 'cuda'); use --device cpu
    """


class InsufficientMemoryError(ArchcalcError):
    """The model does not fit at this size and batch: refused up front or out of memory.

    Example:
        >>> archcalc.measure("vit_huge_patch14_224", 224, batch_size=4096)  # doctest: +SKIP
        InsufficientMemoryError: ... batch 4096 needs about ...
    """


class WorkerCrashError(ArchcalcError):
    """A sweep's worker process died, failed or timed out before it could take a task (a
    crash while running a task is that task's ``error`` line instead).

    Example:
        >>> try:
        ...     archcalc.run_sweep(models, sizes, out="s.jsonl")
        ... except archcalc.WorkerCrashError as e:  # doctest: +SKIP
        ...     print(e)  # which worker, and why it could not start
    """


def first_line(error: BaseException, *, whole: bool = False, with_type: bool = False) -> str:
    """An exception's message on one line, as the CLI and sweep error lines show it.

    Args:
        error: any exception.
        whole: join every line of the message instead of keeping the first (sweep results
            keep all of it).
        with_type: prefix the message with ``TypeName: ``.

    Returns:
        The line; the exception's type name when its message is empty.

    Examples:
        >>> first_line(ValueError("bad size\nmore detail"), with_type=True)
        'ValueError: bad size'
    """
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
