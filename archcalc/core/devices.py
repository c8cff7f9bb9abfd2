"""Device names: parse and check ``meta``, ``cpu``, ``cuda`` and ``cuda:N`` before any work."""

from __future__ import annotations

import re

from archcalc import __version__
from archcalc.errors import DeviceUnavailableError, InvalidArgumentError
from archcalc.results import Environment

__all__ = ["DEVICES", "check_device", "device_name", "environment"]

DEVICES = ("meta", "cpu", "cuda")
_DEVICE_RE = re.compile(r"^(meta|cpu|cuda)(?::(\d+))?$")


def check_device(device: str, *, allow_meta: bool = True) -> str:
    """Return the normalised device string; raise if unknown or if CUDA is not visible."""
    match = _DEVICE_RE.match(str(device).strip().lower())
    choices = DEVICES if allow_meta else DEVICES[1:]
    if not match or match.group(1) not in choices:
        raise InvalidArgumentError(f"unknown device {device!r}: use one of {', '.join(choices)}")
    kind, index = match.group(1), match.group(2)
    if kind != "cuda":
        if index is not None:
            raise InvalidArgumentError(f"device {device!r} takes no index: use {kind!r}")
        return kind
    import torch

    if not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"no CUDA device is visible (asked for {device!r}); use --device cpu"
        )
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise DeviceUnavailableError(f"{device!r} does not exist: {count} CUDA device(s) visible")
    return f"cuda:{index or 0}"


def device_name(device: str) -> str:
    """A human name for the device: the GPU model for CUDA, the CPU architecture otherwise."""
    if device.startswith("cuda"):
        import torch

        return str(torch.cuda.get_device_name(device))
    if device == "cpu":
        import platform

        return f"cpu ({platform.machine() or 'unknown'})"
    return device


def environment(device: str, *, dtype: str = "float32", threads: int | None = None) -> Environment:
    """What produced a result: archcalc, torch and timm versions, device, dtype, CPU threads."""
    import torch

    from archcalc.core.build import timm_version

    return Environment(
        archcalc=__version__,
        torch=torch.__version__,
        timm=timm_version(),
        device=device_name(device),
        dtype=dtype,
        threads=torch.get_num_threads() if threads is None else threads,
    )
