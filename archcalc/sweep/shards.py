"""Split a model list into N deterministic, disjoint shards (one per machine or array task).

Pure (no torch). ``--shard 2/8`` is zero-based (shards 0..7); ``--shard auto`` reads the index
and count from a Slurm job array or a Kubernetes indexed Job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from archcalc.errors import InvalidArgumentError

__all__ = ["Shard", "parse_shard", "shard_models"]

Shard = tuple[int, int]
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_models(models: Sequence[str], shard: Shard | None) -> list[str]:
    """The models of shard ``(index, count)``: every count-th name of the sorted unique list.

    Sorting makes the split independent of the order patterns were given in; round robin keeps
    the shards within one model of each other in size.

    Args:
        models: model names, in any order, duplicates allowed.
        shard: ``(index, count)`` from ``parse_shard``, or None for the whole list.

    Returns:
        The shard's names, sorted.

    Examples:
        >>> shard_models(["c", "a", "b", "a"], (1, 2))
        ['b']
    """
    unique = list(dict.fromkeys(models))
    if shard is None:
        return unique
    index, count = check_shard(shard)
    return sorted(unique)[index::count]


def check_shard(shard: Shard) -> Shard:
    """Return ``(index, count)`` if 0 <= index < count, else raise."""
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise InvalidArgumentError(
            f"shard {index}/{count} is out of range: use I/N with 0 <= I < N (zero-based)"
        )
    return index, count


def parse_shard(
    text: str | None, *, count: int | None = None, environ: Mapping[str, str] | None = None
) -> Shard | None:
    """Read ``sweep --shard``: which shard of the model list this process runs.

    Args:
        text: ``"I/N"`` (zero-based), ``"auto"`` (Slurm job arrays:
            ``SLURM_ARRAY_TASK_ID``/``_MIN``/``_STEP``/``_COUNT``; Kubernetes indexed Jobs:
            ``JOB_COMPLETION_INDEX`` with ``count``) or None.
        count: the shard count for Kubernetes (``--shard-count``).
        environ: the environment to read (``os.environ`` by default).

    Returns:
        ``(index, count)``, or None without ``text``.

    Raises:
        InvalidArgumentError: a malformed value, or ``auto`` outside Slurm and Kubernetes.

    Examples:
        >>> parse_shard("2/8"), parse_shard("auto", count=8, environ={"JOB_COMPLETION_INDEX": "3"})
        ((2, 8), (3, 8))
    """
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return _auto_shard(count, {} if environ is None else environ)
    match = _SHARD_RE.match(text)
    if not match:
        raise InvalidArgumentError(f"--shard must be I/N (e.g. 0/4) or auto, got {text!r}")
    return check_shard((int(match.group(1)), int(match.group(2))))


def _auto_shard(count: int | None, environ: Mapping[str, str]) -> Shard:
    """Slurm array (task id, min, step, count) or Kubernetes ``JOB_COMPLETION_INDEX`` + count."""
    if "SLURM_ARRAY_TASK_ID" in environ:
        task = _env_int(environ, "SLURM_ARRAY_TASK_ID")
        first = _env_int(environ, "SLURM_ARRAY_TASK_MIN", 0)
        step = _env_int(environ, "SLURM_ARRAY_TASK_STEP", 1) or 1
        total = count if count is not None else _env_int(environ, "SLURM_ARRAY_TASK_COUNT")
        return check_shard(((task - first) // step, total))
    if "JOB_COMPLETION_INDEX" in environ:
        if count is None:
            raise InvalidArgumentError(
                "--shard auto under a Kubernetes indexed Job needs --shard-count "
                "(the Job's completions)"
            )
        return check_shard((_env_int(environ, "JOB_COMPLETION_INDEX"), count))
    raise InvalidArgumentError(
        "--shard auto found neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX: "
        "run it as an array task / indexed Job, or give --shard I/N"
    )


def _env_int(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = environ.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(str(value))
    except ValueError as e:
        raise InvalidArgumentError(
            f"environment variable {name}={value!r} is not an integer"
        ) from e
