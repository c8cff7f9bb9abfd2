"""Bad input everywhere: the API raises an ArchcalcError subclass; the CLI says one line, exit 2."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn

import archcalc
from archcalc.cli import main
from archcalc.core.geometry import MAX_VALID_SHRINK
from archcalc.errors import (
    ArchcalcError,
    DeviceUnavailableError,
    InvalidArgumentError,
    InvalidResolutionError,
    UnknownModelError,
)
from archcalc.sweep.jsonl import read_jsonl, repair
from archcalc.sweep.run import run_sweep
from archcalc.sweep.shards import parse_shard

NO_CUDA = not torch.cuda.is_available()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"model": "resnet_does_not_exist"}, UnknownModelError),
        ({"model": 42}, UnknownModelError),
        ({"resolution": 0}, InvalidResolutionError),
        ({"resolution": -224}, InvalidResolutionError),
        ({"resolution": "abc"}, InvalidResolutionError),
        ({"resolution": "224x"}, InvalidResolutionError),
        ({"resolution": 100000}, InvalidResolutionError),
        ({"resolution": 2.5}, InvalidResolutionError),
        ({"resolution": 24}, InvalidResolutionError),  # convnext below 32 px: the map vanishes
        ({"device": "tpu"}, InvalidArgumentError),
        ({"convention": "flops"}, InvalidArgumentError),
        ({"batch_size": 0}, InvalidArgumentError),
        ({"in_chans": -1}, InvalidArgumentError),
        ({"output_stride": 0}, InvalidArgumentError),
    ],
)
def test_profile_rejects(kwargs: dict[str, Any], error: type[ArchcalcError]) -> None:
    args = {"model": "convnext_atto", "resolution": 64} | kwargs
    with pytest.raises(error):
        archcalc.profile(args.pop("model"), args.pop("resolution"), **args)


def test_a_bad_argument_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match="convention"):
        archcalc.profile("convnext_atto", 64, convention="flops")
    assert issubclass(archcalc.NothingFitsError, InvalidArgumentError)
    assert issubclass(archcalc.WorkerCrashError, ArchcalcError)
    assert not issubclass(archcalc.WorkerCrashError, ValueError)  # not the caller's value


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
def test_cuda_without_cuda() -> None:
    with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
        archcalc.profile("resnet18", 64, device="cuda")


@pytest.mark.parametrize("res", [0, -3, "x", "224x", 100000])
def test_check_resolution_rejects(res: Any) -> None:
    with pytest.raises(InvalidResolutionError):
        archcalc.check_resolution("resnet18", res)


def test_real_tensor_run_refused_from_the_meta_estimate() -> None:
    # 16384^2 px x 64 images through resnet18 needs terabytes of activations
    with pytest.raises(archcalc.InsufficientMemoryError, match="host memory"):
        archcalc.profile("resnet18", 16384, batch_size=64, device="cpu")


RESOLUTIONS = st.one_of(
    st.integers(-5, 20000),
    st.text(max_size=10),
    st.tuples(st.integers(-2, 600), st.integers(-2, 600)),
    st.lists(st.integers(0, 600), max_size=3),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
)
#: Plain sizes every model here runs at: sides that are multiples of 32, as an int, an
#: ``(h, w)`` pair or ``"HxW"`` text.
SIDES = st.sampled_from(range(32, 641, 32))
PLAIN = st.one_of(
    SIDES.map(lambda s: (s, s)),
    st.tuples(SIDES, SIDES),
    st.tuples(SIDES, SIDES).map(lambda hw: f"{hw[0]}x{hw[1]}"),
)
#: Global stride of each model (published architectures: resnet and convnext downsample
#: 32x, vit_tiny_patch16 cuts 16 px patches).
STRIDE = {"resnet18": 32, "convnext_atto": 32, "vit_tiny_patch16_224": 16}


def _plain_pair(res: Any) -> tuple[int, int]:
    if isinstance(res, str):
        h, w = res.split("x")
        return int(h), int(w)
    return res  # type: ignore[no-any-return]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.one_of(PLAIN.map(lambda r: (r, True)), RESOLUTIONS.map(lambda r: (r, False))),
    model=st.sampled_from(sorted(STRIDE)),
)
@example(case=((224, 224), True), model="resnet18")
@example(case=("448x320", True), model="vit_tiny_patch16_224")
def test_any_resolution_profiles_or_raises_archcalc_error(
    case: tuple[Any, bool], model: str
) -> None:
    """Anything is refused with an ArchcalcError or profiled; a plain size must profile, to
    the final map its stride gives (so a regression that refused everything would fail)."""
    res, plain = case
    try:
        p = archcalc.profile(model, res)
    except ArchcalcError:
        assert not plain, f"{model} at {res!r} is a plain size: it must profile"
        return
    assert min(p.final_map) >= 1
    if plain:
        h, w = _plain_pair(res)
        assert p.final_map == (h // STRIDE[model], w // STRIDE[model])


@st.composite
def conv_stacks(draw: st.DrawFn) -> nn.Sequential:
    """Random conv/pool stacks: kernels, strides, dilations, ceil modes; paddings up to
    (k - 1) / 2 and no ceil mode with padding: those can grow a map by a fraction, which the
    tracer cannot tell from an NHWC layout (it reads growth only by whole factors). Dilation
    only where the dilated kernel trims at most ``MAX_VALID_SHRINK`` pixels, the most a
    "valid" kernel may trim for the tracer (a 5x5 kernel dilated 2 trims 8: 27 -> 10 at
    stride 2 then reads as NHWC)."""
    layers: list[nn.Module] = []
    chans = draw(st.integers(1, 4))
    for _ in range(draw(st.integers(1, 5))):
        k, s = draw(st.integers(1, 7)), draw(st.integers(1, 4))
        pad = draw(st.sampled_from([0, (k - 1) // 2]))
        if draw(st.booleans()):
            out = draw(st.integers(1, 8))
            pad = "same" if s == 1 and draw(st.booleans()) else pad
            dilation = draw(st.integers(1, 2)) if 2 * (k - 1) <= MAX_VALID_SHRINK else 1
            layers.append(nn.Conv2d(chans, out, k, s, pad, dilation=dilation))
            chans = out
        else:
            ceil = pad == 0 and draw(st.booleans())  # ceil mode + padding can add a cell
            layers.append(nn.MaxPool2d(k, s, pad, ceil_mode=ceil))
    return nn.Sequential(*layers)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=60, deadline=None)
@given(model=conv_stacks(), h=st.integers(1, 80), w=st.integers(1, 80), chans=st.integers(1, 4))
@example(model=nn.Sequential(nn.Conv2d(1, 2, 3, 2)), h=9, w=9, chans=1)
def test_any_module_and_shape_profiles_or_raises_archcalc_error(
    model: nn.Sequential, h: int, w: int, chans: int
) -> None:
    """The stack is first run in plain torch: where torch fails (a map vanished), archcalc
    must refuse it; where every map keeps both sides >= 2, archcalc must profile it, to
    torch's final map; in between (a 1-pixel side, which reads as a head) it may refuse."""
    maps = [(h, w)]
    x = torch.zeros(1, chans, h, w)
    try:
        with torch.no_grad():
            for layer in model:
                x = layer(x)
                maps.append(tuple(x.shape[-2:]))
    except RuntimeError:
        with pytest.raises(ArchcalcError):
            archcalc.profile(model, (h, w), in_chans=chans)
        return
    try:
        p = archcalc.profile(model, (h, w), in_chans=chans)
    except ArchcalcError:
        assert min(min(m) for m in maps) < 2, f"torch runs it, maps {maps}: it must profile"
        return
    # the final map is the last output, unless a pool collapsed the map to 1x1 (read as a head)
    assert p.final_map == maps[-1] or (maps[-1] == (1, 1) and p.final_map in maps)


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "resnet_nope"],
        ["inspect", "resnet18", "--res", "0"],
        ["inspect", "resnet18", "--res", "-5"],
        ["inspect", "resnet18", "--res", "abc"],
        ["inspect", "resnet18", "--res", "224x"],
        ["inspect", "resnet18", "--res", "100000"],
        ["inspect", "convnext_atto", "--res", "24"],
        ["inspect", "resnet18", "--batch-size", "0"],
        ["inspect", "resnet18", "--convention", "nope"],
        ["inspect", "resnet18", "--latency", "--device", "tpu"],
        ["sizes", "resnet_nope"],
        ["sizes", "resnet18", "--min", "0"],
        ["sizes", "resnet18", "--min", "64", "--max", "32"],
        ["sizes", "resnet18", "--max", "100000"],
        ["suggest", "--task", "nope", "--no-latency"],
        ["suggest", "--task", "coarse", "--levels", "/nonexistent/levels.toml", "--no-latency"],
        ["bench", "resnet18", "--device", "tpu"],
        ["bench", "resnet18", "--res", "100000"],
        ["sweep", "--models", "resnet18", "--res", "224x", "--out", "/tmp/x.jsonl"],
        ["sweep", "--models", "resnet18", "--max-rss-mb", "-5", "--out", "/tmp/x.jsonl"],
        ["inspect", "resnet18", "--layers", "--depth", "-1"],
        ["inspect", "resnet18", "--output-stride", "3"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    assert err.startswith("archcalc: error: ") and err.count("\n") == 1
    assert "Traceback" not in out + err


@pytest.mark.skipif(not NO_CUDA, reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", [["inspect", "resnet18", "--latency"], ["bench", "resnet18"]])
def test_cli_cuda_without_cuda(command: list[str]) -> None:
    code, _, err = cli(*command, "--device", "cuda")
    assert code == 2 and "no CUDA device" in err


def test_cli_sizes_output() -> None:
    code, out, _ = cli("sizes", "convnext_atto", "--min", "24", "--max", "100")
    assert code == 0
    rows = [line.split()[:2] for line in out.splitlines() if line[:1].isdigit()]
    # aligned sides are multiples of the stride 32; k = side / 32; 32 is the smallest that runs
    assert rows == [["32x32", "1x1"], ["64x64", "2x2"], ["96x96", "3x3"]]
    assert "min_size 32x32" in out


# --- CLI misuse found by trying it as a new user: files, foreign lines, numeric options ---

GOOD_LINE = {
    "model": "resnet18", "convention": "core", "status": "ok", "error": None,
    "input": {"batch_size": 1, "channels": 3, "height": 64, "width": 64},
    "global_stride": [32, 32], "final_map": [2, 2], "params": 11_689_512, "macs": 148_557_824,
}  # fmt: skip


def one_line_error(*args: str) -> str:
    """Run the CLI, check it failed the user way (one line, exit 2), return the message."""
    code, out, err = cli(*args)
    assert code == 2, (code, out, err)
    assert err.startswith("archcalc: error: ") and err.count("\n") == 1, err
    assert "internal error" not in err and "Traceback" not in out + err
    return err


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(GOOD_LINE) + "\n")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["sweep", "--models", "resnet18", "--out", "{blocked}/x.jsonl"],
        ["merge", "{good}", "-o", "{blocked}/x.jsonl"],
        ["report", "{good}", "-o", "{blocked}/r.md"],
        ["report", "{good}", "--summary-json", "{blocked}/s.json"],
        ["report", "{good}", "--plots", "{blocked}/plots"],
    ],
)
def test_output_below_a_file_is_one_line(
    command: list[str], sweep_file: Path, tmp_path: Path
) -> None:
    """``--out /proc/version/x.jsonl`` (a file where a folder should be) said "internal error:
    FileExistsError" and exit 1; now it names the path and the file in the way."""
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    args = [a.format(blocked=blocked, good=sweep_file) for a in command]
    err = one_line_error(*args)
    assert "cannot " in err and f"{blocked} is a file, not a folder" in err


def test_report_skips_lines_that_are_not_results(sweep_file: Path) -> None:
    """A JSON line of another kind (``{"a":1}``) was rendered as a row "None NonexNone"."""
    with sweep_file.open("a") as f:
        f.write('{"a": 1}\nnot json\n')
    code, out, err = cli("report", str(sweep_file))
    assert code == 0
    assert "None" not in out and "| resnet18 | 64x64 " in out
    assert "skipped 2 line(s) that are not sweep results" in err


@pytest.mark.parametrize("content", ['{"a": 1}\n', "", "\n\n"])
def test_report_of_a_file_without_results_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(content)
    assert "no sweep results in" in one_line_error("report", str(path))


def test_report_of_a_gz_that_is_not_gzip(tmp_path: Path, sweep_file: Path) -> None:
    """A ``.jsonl.gz`` that is not gzip gave an empty report and exit 0 (or an internal
    BadGzipFile); a gzip file named ``.jsonl`` was read as garbage."""
    fake = tmp_path / "f.jsonl.gz"
    fake.write_bytes(sweep_file.read_bytes())
    assert "is not gzip-compressed: rename it" in one_line_error("report", str(fake))
    packed = tmp_path / "packed.jsonl"
    packed.write_bytes(gzip.compress(sweep_file.read_bytes()))
    assert "is gzip-compressed: name it packed.jsonl.gz" in one_line_error("report", str(packed))


def test_truncated_gz_gives_what_it_holds(tmp_path: Path) -> None:
    lines = [{"i": i, "pad": "x" * 50} for i in range(2000)]
    data = gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])  # cut mid-stream, as a copy interrupted
    contents = read_jsonl(path)
    got = [r["i"] for r in contents.records]
    assert 0 < len(got) < 2000 and got == list(range(len(got)))  # a prefix, nothing invented
    assert contents.bad_lines <= 1  # at most the line the cut tore


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k-range", "9", "5"], "k range 9..5 keeps nothing"),
        (["--k-range", "0", "5"], "k range 0..5 keeps nothing"),
        (["--max-gmacs", "-1"], "max_gmacs must be a positive number"),
        (["--max-latency-ms", "0"], "max_latency_ms must be a positive number"),
        (["--pareto-res", "224"], "--pareto-res sets the Pareto plot's size: add --plots"),
        (["--where", 'k > "5"'], "k is a number but '5' is a text"),
        (["--where", "model == 18"], "model is a text but 18 is a number"),
    ],
)
def test_report_filters_that_keep_nothing_are_refused(
    sweep_file: Path, args: list[str], message: str
) -> None:
    assert message in one_line_error("report", str(sweep_file), *args)


def test_pareto_res_must_be_a_swept_height(sweep_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    err = one_line_error("report", str(sweep_file), "--plots", str(tmp_path / "p"),
                         "--pareto-res", "999")  # fmt: skip
    assert "pareto_res 999: no ok result has that input height; use one of 64" in err


def test_sweep_refuses_a_negative_memory_limit(tmp_path: Path) -> None:
    err = one_line_error("sweep", "--models", "resnet18", "--max-rss-mb", "-5",
                         "--out", str(tmp_path / "s.jsonl"))  # fmt: skip
    assert "'--max-rss-mb': -5 is not in the range x>=0" in err
    with pytest.raises(InvalidArgumentError, match="max_rss_bytes must be a positive integer"):
        run_sweep(["resnet18"], [64], out=tmp_path / "s.jsonl", max_rss_bytes=-5 * 2**20)


def test_shard_count_zero_is_refused_under_slurm() -> None:
    environ = {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}
    with pytest.raises(InvalidArgumentError):  # 0 used to fall back to the Slurm count
        parse_shard("auto", count=0, environ=environ)


def test_merge_over_an_input_keeps_what_it_does_not_merge(sweep_file: Path) -> None:
    """``merge a.jsonl -o a.jsonl`` dropped a.jsonl's unreadable line for good; the lines that
    are not results now go to ``a.jsonl.rejected``, and stderr says so."""
    with sweep_file.open("a") as f:
        f.write('not json\n{"a": 1}\n')
    code, _, err = cli("merge", str(sweep_file), "-o", str(sweep_file))
    rejected = sweep_file.with_name("s.jsonl.rejected")
    assert code == 0 and f"2 line(s) that are not results kept in {rejected}" in err
    assert [json.loads(x) for x in sweep_file.read_text().splitlines()] == [GOOD_LINE]
    assert rejected.read_text() == 'not json\n{"a":1}\n'
    cli("merge", str(sweep_file), "-o", str(sweep_file))  # again: nothing new to keep
    assert rejected.read_text() == 'not json\n{"a":1}\n'


def test_resumed_sweep_keeps_the_lines_it_repairs_away(tmp_path: Path) -> None:
    """Before appending, a sweep rewrites its file without unreadable lines: they are moved to
    ``<out>.rejected``; a whole last line that only lacks its newline is kept."""
    path = tmp_path / "s.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"b": 2}')
    assert repair(path).bad_lines == 1
    assert path.read_text() == '{"a":1}\n{"b":2}\n'
    assert path.with_name("s.jsonl.rejected").read_text() == "not json\n"
    path.write_text('{"a": 1}\n{"b": 2}')
    repair(path)
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'


def test_inspect_far_below_the_stride_names_one_aligned_size() -> None:
    """resnet18 at 3x3 said "nearest aligned sizes: none and 32x32"."""
    code, out, _ = cli("inspect", "resnet18", "--res", "3x3")
    assert code == 0
    notes = out.replace("\n  ", " ").splitlines()  # a note wrapped at 100 columns, joined
    (line,) = [x for x in notes if "nearest aligned" in x]
    assert line.endswith("nearest aligned size: 32x32.") and "none" not in line


def test_unsupported_output_stride_names_the_option() -> None:
    """``--output-stride 3`` blamed the input size ("cannot be built for 224x224")."""
    err = one_line_error("inspect", "resnet18", "--output-stride", "3")
    assert "resnet18 cannot be built with output_stride=3" in err and "8, 16 or 32" in err


def test_sweep_refuses_to_append_to_a_file_that_is_not_jsonl(tmp_path: Path) -> None:
    """``--out notes.md`` rewrote the user's notes (every line unreadable, so "repaired")."""
    notes = tmp_path / "notes.md"
    notes.write_text("# My notes\nsome text\n")
    err = one_line_error("sweep", "--models", "resnet18", "--out", str(notes))
    assert "notes.md is not a JSONL file (2 lines, none a JSON object)" in err
    assert notes.read_text() == "# My notes\nsome text\n"
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"model": "resn')  # a first line torn by kill -9 is still repaired
    assert repair(torn).torn_tail and torn.read_text() == ""


def test_sweep_with_only_blank_model_names_is_refused(tmp_path: Path) -> None:
    """``--models ''`` ran a sweep of 0 pairs and exited 0."""
    err = one_line_error("sweep", "--models", "", "--out", str(tmp_path / "s.jsonl"))
    assert "no model name given" in err


def test_sizes_without_an_aligned_size_says_so() -> None:
    """resnet18 --min 1 --max 20 said "no valid size", though every one of them runs."""
    code, out, _ = cli("sizes", "resnet18", "--min", "1", "--max", "20")
    assert code == 0
    assert "(no aligned size between 1 and 20; --all lists every size that runs)" in out


def test_layers_in_json_is_refused_not_dropped() -> None:
    err = one_line_error("inspect", "resnet18", "--layers", "--format", "json")
    assert "--layers has no JSON form" in err


@pytest.mark.parametrize("option", ["-o", "--summary-json"])
def test_report_over_its_own_input_is_refused(sweep_file: Path, option: str) -> None:
    """``report s.jsonl -o s.jsonl`` replaced the sweep with the Markdown report."""
    before = sweep_file.read_text()
    err = one_line_error("report", str(sweep_file), option, str(sweep_file))
    assert f"{option} {sweep_file} is one of the sweep files read" in err
    assert sweep_file.read_text() == before


def test_report_plots_in_a_csv_are_refused(sweep_file: Path, tmp_path: Path) -> None:
    """``--format csv --plots DIR`` ignored --plots without a word."""
    err = one_line_error("report", str(sweep_file), "--format", "csv", "--plots", str(tmp_path))
    assert "a CSV holds the table only" in err


def test_merge_into_a_gz_writes_gzip(sweep_file: Path, tmp_path: Path) -> None:
    """``merge -o all.jsonl.gz`` wrote plain text under a .gz name, which report then refused."""
    out = tmp_path / "all.jsonl.gz"
    code, _, err = cli("merge", str(sweep_file), "-o", str(out))
    assert code == 0, err
    assert json.loads(gzip.decompress(out.read_bytes())) == GOOD_LINE
    assert cli("report", str(out))[0] == 0


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "resnet18", "--device", "cuda"],
        ["sweep", "--models", "resnet18", "--device", "cuda", "--out", "/tmp/never.jsonl"],
        ["suggest", "--task", "coarse", "--no-latency", "--device", "cuda"],
    ],
)
def test_device_without_latency_is_refused_not_ignored(args: list[str]) -> None:
    """Static numbers are traced on the meta device: --device alone was silently ignored."""
    assert "--device cuda is where --latency measures" in one_line_error(*args)


def test_shard_count_without_shard_auto_is_refused(tmp_path: Path) -> None:
    err = one_line_error("sweep", "--models", "resnet18", "--shard-count", "3",
                         "--out", str(tmp_path / "s.jsonl"))  # fmt: skip
    assert "--shard-count goes with --shard auto" in err
