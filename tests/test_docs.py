"""The documentation site builds with warnings as errors (``mkdocs build --strict``, as ``make docs`` does), and
what it promises is there: every page of the nav, the API reference from the docstrings, the command-line help,
the pictures. Skipped when MkDocs is not installed (``pip install -e '.[docs]'``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
#: pages other issues write; while one is missing the site is built from a copy of docs/ with a stub in its place
PAGES_OF_OTHERS = ("model-card.md", "benchmarks.md", "metrics.md")
#: a Markdown link or image to a local file: [text](target) / ![alt](target)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _nav_pages(config: dict) -> list[str]:
    pages: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            pages.append(node)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(config["nav"])
    return pages


def _config() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site (strict: any warning fails the build)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site")
    config = REPO / "mkdocs.yml"
    missing = [name for name in PAGES_OF_OTHERS if not (DOCS / name).is_file()]
    if missing:
        # build from a copy with stubs, so the rest of the site is still checked; the stubs say what is missing
        docs = tmp_path_factory.mktemp("docs") / "docs"
        shutil.copytree(DOCS, docs)
        for name in missing:
            (docs / name).write_text(f"# {name}\n\nNot written yet.\n", encoding="utf-8")
        config = docs.parent / "mkdocs.yml"
        config.write_text(
            f"INHERIT: {REPO / 'mkdocs.yml'}\ndocs_dir: {docs}\nhooks:\n  - {DOCS / '_hooks' / 'cli_help.py'}\n",
            encoding="utf-8",
        )
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(out)],
        cwd=REPO,  # the griffe extension in mkdocs.yml is named relative to the repository
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=900,  # about 10 s on an idle machine
        check=False,
    )
    warnings = [line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert result.returncode == 0 and not warnings, "\n".join(warnings) or result.stderr[-3000:]
    return out


def _html(site: Path, page: str) -> str:
    path = site / (page[: -len(".md")] if page.endswith(".md") else page)
    path = path.parent if path.name == "index" else path
    return (path / "index.html").read_text(encoding="utf-8")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_page_of_the_nav_is_built(site: Path):
    pages = _nav_pages(_config())
    assert {"quickstart.md", "concepts.md", "faq.md", "model-card.md", "benchmarks.md", "metrics.md"} <= set(pages)
    assert sum(page.startswith("how-to/") for page in pages) == 8
    for page in pages:
        assert "</article>" in _html(site, page), page


def test_the_api_reference_comes_from_the_docstrings(site: Path):
    pipeline = _text(_html(site, "api/pipeline.md"))
    for name in ("generate", "continue_", "inpaint", "accompany", "from_pretrained", "save_pretrained"):
        assert name in pipeline
    assert "Keep keep_tracks" in pipeline  # a sentence from Pipeline.accompany's docstring
    roll = _text(_html(site, "api/roll.md"))
    assert "Read a MIDI file into a Roll" in roll and "TrackLayout" in roll
    for page in ("api/diffusion.md", "api/metrics.md", "api/data.md", "api/output.md"):
        html = _html(site, page)
        # reST left in the docstrings is turned into Markdown (docs/_hooks/griffe_rst.py)
        assert ":class:`" not in html and ":func:`" not in html and ".. math::" not in html, page
        assert not re.search(r"^={4,}\s+={4,}", _text(html)), page


def test_the_command_line_page_has_every_sub_command(site: Path):
    from symdiff.cli import build_parser

    text = _text(_html(site, "api/cli.md"))
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert len(commands) >= 10
    for name in commands:
        assert f"usage: symdiff {name}" in text, name


def test_pictures_exist_are_small_and_are_shown(site: Path):
    images = sorted((DOCS / "images").glob("*.png"))
    assert len(images) >= 5
    for image in images:
        assert image.stat().st_size < 200_000, f"{image.name} is over 200 kB"
    shown = set()
    for page in DOCS.rglob("*.md"):
        shown |= {Path(t).name for t in LINK.findall(page.read_text(encoding="utf-8")) if t.endswith(".png")}
    assert {"chorale.png", "layouts.png", "tensor.png", "masks.png", "noise.png"} <= shown
    assert (site / "images" / "masks.png").is_file()


def test_readme_links_point_at_files():
    readme = REPO / "README.md"
    targets = [t.split("#")[0] for t in LINK.findall(readme.read_text(encoding="utf-8")) if "://" not in t]
    assert len(targets) >= 10
    for target in targets:
        if Path(target).name in PAGES_OF_OTHERS and not (REPO / target).exists():
            continue  # written by another issue
        assert (REPO / target).exists(), f"README.md links to {target}, which does not exist"


def test_griffe_extension_turns_rest_into_markdown():
    sys.path.insert(0, str(DOCS / "_hooks"))
    try:
        pytest.importorskip("griffe")
        from griffe_rst import markdown
    finally:
        sys.path.remove(str(DOCS / "_hooks"))
    text = (
        "See :class:`~symdiff.roll.Roll` and :func:`symdiff.plot.roll_png`, :math:`x_0`.\n\n"
        ".. math::  a = b\n\n"
        "====  =====\nname  what\n====  =====\nx     one\n      more\ny     two\n====  =====\n"
    )
    out = markdown(text)
    assert "`Roll`" in out and "`symdiff.plot.roll_png`" in out and "$x_0$" in out
    assert "$$\na = b\n$$" in out
    assert "| name | what |" in out and "| x | one more |" in out and "| y | two |" in out
    assert "====" not in out
