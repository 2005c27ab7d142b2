"""README, docs and runbooks render as intended on a CommonMark renderer (markdown-it-py): every
code fence closes, no fence opens with prose as its info string, and every `#` heading line outside
a code block is a heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from markdown_it import MarkdownIt

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md")), *sorted((REPO_ROOT / "runbooks").glob("*.md"))]
FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,})")
INFO = re.compile(r"^[A-Za-z0-9_+.-]*$")  # a language tag, or nothing


def tokens(path: Path):
    return MarkdownIt("commonmark").parse(path.read_text())


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_code_fence_closes(path: Path) -> None:
    lines = path.read_text().splitlines()
    for token in tokens(path):
        if token.type == "fence":
            start, end = token.map
            assert INFO.match(token.info.strip()), f"{path.name}:{start + 1}: fence opened with prose {token.info!r}"
            assert end <= len(lines) and FENCE_LINE.match(lines[end - 1]) and end - 1 > start, (
                f"{path.name}:{start + 1}: code fence never closes (the rest of the file renders as code)"
            )


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_heading_lines_render_as_headings(path: Path) -> None:
    parsed = tokens(path)
    in_code = {i for t in parsed if t.type in ("fence", "code_block") for i in range(*t.map)}
    headings = {t.map[0] for t in parsed if t.type == "heading_open"}
    for number, line in enumerate(path.read_text().splitlines()):
        if re.match(r"^#{1,6} \S", line) and number not in in_code:
            assert number in headings, f"{path.name}:{number + 1}: {line!r} does not render as a heading"
        if re.match(r"^#{2,6} [A-Z]", line) and number in in_code:
            # A '## Title' inside a code block is a section swallowed by an unclosed fence (shell
            # comments in our code blocks use a single '#').
            raise AssertionError(f"{path.name}:{number + 1}: {line!r} is inside a code block")
