"""An MkDocs hook: writes the ``--help`` of ``symdiff`` and of every sub-command into the command-line page.

A page that holds the line ``<!-- symdiff-cli-help -->`` gets, in its place, one section per sub-command with its
help text as argparse prints it, so the reference can never drift from the parser (``symdiff.cli.build_parser``).
Loaded by mkdocs.yml (``hooks``); not part of the package.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- symdiff-cli-help -->"


def _help(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "110"  # argparse wraps to the terminal: fix the width so the page is the same everywhere
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def cli_reference() -> str:
    """Markdown: the top-level help, then a section per sub-command."""
    from symdiff.cli import build_parser

    parser = build_parser()
    parts = ["## `symdiff`", "", "```text", _help(parser), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        parts += [f"## `symdiff {name}`", "", "```text", _help(command), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
