"""A small GitHub-flavoured Markdown table checker for the tests: every table has as many cells in each
row and in its separator as in its header (an unescaped ``|`` inside a cell breaks exactly that)."""

from __future__ import annotations

import re

_SPLIT = re.compile(r"(?<!\\)\|")


def cells(line: str) -> list[str]:
    """The cells of one table line (escaped ``\\|`` stays inside its cell)."""
    return [c.strip() for c in _SPLIT.split(line.strip().strip("|"))] if line.strip() != "|" else []


def tables(text: str) -> list[list[str]]:
    """Every table of ``text`` as its list of lines (a table starts with a header then a ``|---|`` line)."""
    lines, found, i = text.splitlines(), [], 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and re.fullmatch(r"\s*\|(\s*:?-+:?\s*\|)+\s*", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            found.append(lines[i:j])
            i = j
        else:
            i += 1
    return found


def assert_tables_render(text: str, at_least: int = 1) -> int:
    """Assert every table is well formed; returns how many there are."""
    found = tables(text)
    assert len(found) >= at_least, f"expected at least {at_least} table(s):\n{text[:1500]}"
    for table in found:
        width = len(cells(table[0]))
        bad = [(n, len(cells(line))) for n, line in enumerate(table) if len(cells(line)) != width]
        assert not bad, f"table with {width} header cells has rows of other widths {bad}:\n" + "\n".join(table[:4])
    return len(found)
