"""What the HTML report shows, computed from rows: latency source, fronts, bubbles, family
medians, refused pairs with their nearest valid sizes, the sweep's context.

The rows come from the hand-made sweep of ``test_report`` (224 px: mobilenetv3_small_050
0.023 GMACs, vit_tiny 1.254, resnet18 1.814, resnet50 4.11; published top-1 57.918, 75.452,
73.286, 81.24 from the packaged table).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import LINES, _error, _ok

from archcalc.errors import InvalidArgumentError
from archcalc.report.page_data import (
    PREDICTED_LATENCY,
    SweepContext,
    accuracy_front,
    family_medians,
    k_bubbles,
    latency_source,
    plot_resolution,
    read_context,
    refused_groups,
)
from archcalc.report.rows import load_rows, to_row

ENV = {"archcalc": "0.1.0", "torch": "2.14.1", "timm": "1.0.31", "device": "meta",
       "dtype": "float32", "threads": 2}  # fmt: skip
MOBILE, VIT = "mobilenetv3_small_050", "vit_tiny_patch16_224"


@pytest.fixture
def rows(tmp_path: Path) -> list[dict]:
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    return load_rows([path])[0]


def test_latency_source_prefers_measured_then_predicted() -> None:
    measured = [to_row(LINES[0])]
    assert (latency_source(measured).field, latency_source(measured).measured) == (
        "latency_ms",
        True,
    )
    unmeasured = to_row(_ok("resnet18", 224, 32, 1_814_000_000, 11_690_000))
    assert latency_source([unmeasured]) is None
    predicted = latency_source([{**unmeasured, PREDICTED_LATENCY: 2.5}])
    assert predicted is not None and (predicted.field, predicted.measured) == (
        PREDICTED_LATENCY,
        False,
    )


def test_accuracy_fronts(rows: list[dict]) -> None:
    # by GMACs: mobilenet (57.9) < vit (75.5) > resnet18 (73.3, dominated by vit) < resnet50 (81.2)
    assert accuracy_front(rows, "gmacs", 224) == [MOBILE, VIT, "resnet50"]
    # by latency: 4 ms, 8 ms, 10 ms (resnet18, dominated), 30 ms
    assert accuracy_front(rows, "latency_ms", 224) == [MOBILE, VIT, "resnet50"]
    # at 448 only resnet18 (7.256) and mobilenet (0.092): mobilenet is cheaper, resnet18 better
    assert accuracy_front(rows, "gmacs", 448) == [MOBILE, "resnet18"]


def test_plot_resolution(rows: list[dict]) -> None:
    assert plot_resolution(rows) == 224 and plot_resolution(rows, 448) == 448
    no_224 = [r for r in rows if r["height"] != 224]
    assert plot_resolution(no_224) == 448  # resnet18 and mobilenet at 448: the most common
    with pytest.raises(
        InvalidArgumentError, match=r"--pareto-res 300: .* use one of 160, 224, 448"
    ):
        plot_resolution(rows, 300)


def test_k_bubbles(rows: list[dict]) -> None:
    # k = ceil(side / stride): 160/32 = 5; 224/32 = 7 (three models), 224/16 = 14; 448/32 = 14
    assert [(b.height, b.k, b.models) for b in k_bubbles(rows)] == [
        (160, 5, ("resnet18",)),
        (224, 7, (MOBILE, "resnet18", "resnet50")),
        (224, 14, (VIT,)),
        (448, 14, (MOBILE, "resnet18")),
    ]


def test_family_medians(rows: list[dict]) -> None:
    # resnet: resnet18 and resnet50 (2 models); at 224 median(1.814, 4.11) = 2.962
    resnet, second, third = family_medians(rows, "gmacs", 3)
    assert resnet[:2] == ("resnet", 2)
    assert resnet[2] == [(160, 0.92551), (224, pytest.approx(2.962)), (448, 7.256)]
    assert {second[0], third[0]} == {"mobilenetv3", "vit"}


def _refused(model: str, res: int, reason: str, nearest: list | None) -> dict:
    """An InvalidResolutionError line; ``nearest`` None: a line written before the field."""
    line = _error(model, res, reason, kind_type="InvalidResolutionError")
    if nearest is not None:
        line["error"]["nearest"] = nearest
    return line


def test_refused_groups_name_nearest_sizes(tmp_path: Path) -> None:
    lines = [
        _ok("swin_t", 224, 32, 4_500_000_000, 28_000_000),
        _ok("swin_t", 448, 32, 18_000_000_000, 28_000_000),
        # the sizes come from the error's field; the reason's text is never parsed (its
        # "nearest valid: 64x64" says otherwise on purpose)
        _refused("swin_t", 160, "swin_t cannot run at 160x160: x; nearest valid: 64x64",
                 [[128, 128], [192, 192]]),
        _error("vit_x", 48, "vit_x fails at 48x48: AssertionError: x"),
    ]  # fmt: skip
    rows = [to_row(x) for x in lines]
    context = _context(lines, tmp_path)
    groups = refused_groups(rows, context)
    assert [(g.group.error_type, len(g.members)) for g in groups] == [
        ("InvalidResolutionError", 1),
        ("TraceError", 1),
    ]
    swin = groups[0].members[0]
    # the profiler's sizes; the sweep's, nearest on a log scale:
    # |ln(224/160)| = 0.34 < |ln(448/160)| = 1.03
    assert swin.nearest_valid == ((128, 128), (192, 192))
    assert swin.ran_at == ((224, 224), (448, 448))
    vit = groups[1].members[0]
    assert (vit.model, vit.nearest_valid, vit.ran_at) == ("vit_x", (), ())


def test_lines_written_before_the_nearest_field_still_load(tmp_path: Path) -> None:
    old = _refused("swin_t", 160, "swin_t cannot run at 160x160: x; nearest valid: 128x128", None)
    context = _context([old], tmp_path)
    assert context.nearest == {("swin_t", 160, 160): ()}
    (group,) = refused_groups([to_row(old)], context)
    assert group.members[0].nearest_valid == ()


def _context(lines: list[dict], folder: Path) -> SweepContext:
    path = folder / "context.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return read_context([path])


def test_read_context_counts_environments_and_conventions(tmp_path: Path) -> None:
    lines = [{**LINES[0], "environment": ENV}, {**LINES[1], "environment": ENV}, LINES[7]]
    context = _context(lines, tmp_path)
    assert context.environments == ((ENV, 2),)
    assert context.conventions == (("core", 3),)
    assert context.nearest == {(VIT, 48, 48): ()}  # a TraceError names no valid size
