"""Shared click options and parameter types (no torch import)."""

from __future__ import annotations

from typing import Any

import click

from archcalc.checks import CONVENTIONS
from archcalc.core.geometry import parse_resolution
from archcalc.errors import ArchcalcError, InvalidArgumentError
from archcalc.report.tables import FORMATS

__all__ = ["RESOLUTION", "check_device_use", "convention_option", "format_option", "res_option"]


class ResolutionType(click.ParamType):
    """``224`` or ``448x320`` -> ``(height, width)``, checked by ``parse_resolution``."""

    name = "RES"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_resolution(str(value))
        except ArchcalcError as e:
            self.fail(str(e), param, ctx)


RESOLUTION = ResolutionType()


def res_option(default: tuple[str, ...] = ("224",)) -> Any:
    """Repeatable ``--res`` (square side or HxW)."""
    return click.option(
        "--res",
        "resolutions",
        type=RESOLUTION,
        multiple=True,
        default=default,
        show_default=True,
        help="Input size: a side (224) or HEIGHTxWIDTH (448x320). Repeat for several.",
    )


def format_option() -> Any:
    """``--format table|json|markdown|csv``."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format; json is the stable schema documented in the README.",
    )


def check_device_use(device: str, latency: bool) -> None:
    """Refuse ``--device`` without ``--latency``: static numbers are always traced on the meta
    device, so the option would be ignored without a word."""
    if device != "cpu" and not latency:
        raise InvalidArgumentError(
            f"--device {device} is where --latency measures; static numbers are traced on the "
            "meta device: add --latency or drop --device"
        )


def convention_option() -> Any:
    """``--convention core|fvcore``: which operations the MACs count."""
    return click.option(
        "--convention",
        type=click.Choice(CONVENTIONS),
        default="core",
        show_default=True,
        help="core: conv/linear/matmul/attention (papers, torchvision); "
        "fvcore: adds norm/pool/upsample terms (timm's published tables).",
    )
