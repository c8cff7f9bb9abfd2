"""The training start (rules §5): its values, the levels-file overrides, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import make

from archcalc.cli import main
from archcalc.errors import InvalidArgumentError
from archcalc.recommend.decide import recommend
from archcalc.recommend.levels import find_level, levels_from_data, load_levels
from archcalc.recommend.rules import Backbone
from archcalc.recommend.suggestion import Option
from archcalc.recommend.training import TRAINING, Training, training_from_data

NOTES = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_defaults_are_the_notes_values() -> None:
    # Sizing rules §5 (docs/rules.md): "Adam with betas (0.9, 0.999) and lr 1e-3 is the safe start";
    # "Weight decay: start at 0 or very small"; "roughly 3,000 images for a binary task".
    t = TRAINING
    assert (t.optimizer, t.lr, t.betas, t.weight_decay) == ("Adam", 1e-3, (0.9, 0.999), 0.0)
    assert t.data_images == 3000
    assert "SGD can do better" in t.optimizer_reason
    assert "0 or very small" in t.weight_decay_reason
    assert "one clean, homogeneous distribution" in t.data_note
    assert "model.train()" in t.train_mode and "dropout is active" in t.train_mode
    assert "model.eval()" in t.eval_mode and "torch.inference_mode()" in t.eval_mode
    assert "running statistics" in t.eval_mode and "dropout is off" in t.eval_mode
    reasons = (t.optimizer_reason, t.lr_reason, t.betas_reason, t.weight_decay_reason)
    assert all(r.endswith("(rules §5)") for r in (*reasons, t.modes_reason))


def test_defaults_appear_in_the_rules_section_5() -> None:
    text = NOTES.read_text(encoding="utf-8")
    section = text[text.index("## §5 ") : text.index("## Units")]
    for phrase in ("Adam", "(0.9, 0.999)", "lr 1e-3", "start at 0 or very small", "3,000"):
        assert phrase in section
    assert "batch norm in eval mode" in section and "dropout only in training" in section


def test_every_level_carries_the_notes_training_start() -> None:
    assert all(find_level(n).training == TRAINING for n in ("coarse", "fine", "region"))


def test_override_gives_the_value_and_says_where_it_comes_from() -> None:
    t = training_from_data({"lr": 3e-4, "betas": [0.9, 0.99], "weight_decay": 1e-4})
    assert (t.lr, t.betas, t.weight_decay) == (3e-4, (0.9, 0.99), 1e-4)
    assert t.lr_reason == t.betas_reason == t.weight_decay_reason == "set in your levels file"
    assert t.optimizer_reason == TRAINING.optimizer_reason  # untouched fields keep the notes
    own = training_from_data({"optimizer": "SGD", "optimizer_reason": "we know what we do"})
    assert (own.optimizer, own.optimizer_reason) == ("SGD", "we know what we do")


def test_every_field_can_be_overridden() -> None:
    values: dict[str, Any] = {
        f: "x" for f in Training.__dataclass_fields__ if f not in {"lr", "betas", "data_images"}
    }
    values |= {"lr": 0.1, "betas": [0.5, 0.5], "weight_decay": 0.01, "data_images": 500}
    t = training_from_data(values)
    assert t.to_dict() == {**values, "betas": [0.5, 0.5]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"momentum": 0.9}, "unknown key(s) momentum"),
        ({"lr": 0}, "lr must be a positive finite number"),
        ({"lr": float("inf")}, "lr must be a positive finite number"),
        ({"lr": True}, "lr must be a positive finite number"),
        ({"weight_decay": -1}, "weight_decay must be a zero or positive finite number"),
        ({"betas": [0.9]}, "betas must be two numbers in [0, 1)"),
        ({"betas": [0.9, 1.0]}, "betas must be two numbers in [0, 1)"),
        ({"data_images": 2.5}, "data_images must be a positive integer"),
        ({"optimizer": ""}, "optimizer must be a non-empty string"),
        ("adam", "must be a table of keys"),
    ],
)
def test_bad_overrides_are_one_line_errors(data: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match="training") as info:
        training_from_data(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_levels_file_training_for_all_and_for_one(tmp_path: Path) -> None:
    file = tmp_path / "team.toml"
    file.write_text(
        "[training]\nlr = 3e-4\n\n"
        "[levels.xray]\nresolution = 512\n\n"
        "[levels.fine-grained.training]\ndata_images = 10000\n"
    )
    levels = load_levels(file)
    coarse, fine, xray = (find_level(n, levels) for n in ("coarse", "fine", "xray"))
    assert coarse.training.lr == xray.training.lr == fine.training.lr == 3e-4
    assert fine.training.data_images == 10000 and coarse.training.data_images == 3000
    assert coarse.training.data_note == TRAINING.data_note


def test_a_file_with_only_training_keeps_the_built_in_levels() -> None:
    levels = levels_from_data({"training": {"optimizer": "AdamW"}})
    assert [lv.name for lv in levels] == ["coarse", "fine-grained", "region", "objects"]
    assert all(lv.training.optimizer == "AdamW" for lv in levels)


def test_bad_training_in_a_levels_file_names_the_level() -> None:
    with pytest.raises(InvalidArgumentError, match=r"level 'xray' training\.lr"):
        levels_from_data({"levels": {"xray": {"resolution": 64, "training": {"lr": -1}}}})


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_the_training_block_and_hides_it_on_request() -> None:
    base = ("suggest", "--task", "coarse", "--backbone", "resnet18", "--no-latency")
    code, out, _ = run(*base)
    assert code == 0
    block = out[out.index("Training start:") :]
    assert "- optimizer: Adam:" in block and "- learning rate: 0.001:" in block
    assert "- betas: (0.9, 0.999):" in block and "- weight decay: 0:" in block
    assert "model.train()" in block and "torch.inference_mode()" in block
    assert "- data: 3,000 images:" in block
    code, out, _ = run(*base, "--no-training")
    assert code == 0 and "Training start" not in out
    code, out, _ = run(*base, "--no-training", "--format", "json")
    assert code == 0 and json.loads(out)["training"] is None


def test_cli_json_training_object() -> None:
    code, out, _ = run(
        "suggest", "--task", "coarse", "--backbone", "resnet18", "--no-latency", "--format", "json"
    )
    assert code == 0
    assert json.loads(out)["training"] == TRAINING.to_dict()
    assert TRAINING.to_dict()["betas"] == [0.9, 0.999]


def test_a_training_override_keeps_the_size_rule_cited() -> None:
    # The size still comes from rules §1 when only the training start changed.
    (fine,) = [
        lv for lv in levels_from_data({"training": {"lr": 1e-4}}) if lv.name == "fine-grained"
    ]
    s = recommend(fine, [Option(make("net", 448))], [Backbone("net")])
    assert "(rules §1: coarse 224, fine-grained 448, region 48)" in s.reasons[0]
