"""Task levels: names and aliases, and custom level tables from TOML, JSON and YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from archcalc.errors import InvalidArgumentError
from archcalc.recommend.levels import LEVELS, find_level, levels_from_data, load_levels


@pytest.mark.parametrize(
    ("task", "name", "side"),
    [
        ("coarse", "coarse", 224),
        ("generic", "coarse", 224),
        ("Fine-Grained", "fine-grained", 448),
        ("fine_grained", "fine-grained", 448),
        ("fine", "fine-grained", 448),
        ("region", "region", 48),
        ("crop", "region", 48),
        ("part", "region", 48),
    ],
)
def test_find_level_by_name_or_alias(task: str, name: str, side: int) -> None:
    level = find_level(task)
    assert (level.name, level.resolution) == (name, (side, side))


def test_unknown_level_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgumentError, match=r"unknown task level 'medium'.*coarse"):
        find_level("medium")


TOML = """
[levels.xray]
resolution = "512x384"
example = "chest x-ray findings"
aliases = ["radiograph"]
large_k_expected = true

[levels.region]
resolution = 64
"""

JSON = '{"levels": {"xray": {"resolution": [512, 384], "example": "chest x-ray findings", '
JSON += '"aliases": ["radiograph"], "large_k_expected": true}, "region": {"resolution": 64}}}'

YAML = """
levels:
  xray: {resolution: 512x384, example: chest x-ray findings, aliases: [radiograph],
         large_k_expected: true}
  region: {resolution: 64}
"""


@pytest.mark.parametrize(("suffix", "text"), [(".toml", TOML), (".json", JSON), (".yaml", YAML)])
def test_load_levels_adds_and_overrides(tmp_path: Path, suffix: str, text: str) -> None:
    if suffix == ".yaml":
        pytest.importorskip("yaml")
    path = tmp_path / f"levels{suffix}"
    path.write_text(text)
    levels = load_levels(path)
    xray = find_level("radiograph", levels)
    assert (xray.name, xray.resolution, xray.large_k_expected) == ("xray", (512, 384), True)
    region = find_level("crop", levels)  # overridden size, built-in aliases and advice kept
    assert region.resolution == (64, 64)
    assert region.example == find_level("region").example
    assert len(levels) == len(LEVELS) + 1


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.toml", "levels = [", "invalid levels file"),
        ("bad.json", "{", "invalid levels file"),
        ("bad.toml", "[levels.x]\nexample = 'no size'\n", "needs a resolution"),
        ("bad.toml", "[levels.x]\nresolution = 'big'\n", "not a size"),
        ("bad.toml", "[levels.x]\nresolution = 96\ncolour = 1\n", "unknown key"),
        ("bad.toml", "[levels.x]\nresolution = 96\naliases = 'y'\n", "aliases must be a list"),
        ("bad.json", "[1, 2]", "must hold a table"),
        ("bad.ini", "[levels]", "must end in .toml"),
    ],
)
def test_bad_levels_files_are_one_line_errors(
    tmp_path: Path, name: str, text: str, match: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=match) as info:
        load_levels(path)
    assert "\n" not in str(info.value)


def test_missing_levels_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot read levels file"):
        load_levels(tmp_path / "nope.toml")


def test_levels_from_data_accepts_a_bare_table() -> None:
    levels = levels_from_data({"tiny": {"resolution": 32}})
    assert find_level("tiny", levels).resolution == (32, 32)
