"""A griffe extension for the API reference: turns the reST bits of symdiff's docstrings into Markdown.

symdiff's docstrings are Google style (``Args:``, ``Returns:``) with a few reST habits that Markdown would show
literally or misread: Sphinx roles (``:class:`~symdiff.roll.Roll```), ``:math:`` roles and ``.. math::`` blocks,
and simple tables framed by ``====`` lines (which Markdown would take for headings). This rewrites each docstring
once, when griffe loads the package for mkdocstrings:

- ``:class:`~a.b.C``` -> ```C```, ``:func:`a.b.f``` -> ```a.b.f```, ``:data:`X``` -> ```X```; ``:math:`x``` ->
  ``$x$``;
- a ``.. math::`` block -> a ``$$ ... $$`` block (MathJax, see docs/javascripts/mathjax.js);
- a simple reST table -> a Markdown table (continuation lines joined into their row).

Loaded by mkdocs.yml (``plugins.mkdocstrings.handlers.python.options.extensions``); not part of the package.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|obj|exc|const|term|ref):`~?([^`]+)`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
BORDER = re.compile(r"^(\s*)(=+)((?: +=+)+)\s*$")


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    text = match.group(0)
    if "~" in text.split("`", 1)[1][:1]:  # ~a.b.C shows only the last name
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _columns(border: str) -> list[tuple[int, int]]:
    """Start and end columns of each ``====`` group of a table border."""
    return [(m.start(), m.end()) for m in re.finditer(r"=+", border)]


def _cells(line: str, columns: list[tuple[int, int]]) -> list[str]:
    cells = []
    for i, (start, _) in enumerate(columns):
        stop = columns[i + 1][0] if i + 1 < len(columns) else None
        cells.append(line[start:stop].strip())
    return cells


def _table(lines: list[str], columns: list[tuple[int, int]]) -> list[str]:
    """A reST simple table (the lines between its first and last border) as Markdown table lines."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    for line in lines:
        if BORDER.match(line):
            if header is None and rows:
                header, rows = rows[0], rows[1:]
            continue
        if not line.strip():
            continue
        cells = _cells(line, columns)
        if rows and not cells[0]:  # a continuation line: join into the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    if header is None:
        header = [""] * len(columns)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def _tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = BORDER.match(lines[i])
        if match:
            columns = _columns(lines[i])
            # a simple table has a top border, a header rule and a bottom border
            borders = [j for j in range(i, len(lines)) if BORDER.match(lines[j]) and _columns(lines[j]) == columns]
            if len(borders) >= 3:
                end = borders[2]
                indent = match.group(1)
                out += ["", *(indent + row for row in _table(lines[i : end + 1], columns)), ""]
                i = end + 1
                continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def _math_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith(".. math::"):
            indent = lines[i][: len(lines[i]) - len(stripped)]
            body = [stripped[len(".. math::") :].strip()]
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
                body.append(lines[i].strip())
                i += 1
            formula = " ".join(part for part in body if part)
            out += [f"{indent}$$", f"{indent}{formula}", f"{indent}$$", ""]
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def markdown(text: str) -> str:
    """A docstring's reST bits as Markdown (see the module docstring)."""
    text = _math_blocks(text)
    text = _tables(text)
    text = MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    return ROLE.sub(_role, text)


class RestToMarkdown(griffe.Extension):
    """Rewrites every docstring of the loaded package with :func:`markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
