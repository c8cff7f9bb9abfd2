"""Counting conventions and their names (no torch): which operations a MAC total includes."""

from __future__ import annotations

from archcalc.errors import InvalidArgumentError

__all__ = ["CONVENTIONS", "check_convention"]

#: ``core``: conv/linear/matmul/attention (papers, torchvision ``_ops``);
#: ``fvcore``: core + norm/pool/upsample terms (timm's published tables).
CONVENTIONS = ("core", "fvcore")


def check_convention(convention: str) -> str:
    """Return ``convention`` if known, else raise naming the choices."""
    if convention not in CONVENTIONS:
        raise InvalidArgumentError(
            f"unknown convention {convention!r}: use one of {', '.join(CONVENTIONS)}"
        )
    return convention
