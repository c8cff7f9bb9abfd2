"""Which input sizes a model accepts: ``check_resolution`` and ``size_range`` (and inspect's
notes), judged from the size rules read off the model prepared at its default size."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from archcalc.checks import check_positive
from archcalc.core.geometry import MAX_SIDE, parse_resolution
from archcalc.errors import InvalidArgumentError
from archcalc.profiling.prepare import read_rules
from archcalc.results import Pair
from archcalc.sizes.validity import SizeRange, Validity, judge, size_notes, sizes_between

__all__ = ["check_resolution", "inspect_size_notes", "size_range"]


def check_resolution(
    model: str | nn.Module,
    resolution: int | str | tuple[int, int],
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
) -> Validity:
    """Judge ``resolution`` for ``model`` from rules read off its modules (meta device only).

    Args:
        model: timm name or ``nn.Module`` (a module is read at ``resolution``).
        resolution: ``224``, ``"448x320"`` or ``(448, 320)``.
        in_chans, output_stride: as the model would be built.

    Returns:
        A ``Validity``: valid or not and why, aligned, final map, nearest valid sizes and the
            constructor arguments archcalc builds with to lift a rule.

    Raises:
        InvalidArgumentError: a malformed resolution or a non-positive count.
        UnknownModelError: a name timm does not list.

    Example:
        >>> archcalc.check_resolution("swin_tiny_patch4_window7_224", 230).reason
        'swin_tiny_patch4_window7_224 cannot run at 230x230: ...; nearest valid: 224x224, ...'
    """
    res = parse_resolution(resolution)
    check_positive("in_chans", in_chans)
    check_positive("output_stride", output_stride, optional=True)
    rules = read_rules(model, in_chans=in_chans, output_stride=output_stride, reference=res)
    return judge(rules, res)


def size_range(
    model: str | nn.Module,
    min_resolution: int = 32,
    max_resolution: int = 1024,
    *,
    aligned: bool = True,
    in_chans: int = 3,
    output_stride: int | None = None,
) -> SizeRange:
    """Square sides in ``[min_resolution, max_resolution]`` that ``model`` runs at, with the
    k each gives.

    Args:
        model: timm name or ``nn.Module``.
        min_resolution, max_resolution: the range of square sides.
        aligned: only aligned sides (no pixel dropped, no padded window); False lists every
            side the model runs at.
        in_chans, output_stride: as the model would be built.

    Returns:
        A ``SizeRange``: ``(side, k, aligned)`` per side, the global stride, the smallest size.

    Raises:
        InvalidArgumentError: a bad range (``1 <= min <= max <= MAX_SIDE``, 16384) or a bad
            build argument.
        UnknownModelError: ``model`` is not a timm name.

    Example:
        >>> [s for s, k, ok in archcalc.size_range("resnet18", 200, 260).sizes]
        [224, 256]
    """
    low, high = min_resolution, max_resolution
    check_positive("min", low)
    check_positive("max", high)
    check_positive("in_chans", in_chans)
    check_positive("output_stride", output_stride, optional=True)
    if low > high or high > MAX_SIDE:
        raise InvalidArgumentError(f"need 1 <= min <= max <= {MAX_SIDE}, got min {low}, max {high}")
    rules = read_rules(model, in_chans=in_chans, output_stride=output_stride)
    return sizes_between(rules, low, high, aligned=aligned)


def inspect_size_notes(
    model: str | nn.Module,
    resolutions: Sequence[Pair],
    *,
    in_chans: int = 3,
    output_stride: int | None = None,
) -> list[str]:
    """Lifted constraints and padded windows at each size, for ``inspect`` (timm names only)."""
    if not isinstance(model, str):
        return []
    rules = read_rules(model, in_chans=in_chans, output_stride=output_stride)
    return size_notes(rules, resolutions)
