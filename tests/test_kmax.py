"""The k <= 9 alternatives: resnet18 at 448 (hand-counted MACs), when a stride-64 variant is
clean, the ``k_max_policy`` of a level, and the rendering."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers import SIDES, make

from archcalc.cli import main
from archcalc.errors import InvalidArgumentError
from archcalc.recommend.decide import recommend
from archcalc.recommend.kmax import KAlternative, k_alternatives
from archcalc.recommend.levels import find_level, levels_from_data
from archcalc.recommend.named import suggest
from archcalc.recommend.rules import Backbone
from archcalc.recommend.suggestion import Option


def resnet18_macs(side: int) -> int:
    """resnet18's MACs at an input that is a multiple of 32, by hand (conv + fc, core convention).

    Each conv: k*k x C_in x C_out x H_out x W_out. Stem: 7x7 3->64 at side/2. layer1: four 3x3
    64->64 at side/4. layer2..4: a 3x3 C->2C (stride 2), three 3x3 2C->2C and a 1x1 C->2C
    downsample, all at the stage's output size (side/8, side/16, side/32). fc: 512 x 1000.
    At 224 this gives 1,814,073,344 (torchvision's published resnet18: 1.814 GFLOPS, as MACs).
    """
    stem = 49 * 3 * 64 * (side // 2) ** 2
    layer1 = 4 * 9 * 64 * 64 * (side // 4) ** 2
    stages = 0
    for c, div in ((64, 8), (128, 16), (256, 32)):
        position = 9 * c * 2 * c + 3 * 9 * (2 * c) ** 2 + c * 2 * c
        stages += position * (side // div) ** 2
    return stem + layer1 + stages + 512 * 1000


def test_hand_count_matches_the_published_resnet18_figure() -> None:
    assert resnet18_macs(224) == 1_814_073_344


def test_resnet18_at_448_gets_288_and_a_stride_64_option() -> None:
    s = suggest("fine-grained", "resnet18", latency=False)
    assert s.resolution == (448, 448) and s.chosen.profile.final_map == (14, 14)
    input_k9, stride64 = s.k_alternatives
    # 288 = 9 x 32: k = 288 / 32 = 9; MACs 2,998,439,936 (2.998 G, 41% of 448's).
    assert (input_k9.kind, input_k9.resolution, input_k9.final_map) == ("input", (288, 288), (9, 9))
    assert input_k9.macs == resnet18_macs(288) == 2_998_439_936
    # 448 with one more 2x2 max pool after layer4: global stride 64, k = 448 / 64 = 7. Pooling
    # counts no MACs (core convention) and the fc after global pooling still sees 512 values,
    # so its MACs are 448's own: 7,254,757,376.
    assert (stride64.kind, stride64.resolution) == ("extra-stride", (448, 448))
    assert (stride64.global_stride, stride64.final_map) == ((64, 64), (7, 7))
    assert stride64.macs == stride64.reference_macs == resnet18_macs(448) == 7_254_757_376
    # A learned reduction instead (3x3 conv 512->512, stride 2): 9 x 512 x 512 x 7 x 7.
    assert stride64.strided_conv_macs == 9 * 512 * 512 * 7 * 7 == 115_605_504
    reason = next(r for r in s.reasons if r.startswith("k <= 9"))
    assert "kept 448x448 -> 14x14 because fine-grained detail survives" in reason
    assert "288x288 -> 9x9, 2.998 GMACs (41% of 448x448's MACs)" in reason


def test_average_pool_before_global_average_pool_changes_nothing() -> None:
    # Why the stride-64 variant uses a max pool: the mean of 2x2 block means is the mean.
    x = torch.randn(2, 5, 14, 14, dtype=torch.float64)
    pooled = torch.nn.functional.avg_pool2d(x, 2).mean((2, 3))
    assert torch.allclose(pooled, x.mean((2, 3)))
    assert not torch.allclose(torch.nn.functional.max_pool2d(x, 2).mean((2, 3)), x.mean((2, 3)))


FINE = find_level("fine-grained")


def grid() -> list[Option]:
    return [Option(make("net", s)) for s in (*SIDES, 288)]


@pytest.mark.parametrize(
    ("side", "kinds"),
    [
        (448, ["input", "extra-stride"]),  # 14x14: even, 7 >= 3
        (480, ["input"]),  # 15x15: odd, a 2x2 pool would drop a row and a column
        (224, []),  # 7x7 is in the window
    ],
)
def test_which_alternatives_apply(side: int, kinds: list[str]) -> None:
    profiles = [make("net", s) for s in (288, side)]
    assert [a.kind for a in k_alternatives(profiles[1], profiles)] == kinds


def test_token_grids_and_other_conventions_get_no_stride_variant() -> None:
    tokens = make("vit", 448, 16, layout="tokens")  # 28x28 token grid
    assert k_alternatives(tokens, [tokens]) == ()
    fvcore = dataclasses.replace(make("net", 448), convention="fvcore")  # pooling counted there
    assert [a.kind for a in k_alternatives(fvcore, [fvcore])] == []


def test_prefer_k9_chooses_the_largest_input_with_k_at_most_9() -> None:
    (level,) = [
        lv
        for lv in levels_from_data({"fine-grained": {"k_max_policy": "prefer-k9"}})
        if lv.name == "fine-grained"
    ]
    s = recommend(level, grid(), [Backbone("net")])
    assert s.resolution == (288, 288) and s.chosen.profile.final_map == (9, 9)
    reason = next(r for r in s.reasons if r.startswith("k <= 9"))
    assert "chose 288x288 -> 9x9 over 448x448 -> 14x14" in reason and "prefer-k9" in reason
    assert [a.kind for a in s.k_alternatives] == ["input", "extra-stride"]
    assert recommend(FINE, grid(), [Backbone("net")]).resolution == (448, 448)  # keep-large


def test_bad_policy_is_a_one_line_error() -> None:
    with pytest.raises(
        InvalidArgumentError, match="k_max_policy must be one of keep-large, prefer-k9"
    ):
        levels_from_data({"fine-grained": {"k_max_policy": "smaller"}})


def test_to_dict_of_an_alternative() -> None:
    a = KAlternative("input", "net", (288, 288), (32, 32), (9, 9), 10, 20)
    assert a.to_dict() == {
        "kind": "input",
        "backbone": "net",
        "resolution": [288, 288],
        "global_stride": [32, 32],
        "final_map": [9, 9],
        "macs": 10,
        "reference_macs": 20,
        "strided_conv_macs": None,
    }


def test_cli_table_json_and_policy_from_a_levels_file(tmp_path: Path) -> None:
    base = ["suggest", "--task", "fine", "--backbone", "resnet18", "--no-latency", "--no-training"]
    result = CliRunner().invoke(main, base)
    assert result.exit_code == 0
    table = result.stdout[result.stdout.index("Keeping k <= 9") :].split("\n\n")[1].splitlines()
    assert table[2].split()[:8] == ["input", "9", "x", "stride", "resnet18", "288x288", "32", "9x9"]
    assert "one more 2x2 max pool  resnet18    448x448  64        7x7      7.255" in table[3]
    # the stride-2 conv's extra MACs (9 x 512 x 512 x 7 x 7) are a note under the table
    assert "a stride-2 3x3 conv in its place adds 0.116 GMACs." in result.stdout
    levels = tmp_path / "levels.json"
    levels.write_text(json.dumps({"levels": {"fine-grained": {"k_max_policy": "prefer-k9"}}}))
    result = CliRunner().invoke(main, [*base, "--levels", str(levels), "--format", "json"])
    data = json.loads(result.stdout)
    assert (data["resolution"], data["final_map"]) == ([288, 288], [9, 9])
    assert [a["kind"] for a in data["k_alternatives"]] == ["input", "extra-stride"]


def test_prefer_k9_without_a_k9_input_says_so() -> None:
    level = dataclasses.replace(FINE, k_max_policy="prefer-k9")
    s = recommend(level, [Option(make("net", 448))], [Backbone("net")])
    assert s.resolution == (448, 448)
    (reason,) = [r for r in s.reasons if r.startswith("k <= 9")]
    assert "k_max_policy is prefer-k9, but no profiled input with k <= 9" in reason
    assert [a.kind for a in s.k_alternatives] == ["extra-stride"]
