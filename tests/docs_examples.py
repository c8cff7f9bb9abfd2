"""Run the examples of README.md and docs/*.md, and rewrite their outputs from the code.

Which blocks run (the conventions are explained in docs/contributing.md):

- A fenced ``console`` block holds ``$ archcalc ...`` commands (a line ending in ``\\`` goes
  on), each followed by the output it must print. Commands run in-process through click's
  ``CliRunner``, in a folder of their own per page, with a result cache that is fresh for the
  run (shared by every block of the run, so a repeated question is answered from it).
- A fenced ``python`` block with ``>>>`` prompts runs example by example: each prompt's output
  (what it prints, and the ``repr`` of an expression) must match the lines below it. A python
  block without prompts just has to run. A page's python blocks share one namespace.
- Other blocks (``bash``, ``text``, ``toml``, ``json``, ``markdown``) are not run.

Masks keep machine-dependent figures (latency, timings, cache paths) visible but unchecked:
``…`` inside a line matches any text on that line, and a line holding only ``…`` matches any
number of lines. Everything else must match exactly (trailing spaces and trailing blank lines
aside).

An HTML comment on the line before a fence changes how it runs:

- ``<!-- example: slow -->``: needs more than a few seconds; pytest marks it ``slow``, so
  ``pytest -m "not slow"`` skips it;
- ``<!-- example: gpu -->``: needs a CUDA device; skipped without one (and marked ``slow``);
- ``<!-- example: file NAME -->``: the block is not run but written to NAME in the page's
  folder, for the commands after it to read.

Update mode rewrites every expected output from the current code, keeping each masked line
that still matches (``--slow`` includes the slow blocks)::

    PYTHONPATH=$PWD python tests/docs_examples.py --update [--slow] [FILE.md ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MASK = "…"
RUN_LANGUAGES = ("console", "python")
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<what>[\w-]+)\s*(?P<arg>\S*)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its marker and its lines (no fences)."""

    path: Path
    start: int  # 0-based index of the first body line in the file
    lang: str
    marker: str
    argument: str
    lines: tuple[str, ...]

    @property
    def name(self) -> str:
        """``README.md:42``, the 1-based line of the opening fence."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.start}"

    @property
    def runs(self) -> bool:
        """A console or python block that is not a file to write."""
        return self.lang in RUN_LANGUAGES and self.marker != "file"


def doc_files() -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, with the marker on the line before each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None or not opening["lang"]:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        indent = len(opening["indent"])
        found.append(
            Block(
                path=path,
                start=i + 1,
                lang=opening["lang"],
                marker=marker["what"] if marker else "",
                argument=marker["arg"] if marker else "",
                lines=tuple(line[indent:] for line in lines[i + 1 : end]),
            )
        )
        i = end + 1
    return found


# -- matching ---------------------------------------------------------------------------


def _clean(text: str) -> list[str]:
    """Lines without trailing spaces, without trailing blank lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _pattern(expected: list[str]) -> re.Pattern[str]:
    """The expected lines as one regex: ``…`` in a line is any text, alone any lines."""
    parts = []
    for line in expected:
        if line.strip() == MASK:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*?".join(map(re.escape, line.split(MASK))) + r"\n")
    return re.compile("".join(parts))


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the actual lines match the expected ones, masks included."""
    return _pattern(expected).fullmatch("".join(f"{a}\n" for a in actual)) is not None


def merged(expected: list[str], actual: list[str]) -> tuple[list[str], bool]:
    """The new expected lines for update mode: masked lines kept where they still match.

    Returns the lines and whether every mask of ``expected`` survived.
    """
    if matches(expected, actual):
        return expected, True
    masked = any(MASK in line for line in expected)
    if masked and len(expected) == len(actual) and all(e.strip() != MASK for e in expected):
        kept = [e if matches([e], [a]) else a for e, a in zip(expected, actual, strict=True)]
        return kept, all(MASK not in e or k == e for e, k in zip(expected, kept, strict=True))
    return actual, not masked


# -- running ----------------------------------------------------------------------------


@dataclass
class Page:
    """What the blocks of one page share: a working folder and a python namespace."""

    folder: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__docs__"})


@dataclass(frozen=True)
class Step:
    """One command or prompt of a block: its source lines, expected output and where."""

    source: list[str]
    expected: list[str]
    first: int  # index in the block of the source's first line
    end: int  # index in the block after the expected output


#: What starts a command (console) or an example (python) in a block.
PROMPTS = {"console": "$ ", "python": ">>>"}


def _continues(lang: str, last: str, line: str) -> bool:
    """Whether ``line`` goes on with the source ending in ``last``: ``\\`` or ``...``."""
    return last.endswith("\\") if lang == "console" else line.startswith("...")


def steps_of(lines: tuple[str, ...], lang: str) -> list[Step]:
    """Split a block into its commands or prompts and the output under each.

    An output runs to the next prompt, blank lines included (trailing ones dropped).
    """
    prompt = PROMPTS[lang]
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(prompt):
            raise ValueError(f"line {i + 1} of the block is output before any {prompt!r} prompt")
        first, source = i, [lines[i]]
        i += 1
        while i < len(lines) and _continues(lang, source[-1], lines[i]):
            source.append(lines[i])
            i += 1
        out_start = i
        while i < len(lines) and not lines[i].startswith(prompt):
            i += 1
        steps.append(Step(source, _clean("\n".join(lines[out_start:i])), first, i))
    return steps


def run_command(source: list[str], page: Page, cache: Path) -> list[str]:
    """Run one ``$ archcalc ...`` command in-process; its stdout and stderr as lines."""
    from click.testing import CliRunner

    from archcalc.cli import main

    command = shlex.split(" ".join(line.rstrip("\\").strip() for line in source)[2:])
    if not command or command[0] != "archcalc":
        raise ValueError(
            f"only archcalc commands run in console examples, not {command[:1]}: show the "
            "output of a script (a benchmark) in a ```text block"
        )
    previous = Path.cwd()
    os.chdir(page.folder)
    try:
        result = CliRunner().invoke(
            main,
            command[1:],
            prog_name="archcalc",
            env={"XDG_CACHE_HOME": str(cache), "COLUMNS": "100"},
        )
    finally:
        os.chdir(previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise RuntimeError(f"{' '.join(command)} raised:\n{trace}")
    return _clean(result.output)


def run_prompt(source: list[str], page: Page) -> list[str]:
    """Run one ``>>>`` example in the page's namespace; what it printed or echoed."""
    code = "\n".join(line[4:] for line in source)
    buffer = io.StringIO()
    previous = Path.cwd()
    os.chdir(page.folder)
    try:
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, "<docs example>", "single"), page.namespace)
    finally:
        os.chdir(previous)
    return _clean(buffer.getvalue())


def run_block(block: Block, page: Page, cache: Path) -> list[str]:
    """Run a block; return its lines as the current code would print them."""
    if block.marker == "file":
        (page.folder / block.argument).write_text("\n".join(block.lines) + "\n", "utf-8")
        return list(block.lines)
    if block.lang == "python" and not any(line.startswith(">>>") for line in block.lines):
        previous = Path.cwd()
        os.chdir(page.folder)
        try:
            exec(compile("\n".join(block.lines), block.name, "exec"), page.namespace)
        finally:
            os.chdir(previous)
        return list(block.lines)
    steps = steps_of(block.lines, block.lang)
    new: list[str] = []
    failures: list[str] = []
    for step in steps:
        if block.lang == "console":
            actual = run_command(step.source, page, cache)
        else:
            actual = run_prompt(step.source, page)
        if not matches(step.expected, actual):
            failures.append(_diff(step, actual))
        lines, _ = merged(step.expected, actual)
        new += [*block.lines[step.first : step.first + len(step.source)], *lines]
        if step.end < len(block.lines) and not block.lines[step.end - 1].strip():
            new.append("")  # keep the blank line that set the next command apart
    if failures:
        raise ExampleMismatch(block, new, failures)
    return new


class ExampleMismatch(AssertionError):
    """An example printed something other than its block says; carries the new lines."""

    def __init__(self, block: Block, new: list[str], failures: list[str]) -> None:
        super().__init__(f"{block.name}: " + "\n\n".join(failures))
        self.new = new


def _diff(step: Step, actual: list[str]) -> str:
    """The first differing line of one step, then the whole expected and actual output."""
    import difflib

    diff = difflib.unified_diff(step.expected, actual, "documented", "printed", lineterm="", n=1)
    return f"{step.source[0]!r} printed something else:\n" + "\n".join(diff)


@contextlib.contextmanager
def session() -> Iterator[tuple[dict[Path, Page], Path]]:
    """Fresh folders: one per page, and one result cache for the whole run."""
    with tempfile.TemporaryDirectory(prefix="archcalc-docs-") as tmp:
        pages: dict[Path, Page] = {}
        cache = Path(tmp) / "cache"
        cache.mkdir()
        yield pages, cache


def page_for(pages: dict[Path, Page], path: Path, base: Path) -> Page:
    """The shared state of one page, made on first use."""
    if path not in pages:
        folder = base / f"page-{len(pages)}"
        folder.mkdir()
        pages[path] = Page(folder)
    return pages[path]


# -- update mode ------------------------------------------------------------------------


def update(files: list[Path], slow: bool) -> int:
    """Rewrite each block's expected output from the current code; returns the count."""
    changed = 0
    with session() as (pages, cache):
        for path in files:
            text = path.read_text(encoding="utf-8").splitlines()
            replacements: list[tuple[Block, list[str]]] = []
            for block in blocks_of(path):
                if not (block.runs or block.marker == "file"):
                    continue
                if block.marker in ("slow", "gpu") and not slow:
                    continue
                try:
                    new = run_block(block, page_for(pages, path, cache.parent), cache)
                except ExampleMismatch as mismatch:
                    new = mismatch.new
                    print(f"updated {block.name}", file=sys.stderr)
                    changed += 1
                except Exception as error:  # noqa: BLE001 - report the block, go on with the rest
                    print(f"FAILED {block.name}: {error}", file=sys.stderr)
                    continue
                replacements.append((block, new))
            for block, new in reversed(replacements):  # from the end: line numbers hold
                fence = text[block.start - 1]
                indent = " " * (len(fence) - len(fence.lstrip()))
                text[block.start : block.start + len(block.lines)] = [
                    f"{indent}{line}" if line else "" for line in new
                ]
            path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """``python tests/docs_examples.py --update [--slow] [FILE ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite expected outputs")
    parser.add_argument("--slow", action="store_true", help="include slow and GPU blocks")
    parser.add_argument("files", nargs="*", type=Path, help="default: README.md and docs/")
    args = parser.parse_args(argv)
    if not args.update:
        parser.error("use pytest to check the examples; --update rewrites them")
    files = [f.resolve() for f in args.files] or doc_files()
    changed = update(files, args.slow)
    print(f"{changed} block(s) rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
