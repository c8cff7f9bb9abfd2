"""Size arithmetic: resolution parsing, stride factors, token grids, aligned neighbours."""

from __future__ import annotations

import pytest

from archcalc.core.geometry import (
    aligned_neighbours,
    compose_stride,
    downsample_factor,
    parse_resolution,
    token_grid,
)
from archcalc.errors import InvalidResolutionError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (224, (224, 224)),
        ("224", (224, 224)),
        ("448x320", (448, 320)),
        ("448×320", (448, 320)),  # noqa: RUF001 - the multiplication sign is accepted on purpose
        (" 96 , 64 ", (96, 64)),
        ((513, 257), (513, 257)),
        ([32, 48], (32, 48)),
    ],
)
def test_parse_resolution(value: object, expected: tuple[int, int]) -> None:
    assert parse_resolution(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", [0, -1, "0", "224x", "x224", "abc", "", 2.5, True, (224,), (224, 0), 100000, "1e3"]
)
def test_parse_resolution_rejects(value: object) -> None:
    with pytest.raises(InvalidResolutionError):
        parse_resolution(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "after", "hint", "factor"),
    [
        (224, 112, None, 2),  # exact
        (224, 14, None, 16),  # ViT patch 16, exact
        (7, 4, None, 2),  # ceil(7 / 2) = 4: "same" padding on an odd map
        (3, 2, None, 2),  # resnet18 at 48: layer4 turns 3x3 into 2x2
        (50, 3, None, 16),  # floor(50 / 16) = 3; 13..24 also fit, 16 is the power of two
        (50, 3, 14, 14),  # a declared patch size of 14 wins over the power of two
        (224, 224, None, 1),  # no change
        (7, 5, None, 1),  # a "valid" 3x3 conv shrinks without downsampling
        (14, 28, None, 1),  # upsampling is not a downsampling factor
        (1, 1, 2, 2),  # a stride-2 conv keeps a 1x1 map 1x1: the declared reduction decides
        (1, 1, None, 1),  # ... and without a declaration nothing shows the stride
    ],
)
def test_downsample_factor(before: int, after: int, hint: int | None, factor: int) -> None:
    assert downsample_factor(before, after, hint) == factor


def test_compose_stride_resnet18_at_48() -> None:
    # resnet18 at 48: 24, 12, 6, 3, 2 -> strides 2, 4, 8, 16, 32 (not 24 = 48 / 2)
    maps = [(24, 24), (12, 12), (6, 6), (3, 3), (2, 2)]
    assert [s[0] for s in compose_stride((48, 48), maps)] == [2, 4, 8, 16, 32]


def test_compose_stride_non_square() -> None:
    assert compose_stride((448, 320), [(112, 80), (14, 10)]) == [(4, 4), (32, 32)]


@pytest.mark.parametrize(
    ("tokens", "grids", "expected"),
    [
        (197, [(14, 14)], ((14, 14), 1)),  # ViT-B/16: 196 patches + class token
        (198, [(14, 14)], ((14, 14), 2)),  # DeiT distilled: class + distillation token
        (261, [(16, 16)], ((16, 16), 5)),  # patch14 at 224 with 4 registers + class
        (196, [], ((14, 14), 0)),  # no conv seen: 224 / 16 = 14 per side
    ],
)
def test_token_grid(
    tokens: int, grids: list[tuple[int, int]], expected: tuple[tuple[int, int], int]
) -> None:
    assert token_grid(tokens, grids, (224, 224)) == expected


@pytest.mark.parametrize(
    ("side", "stride", "expected"),
    [(48, 32, (32, 64)), (224, 32, (224, 256)), (20, 32, (None, 32)), (300, 32, (288, 320))],
)
def test_aligned_neighbours(side: int, stride: int, expected: tuple[int | None, int]) -> None:
    assert aligned_neighbours(side, stride) == expected
