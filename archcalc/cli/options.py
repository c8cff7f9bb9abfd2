"""Shared click options and parameter types (no torch import)."""

from __future__ import annotations

from typing import Any

import click

from archcalc.checks import CONVENTIONS, DTYPES
from archcalc.core.geometry import parse_resolution
from archcalc.display import FORMATS
from archcalc.errors import ArchcalcError, InvalidArgumentError

__all__ = [
    "RESOLUTION",
    "cache_arguments",
    "check_device_use",
    "convention_option",
    "dtype_option",
    "format_option",
    "no_cache_option",
    "reparameterize_option",
    "res_option",
]


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


def batch_size_option(help_text: str = "Images per batch.") -> Any:
    """``--batch-size N`` (default 1); what the batch is for is the command's ``help_text``."""
    return click.option("--batch-size", type=int, default=1, show_default=True, help=help_text)


def format_option() -> Any:
    """``--format table|json|markdown|csv``."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format; json is the stable schema documented in docs/schemas.md.",
    )


def dtype_option(default: str | None = "float32", note: str = "") -> Any:
    """``--dtype float32|float16|bfloat16``, torch's names; ``note`` says what it is for in
    the command (after the shared meaning)."""
    return click.option(
        "--dtype",
        type=click.Choice(DTYPES),
        default=default,
        show_default=default is not None,
        help=" ".join(["float16/bfloat16 run under torch.autocast.", note]).strip(),
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


def no_cache_option() -> Any:
    """``--no-cache``: compute afresh, neither reading nor writing the result cache."""
    return click.option(
        "--no-cache",
        is_flag=True,
        help="Compute afresh: neither read nor write the result cache ('archcalc cache info').",
    )


def cache_arguments() -> dict[str, Any]:
    """Every argument of the running command except how it is shown (``--format``) and
    ``--no-cache``: what a result-cache key holds besides versions and source."""
    params = click.get_current_context().params
    return {k: v for k, v in params.items() if k not in ("fmt", "no_cache")}


def reparameterize_option() -> Any:
    """``--reparameterize``: the fused deploy form of a re-parameterizable net."""
    return click.option(
        "--reparameterize",
        is_flag=True,
        help="Use the fused deploy form (timm's reparameterize_model: MobileOne, RepVGG, "
        "FastViT, RepViT, LeViT...): what is deployed, not what is trained.",
    )
