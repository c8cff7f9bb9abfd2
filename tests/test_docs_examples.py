"""Every console and python example in README.md and docs/ runs and prints what it shows.

See tests/docs_examples.py for the conventions (masks, markers) and the update mode that
rewrites the expected outputs: ``PYTHONPATH=$PWD python tests/docs_examples.py --update``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docs_examples import Block, Page, blocks_of, doc_files, page_for, run_block, session


def _params() -> list[object]:
    params = []
    for path in doc_files():
        for block in blocks_of(path):
            if not block.runs and block.marker != "file":
                continue
            marks = []
            if block.marker in ("slow", "gpu"):
                marks.append(pytest.mark.slow)
            if block.marker == "gpu":
                marks.append(pytest.mark.cuda)
            params.append(pytest.param(block, id=block.name, marks=marks))
    return params


@pytest.fixture(scope="session")
def docs_session() -> Iterator[tuple[dict[Path, Page], Path]]:
    with session() as state:
        yield state


@pytest.mark.parametrize("block", _params())
def test_example(block: Block, docs_session: tuple[dict[Path, Page], Path]) -> None:
    if block.marker == "gpu":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
    pages, cache = docs_session
    run_block(block, page_for(pages, block.path, cache.parent), cache)


def test_a_changed_number_fails() -> None:
    """The checker is not a no-op: a block whose figure is off by one digit fails."""
    from docs_examples import ExampleMismatch, matches

    assert matches(["k x k: 7x7"], ["k x k: 7x7"])
    assert not matches(["k x k: 7x7"], ["k x k: 8x8"])
    assert matches(["median 23.5 … ms"], ["median 23.5 0.4 ms"])
    assert matches(["a", "…", "z"], ["a", "b", "c", "z"]) and matches(["a", "…", "z"], ["a", "z"])
    assert not matches(["median … ms", "k 7"], ["median 3 ms", "k 8"])
    assert issubclass(ExampleMismatch, AssertionError)
