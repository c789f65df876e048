"""Reads the runnable blocks of a Markdown page (the quickstart's convention).

Every fenced block of a page is a step, run in order, unless a MyST comment
line (``% quickstart: ...``, which the built page does not show) comes just
before it (blank lines between are fine):

- ``% quickstart: skip (why)``: not run (say why; as few as possible);
- ``% quickstart: file NAME``: the block is written to the file ``NAME``;
- ``% quickstart: output``: the block is what the step before it prints
  on stdout (compared line by line, surrounding blank lines ignored).

Other ``python`` blocks run as a script; ``sh`` blocks run with ``bash -e``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(`{3,})([\w-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
MARK = re.compile(r"^% quickstart: (skip|file|output)\b[ \t]*(.*)$")
LANGUAGES = ("sh", "python", "text")


@dataclass(frozen=True)
class Block:
    """A fenced block: its language, text, the directive before it (``""``:
    run it) with its argument, and its line in the page."""

    language: str
    text: str
    mark: str
    argument: str
    line: int


def blocks(markdown: str) -> list[Block]:
    """The page's fenced blocks, in order, with their directives."""
    result = []
    for match in FENCE.finditer(markdown):
        before = markdown[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.match(before)
        language = match.group(2)
        if language not in LANGUAGES:
            raise ValueError(
                f"block at line {_line(markdown, match.start())}: language {language!r}"
            )
        result.append(
            Block(
                language=language,
                text=match.group(3),
                mark=mark.group(1) if mark else "",
                argument=mark.group(2).strip() if mark else "",
                line=_line(markdown, match.start()),
            )
        )
    return result


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def page(path: Path) -> list[Block]:
    """The blocks of the Markdown page at ``path``."""
    return blocks(path.read_text(encoding="utf-8"))
