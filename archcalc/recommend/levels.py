"""Task levels of detail (coarse, fine-grained, region) and custom level tables (no torch).

A level says which input size suits a task (sizing rules §1, docs/rules.md): coarse whole-object
classes at 224, fine-grained classes at 448, a small pre-cropped region at 48. Teams can pass
their own table as a TOML, JSON or (with PyYAML installed) YAML file; its entries override the
built-in levels of the same name and add new ones. The file's ``training`` table overrides the
training start (``archcalc.recommend.training``) for every level, a level's own ``training``
table for that level; ``k_max_policy`` says whether a map above 9 x 9 is kept or the largest
input with k <= 9 is chosen. ``PixelTargets`` are what ``suggest --data`` sizes from (rules §6):
the pixels a level's decisive object should get, or, for the ``objects`` level, the pixels the
small objects must keep, and how far the images may be upsampled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from archcalc.core.geometry import parse_resolution
from archcalc.errors import ArchcalcError, InvalidArgumentError, first_line
from archcalc.recommend.training import TRAINING, Training, training_from_data
from archcalc.results import Pair

__all__ = [
    "K_MAX_POLICIES",
    "LEVELS",
    "Level",
    "PixelTargets",
    "find_level",
    "levels_from_data",
    "load_levels",
]

#: ``keep-large``: keep the level's size even when its map is above 9 x 9 (and show the
#: k <= 9 alternatives); ``prefer-k9``: choose the closest option whose map is at most 9 x 9.
K_MAX_POLICIES = ("keep-large", "prefer-k9")


@dataclass(frozen=True)
class PixelTargets:
    """What ``suggest --data`` sizes a level from (rules §6, docs/rules.md).

    ``object_px``: the side, in pixels, the decisive object (the median largest box) should
    span (coarse 140: ImageNet's 0.64 of a 224 crop; fine-grained 250: a bird at 448).
    ``min_object_px``: set for detection-style levels instead: the shorter side, in pixels,
    that the ``object_percentile``-th percentile of all boxes must keep. ``max_upsample``: the
    largest scale over the images' native size (beyond it a classification level keeps the
    native size, the objects level stops upsampling). ``max_side``: the longest input side
    the objects level feeds whole; beyond it, tiles of the level's size.
    """

    object_px: float | None = None
    min_object_px: float | None = None
    object_percentile: float = 10.0
    max_upsample: float = 2.0
    max_side: int = 1344


@dataclass(frozen=True)
class Level:
    """One level of detail: its input size, an example task and the advice that goes with it.

    ``large_k_expected``: a final map above 9 x 9 is intended at this level (fine-grained
    work at 448 ends at 14 x 14 on purpose). ``flip``: whether horizontal flips are safe.
    ``training``: the training start to print with it. ``k_max_policy``: one of
    ``K_MAX_POLICIES``. ``pixels``: the targets ``suggest --data`` sizes from.

    Example:
        >>> # a level of your own, passed to suggest(levels=...)
        >>> aerial = archcalc.Level("aerial", (512, 512), "ships in a harbour", "small objects")
        >>> archcalc.suggest("aerial", ["resnet18"], latency=False, levels=[aerial]).resolution
        (512, 512)
    """

    name: str
    resolution: Pair
    example: str
    signal: str
    aliases: tuple[str, ...] = ()
    large_k_expected: bool = False
    flip: str = "safe for most tasks; not for left/right-sensitive ones (depends on the task)"
    training: Training = TRAINING
    k_max_policy: str = "keep-large"
    pixels: PixelTargets = PixelTargets()


LEVELS: tuple[Level, ...] = (
    Level(
        name="coarse",
        resolution=(224, 224),
        example="cats vs dogs, scene type",
        signal="the whole object and its large shapes",
        aliases=("generic", "object", "scene", "whole"),
        flip="safe for whole-object classes such as cats vs dogs; not for left/right-sensitive "
        "classes (text, arrows, handedness): it depends on the task",
        pixels=PixelTargets(object_px=140),
    ),
    Level(
        name="fine-grained",
        resolution=(448, 448),
        example="bird species, car models",
        signal="small parts (beak, wing bars)",
        aliases=("fine", "finegrained", "detail", "species"),
        large_k_expected=True,
        flip="usually safe (species and car models look alike mirrored); not where left/right "
        "parts tell classes apart: it depends on the task",
        pixels=PixelTargets(object_px=250),
    ),
    Level(
        name="region",
        resolution=(48, 48),
        example="smiling or not, from the mouth only",
        signal="one small region cut out first by a face / landmark detector",
        aliases=("crop", "part", "roi", "patch"),
        flip="depends on the task: safe for symmetric cues (a smile), not for left/right-"
        "sensitive labels (which eye is closed, a left vs right hand)",
    ),
    Level(
        name="objects",
        resolution=(640, 640),
        example="many small objects: street scenes, drone footage, detection-style sets",
        signal="every object, down to the small ones",
        aliases=("detection", "small-objects"),
        large_k_expected=True,
        flip="safe for most scenes; not where left/right matters (text, traffic signs)",
        pixels=PixelTargets(min_object_px=16),
    ),
)

#: The ``PixelTargets`` keys a levels file may set on a level (flat, next to ``resolution``).
PIXEL_KEYS = ("object_px", "min_object_px", "object_percentile", "max_upsample", "max_side")

_FIELDS = {
    "resolution",
    "example",
    "signal",
    "aliases",
    "large_k_expected",
    "flip",
    "training",
    "k_max_policy",
    *PIXEL_KEYS,
}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def find_level(task: str, levels: Sequence[Level] = LEVELS) -> Level:
    """The level named (or aliased) ``task``, as ``suggest --task`` finds it.

    Args:
        task: a level's name or alias, in any case, with ``-``/``_`` or none (``fine``,
            ``Fine_Grained``).
        levels: the table to search (``load_levels()`` returns a team's).

    Returns:
        The ``Level``.

    Raises:
        InvalidArgumentError: no level has that name; the message lists the known ones.

    Examples:
        >>> find_level("species").name, find_level("fine").resolution
        ('fine-grained', (448, 448))
    """
    wanted = _key(str(task))
    for level in levels:
        if wanted in {_key(level.name), *(_key(a) for a in level.aliases)}:
            return level
    known = ", ".join(
        f"{lv.name} ({', '.join(lv.aliases)})" if lv.aliases else lv.name for lv in levels
    )
    raise InvalidArgumentError(f"unknown task level {task!r}: use one of {known}")


def levels_from_data(data: Any, base: Sequence[Level] = LEVELS) -> tuple[Level, ...]:
    """Merge a parsed table ``{"levels": {name: {resolution, ...}}, "training": {...}}`` into
    ``base`` (``levels`` may be the whole table; ``training`` applies to every level)."""
    table, shared = data, None
    if isinstance(data, Mapping) and ("levels" in data or "training" in data):
        table, shared = data.get("levels", {}), data.get("training")
    if not isinstance(table, Mapping) or not (table or shared is not None):
        raise InvalidArgumentError(
            "a levels file must hold a table 'levels' of name -> {resolution, example, ...}"
        )
    merged = {lv.name: lv for lv in base}
    common = TRAINING
    if shared is not None:
        common = training_from_data(shared)
        merged = {
            name: replace(lv, training=training_from_data(shared, lv.training))
            for name, lv in merged.items()
        }
    for name, entry in table.items():
        merged[str(name)] = _level(str(name), entry, merged.get(str(name)), common)
    return tuple(merged.values())


def _level(name: str, entry: Any, old: Level | None, training: Training = TRAINING) -> Level:
    """One level from its table entry; missing keys fall back to the built-in level of that name."""
    if not isinstance(entry, Mapping):
        raise InvalidArgumentError(f"level {name!r} must be a table of keys, got {entry!r}")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise InvalidArgumentError(
            f"level {name!r}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(sorted(_FIELDS))}"
        )
    if old is None and "resolution" not in entry:
        raise InvalidArgumentError(f"level {name!r} needs a resolution (e.g. 224 or '448x320')")
    aliases = entry.get("aliases", old.aliases if old else ())
    if isinstance(aliases, str) or not all(isinstance(a, str) for a in aliases):
        raise InvalidArgumentError(f"level {name!r}: aliases must be a list of strings")
    large = entry.get("large_k_expected", old.large_k_expected if old else False)
    if not isinstance(large, bool):
        raise InvalidArgumentError(f"level {name!r}: large_k_expected must be true or false")
    policy = entry.get("k_max_policy", old.k_max_policy if old else Level.k_max_policy)
    if policy not in K_MAX_POLICIES:
        raise InvalidArgumentError(
            f"level {name!r}: k_max_policy must be one of {', '.join(K_MAX_POLICIES)}, "
            f"got {policy!r}"
        )
    training = old.training if old else training
    if "training" in entry:
        training = training_from_data(entry["training"], training, f"level {name!r} training")
    res = entry.get("resolution")
    pixels = _pixels(name, entry, old.pixels if old else PixelTargets())
    return Level(
        name=name,
        resolution=old.resolution if res is None and old else parse_resolution(res),
        example=str(entry.get("example", old.example if old else "")),
        signal=str(entry.get("signal", old.signal if old else "")),
        aliases=tuple(aliases),
        large_k_expected=large,
        flip=str(entry.get("flip", old.flip if old else Level.flip)),
        training=training,
        k_max_policy=policy,
        pixels=pixels,
    )


def _pixels(name: str, entry: Mapping[str, Any], old: PixelTargets) -> PixelTargets:
    """The level's pixel targets: the file's keys over ``old`` (each a positive number)."""
    given = {key: entry[key] for key in PIXEL_KEYS if key in entry}
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise InvalidArgumentError(f"level {name!r}: {key} must be a positive number")
    if "object_percentile" in given and not given["object_percentile"] <= 100:
        raise InvalidArgumentError(f"level {name!r}: object_percentile must be within 0..100")
    if "max_side" in given:
        given["max_side"] = int(given["max_side"])
    return replace(old, **given)


def load_levels(path: str | os.PathLike[str], base: Sequence[Level] = LEVELS) -> tuple[Level, ...]:
    """Read a levels file (``suggest --levels``) and merge it into ``base``.

    Args:
        path: a ``.toml``, ``.json``, or ``.yaml``/``.yml`` file (YAML needs PyYAML).
        base: the levels it overrides and extends (the built-in ones by default).

    Returns:
        The merged levels: entries of the file override the level of the same name, new
        names are added, keys left out keep the base value.

    Raises:
        InvalidArgumentError: the file cannot be read or parsed, or holds an unknown key.

    Examples:
        >>> [lv.name for lv in load_levels("team-levels.toml")]
        ['coarse', 'fine-grained', 'region', 'xray']
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"cannot read levels file {str(file)!r}: {e}") from e
    try:
        data = _parse(file.suffix.lower(), text)
    except ArchcalcError:
        raise
    except Exception as e:
        cause = first_line(e)
        raise InvalidArgumentError(f"invalid levels file {str(file)!r}: {cause}") from e
    try:
        return levels_from_data(data, base)
    except ArchcalcError as e:
        raise InvalidArgumentError(f"invalid levels file {str(file)!r}: {e}") from e


def _parse(suffix: str, text: str) -> Any:
    """Parse by extension: .toml (tomllib), .json, .yaml/.yml (PyYAML, when installed)."""
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError as e:  # Python 3.10
            raise InvalidArgumentError(
                "TOML levels files need Python 3.11+ (tomllib); use .json or .yaml"
            ) from e
        return tomllib.loads(text)
    if suffix == ".json":
        return json.loads(text)
    if suffix in {".yaml", ".yml"}:
        try:
            import yaml
        except ImportError as e:
            raise InvalidArgumentError(
                "YAML levels files need PyYAML (pip install pyyaml); or use .toml / .json"
            ) from e
        return yaml.safe_load(text)
    raise InvalidArgumentError(
        f"levels file must end in .toml, .json, .yaml or .yml, not {suffix!r}"
    )
