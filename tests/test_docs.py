"""The documentation: the sizing rules the output cites exist, nothing cites an unshipped
document, the README stays short and every page the site lists is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcalc.cli import main

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "rules.md"
CITATION = re.compile(r"rules §(\d+)")


def _texts() -> dict[Path, str]:
    """Every file whose text a user can read: the package's code, the README, the docs."""
    files = [*(ROOT / "archcalc").rglob("*.py"), ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    return {f: f.read_text(encoding="utf-8") for f in files}


def _rule_sections() -> set[int]:
    """Section numbers of docs/rules.md: headings '## §N title { #rule-N }'."""
    text = RULES.read_text(encoding="utf-8")
    found = re.findall(r"^## §(\d+) .*\{ #rule-(\d+) \}$", text, flags=re.MULTILINE)
    assert all(a == b for a, b in found)
    return {int(a) for a, _ in found}


def test_rules_page_numbers_its_sections_one_to_six() -> None:
    assert _rule_sections() == {1, 2, 3, 4, 5, 6}  # §6: the pixels an object gets (--data)


def test_every_section_the_code_and_docs_cite_exists() -> None:
    sections = _rule_sections()
    cited = {
        (path.relative_to(ROOT).as_posix(), int(n))
        for path, text in _texts().items()
        for n in CITATION.findall(text)
    }
    code = {n for path, n in cited if path.startswith("archcalc/")}
    assert code >= {1, 2, 3, 4, 5, 6}  # the reasons cite every rule
    assert [c for c in cited if c[1] not in sections] == []


@pytest.mark.parametrize("unshipped", ["domain notes", "domain.md", "/work/shared", "shared/docs"])
def test_nothing_cites_a_document_the_repository_does_not_ship(unshipped: str) -> None:
    hits = [
        path.relative_to(ROOT).as_posix()
        for path, text in _texts().items()
        if unshipped in text.lower()
    ]
    assert hits == []


def test_suggest_help_says_where_the_rules_are() -> None:
    out = CliRunner().invoke(main, ["suggest", "--help"]).output
    assert '"rules §N": section N of docs/rules.md' in " ".join(out.split())


def test_readme_is_at_most_200_lines() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_every_page_in_the_site_navigation_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = re.findall(r":\s*([\w/.-]+\.md)\s*$", config, flags=re.MULTILINE)
    assert len(pages) >= 14
    assert [p for p in pages if not (ROOT / "docs" / p).exists()] == []


def test_the_api_page_documents_every_public_name() -> None:
    import archcalc

    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^::: archcalc\.(\w+)$", page, flags=re.MULTILINE))
    assert sorted(set(archcalc.__all__) - {"__version__"} - listed) == []


#: Console examples whose output may be wider than 100 columns, and why.
WIDE_OUTPUT = {
    "archcalc report": "a Markdown document (its tables are for a Markdown viewer), not a table",
    "archcalc sweep": "the one-line summary on stderr, like an error line",
}


def test_every_documented_command_output_fits_100_columns() -> None:
    """suggest, inspect, scale... fit a 100-column terminal by default (the docs are produced
    with stdout not a terminal, so at 100); one-line errors and --format json/csv/markdown
    output are exempt, and so are the commands in WIDE_OUTPUT."""
    from docs_examples import blocks_of, doc_files, steps_of

    too_wide = []
    for path in doc_files():
        for block in blocks_of(path):
            if block.lang != "console":
                continue
            for step in steps_of(block.lines, "console"):
                command = " ".join(step.source)
                if command[2:].startswith(tuple(WIDE_OUTPUT)) or "--format" in command:
                    continue
                too_wide += [
                    f"{block.name}: {command[:60]}: {len(line)} columns"
                    for line in step.expected
                    if len(line) > 100 and not line.startswith("archcalc: error:")
                ]
    assert too_wide == []
