"""Text tables fit a width: repeated columns move to a note, headers wrap, wide tables split."""

from __future__ import annotations

import pytest

from archcalc import display
from archcalc.display import output_width, render_table

# suggest's shape: a marker, the backbone, the size, then columns that repeat per backbone
HEADERS = ["", "backbone", "res", "output stride", "params (M)", "GMACs"]
ROWS = [
    ["", "resnet18", "224x224", "default", "11.69", "1.814"],
    ["*", "resnet18", "448x448", "default", "11.69", "7.255"],
    ["", "mobilenetv3_large_100", "224x224", "default", "5.48", "0.217"],
]


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_a_table_that_fits_is_unchanged() -> None:
    # widths: 2 + 21 + 7 + 15 + 12 + 7 = 64, plus 5 gaps of 2 = 74 columns
    wide = render_table(HEADERS, ROWS, "table")
    assert max(map(len, wide.splitlines())) == 74
    assert render_table(HEADERS, ROWS, "table", width=74, keys=3, group=1) == wide


def test_repeated_columns_move_to_a_note() -> None:
    text = render_table(HEADERS, ROWS, "table", width=73, keys=3, group=1)
    assert lines(text) == [
        "    backbone               res      GMACs",
        "--  ---------------------  -------  -------",
        "    resnet18               224x224  1.814",
        "*   resnet18               448x448  7.255",
        "    mobilenetv3_large_100  224x224  0.217",
        "",
        "One value in every row: output stride default; one per backbone: params",
        "  (M) 11.69 (resnet18), 5.48 (mobilenetv3_large_100).",
    ]


def test_constant_columns_move_even_when_every_row_is_its_own_model() -> None:
    rows = [ROWS[1], ROWS[2]]
    text = render_table(HEADERS, rows, "table", width=73, keys=3, group=1)
    assert lines(text)[0].split() == ["backbone", "res", "params", "(M)", "GMACs"]
    assert text.endswith("One value in every row: output stride default.")


def test_without_a_group_only_constant_columns_move() -> None:
    text = render_table(HEADERS, ROWS, "table", width=73, keys=3)
    assert lines(text)[0].split() == ["backbone", "res", "params", "(M)", "GMACs"]
    assert text.endswith("One value in every row: output stride default.")


def test_one_row_repeats_nothing_and_wraps_as_few_headers_as_fit() -> None:
    # a column is its widest cell or its header + 2: 8 + 5 + 12 + 17, plus 3 gaps of 2 = 48;
    # wrapped (no narrower than 6), "train step (MB)" saves 17 - 7 = 10 and "params (M)" 4
    headers = ["model", "res", "params (M)", "train step (MB)"]
    row = ["resnet18", "7x7", "11.69", "199.6"]
    assert max(map(len, render_table(headers, [row], "table").splitlines())) == 48
    assert lines(render_table(headers, [row], "table", width=38, keys=2)) == [
        "model     res    params (M)    train",
        "                               step",
        "                               (MB)",
        "--------  -----  ------------  -------",
        "resnet18  7x7    11.69         199.6",
    ]
    assert lines(render_table(headers, [row], "table", width=37, keys=2)) == [
        "model     res    params    train",
        "                 (M)       step",
        "                           (MB)",
        "--------  -----  --------  -------",
        "resnet18  7x7    11.69     199.6",
    ]


def test_too_wide_splits_into_tables_that_repeat_the_keys() -> None:
    headers = ["model", "res", *(f"column {i}" for i in range(8))]
    row = ["resnet18", "224x224", *(f"value {i:03d}" for i in range(8))]
    # model 8, res 7, each column 10 (its header + 2): 15 + 8 x 10 + 9 gaps x 2 = 113 columns;
    # 100 holds the keys and 6 columns, so two tables of 4 each
    text = render_table(headers, [row], "table", width=100, keys=2)
    tables = text.split("\n\n")
    assert [t.splitlines()[0].split()[:2] for t in tables] == [["model", "res"]] * 2
    assert [t.count("column") for t in tables] == [4, 4]
    assert max(map(len, text.splitlines())) <= 100


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_other_formats_keep_every_column(fmt: str) -> None:
    text = render_table(HEADERS, ROWS, fmt, width=20, keys=3, group=1)
    assert all(h in text.splitlines()[0] for h in HEADERS)
    assert "default" in text and "11.69" in text


def test_output_width_follows_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr(display.shutil, "get_terminal_size", lambda _: os.terminal_size((72, 24)))
    monkeypatch.setattr(display.sys.stdout, "isatty", lambda: False)
    assert output_width() == 100
    monkeypatch.setattr(display.sys.stdout, "isatty", lambda: True)
    assert output_width() == 72
