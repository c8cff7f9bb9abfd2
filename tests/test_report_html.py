"""``archcalc report --format html``: one self-contained page; its data follow from the sweep.

The page's JSON block is read back and checked against the hand-made sweep of ``test_report``
(numbers by arithmetic there); the browser checks are in ``test_report_browser``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import page_data
from test_report import LINES, _report

pytest.importorskip("plotly", reason="HTML reports need plotly: pip install 'archcalc[report]'")

MOBILE, VIT = "mobilenetv3_small_050", "vit_tiny_patch16_224"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """The hand-made sweep of ``test_report`` as a file."""
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    return path


@pytest.fixture
def page(sweep: Path, tmp_path: Path) -> tuple[str, dict]:
    out = tmp_path / "report.html"
    done = _report(str(sweep), "--format", "html", "-o", str(out), "--sort", "-gmacs",
                   "--where", "k>=5 and k<=9 and gmacs<2", "--max-params-m", "20")  # fmt: skip
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    return html, page_data(html)


def test_page_is_self_contained(page: tuple[str, dict]) -> None:
    html, _ = page
    assert html.startswith("<!DOCTYPE html>")
    # no external script, style, font or image: every script and style is inline
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert "default-src 'none'" in html  # the page's CSP forbids any fetch as well
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs()[:2000] in html  # plotly.js inlined, from the Python package
    assert (
        html.count("</script>") == 3
    )  # data, plotly.js, the page; plotly ships no "</script" that would end its element


def test_page_holds_every_ok_row_with_the_filters_as_start(page: tuple[str, dict]) -> None:
    _, data = page
    keys = [c["key"] for c in data["columns"]]
    # no receptive field in schema-1 lines, so no RF column; measured latency, published top-1
    assert keys == ["model", "family", "res", "stride", "k", "params_m", "gmacs", "latency_ms",
                    "peak_act_mb", "top1"]  # fmt: skip
    assert len(data["rows"]) == 7  # every ok row: the filters only start the page
    first = dict(zip(keys, data["rows"][0], strict=True))
    text = dict(zip(keys, data["text"][0], strict=True))
    # --sort -gmacs: resnet18 at 448 first, 7.256 GMACs = 1.814 x (448/224)^2
    assert (first["model"], first["res"], first["gmacs"]) == ("resnet18", 448, 7.256)
    assert (text["res"], text["k"], text["gmacs"], text["latency_ms"]) == (
        "448x448", "14x14", "7.256", "40.00",
    )  # fmt: skip
    # --where: k in 5..9 and < 2 GMACs: resnet18 at 224 and 160, mobilenet at 224
    kept = {(r[0], r[2]) for r, m in zip(data["rows"], data["where"]["match"], strict=True) if m}
    assert kept == {("resnet18", 224), ("resnet18", 160), (MOBILE, 224)}
    assert data["where"]["text"] == "k>=5 and k<=9 and gmacs<2"
    starts = {r["key"]: r["start"] for r in data["ranges"]}
    assert starts["params_m"] == [None, 20] and starts["k"] == [None, None]
    assert set(starts) == {"k", "gmacs", "params_m", "latency_ms", "top1"}


def test_page_plots_and_refused_pairs(page: tuple[str, dict]) -> None:
    _, data = page
    plots = data["plots"]
    assert plots["res"] == 224 and plots["window"] == [3, 9]
    assert plots["front"] == [MOBILE, VIT, "resnet50"]
    assert plots["latency"]["key"] == "latency_ms" and plots["latency"]["measured"] is True
    assert [(b["size"], b["map"], b["count"]) for b in plots["bubbles"]] == [
        ("160x160", "5x5", 1), ("224x224", "7x7", 3), ("224x224", "14x14", 1),
        ("448x448", "14x14", 2),
    ]  # fmt: skip
    assert [c["key"] for c in plots["costs"]] == ["gmacs", "peak_act_mb", "latency_ms"]
    groups = [(g["count"], g["type"], [m[:2] for m in g["members"]]) for g in data["errors"]]
    assert groups == [
        (2, "TraceError", [["swin_tiny", "48x48"], [VIT, "48x48"]]),  # ties in model order
        (1, "TimeoutError", [["eva_giant", "448x448"]]),
    ]
    # vit_tiny ran at 224 in this sweep; the profiler named no valid size in its reason
    vit = next(m for m in data["errors"][0]["members"] if m[0] == VIT)
    assert vit[2:] == ["-", "224x224"]
    assert data["summary"]["ok"] == 7 and data["summary"]["errors"] == 3
    assert data["summary"]["sizes"] == ["48x48", "160x160", "224x224", "448x448"]
    assert any(note.startswith("MACs against FLOPs") for note in data["units"])


def test_errors_in_the_table_add_status_and_reason(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = _report(str(sweep), "--format", "html", "--errors", "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = page_data(out.read_text())
    assert len(data["rows"]) == 10 and [c["key"] for c in data["columns"]][-2:] == [
        "status", "reason",
    ]  # fmt: skip


def test_pareto_res_needs_a_swept_height(sweep: Path) -> None:
    done = _report(str(sweep), "--format", "html", "--pareto-res", "300")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--pareto-res 300: no ok result has that input height" in done.stderr


def test_predicted_latency_is_plotted_and_labelled(sweep: Path) -> None:
    """Rows carrying a predicted latency (``pred_latency_ms``, no measured one) get their
    own column, range filter, plots and a footnote saying it is predicted."""
    from archcalc.report.html import StartFilters, render_html_report
    from archcalc.report.page_data import read_context
    from archcalc.report.rows import load_rows, summarise

    rows, _ = load_rows([sweep])
    # a prediction of twice the measured time, the measurement dropped
    predicted = [
        {**r, "latency_s": None, "latency_ms": None, "pred_latency_ms": 2 * r["latency_ms"]}
        if r["latency_ms"] is not None
        else r
        for r in rows
    ]
    html = render_html_report(
        summarise(predicted), predicted, read_context([sweep]), title="t", files=["s"],
        start=StartFilters(),
    )  # fmt: skip
    data = page_data(html)
    keys = [c["key"] for c in data["columns"]]
    assert "latency_ms" not in keys and "pred_latency_ms" in keys
    label = data["columns"][keys.index("pred_latency_ms")]["label"]
    assert label == "pred. latency (ms)"
    first = dict(zip(keys, data["text"][0], strict=True))  # resnet18 at 224, 10 ms measured
    assert first["model"] == "resnet18" and first["pred_latency_ms"] == "20.00"  # 2 x 10 ms
    latency = data["plots"]["latency"]
    assert latency["key"] == "pred_latency_ms" and latency["measured"] is False
    assert "PREDICTED" in latency["label"]
    assert latency["front"] == [MOBILE, VIT, "resnet50"]  # 8, 16, (20), 60 ms
    assert "pred_latency_ms" in {r["key"] for r in data["ranges"]}
    assert any("predicted, not measured" in note for note in data["units"])


def test_png_plots_are_linked_beside_the_page(sweep: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "site" / "report.html"
    done = _report(str(sweep), "--format", "html", "-o", str(out),
                   "--plots", str(tmp_path / "site" / "png"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    links = [path for _, path in page_data(out.read_text())["pngs"]]
    assert links[:2] == ["png/gmacs_vs_res.png", "png/k_by_res.png"]
    assert all((out.parent / link).is_file() for link in links)
