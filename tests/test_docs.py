"""The documentation site as a reader sees it: built with mkdocs into a temporary folder, its
HTML parsed and checked for what ``mkdocs build --strict`` lets through (markup swallowed as
HTML, a list read as table rows, a sentence cut short)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

bs4 = pytest.importorskip("bs4", reason="the docs extra is not installed: pip install '.[docs]'")
pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install '.[docs]'")

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))

#: Every element that markdown, mkdocs-material and mkdocstrings write; any other tag in a page
#: is text like ``<person>`` that markdown passed through as HTML and the browser hides.
HTML_TAGS = frozenset(
    re.findall(
        r"\w+",
        "a abbr b blockquote br caption code col colgroup dd del details div dl dt em figcaption "
        "figure h1 h2 h3 h4 h5 h6 hr i img input ins kbd label li mark ol p pre q s small span "
        "strong sub summary sup svg path table tbody td tfoot th thead tr u ul",
    )
)
#: Words no sentence ends on: a paragraph ending in one was cut.
DANGLING = frozenset(
    re.findall(
        r"\w+",
        "a an and as at by for from in into of on or than that the to via when where which with "
        "without install",
    )
)
LIST_MARKER = re.compile(r"^\s*([-*+]|\d+[.)])\s")
PLACEHOLDER = re.compile(r"<[A-Za-z][\w.-]*>")
ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
SPHINX_ROLE = re.compile(r":(?:attr|class|const|data|exc|func|meth|mod|obj):")


MARKDOWN = ["README.md", *(f"docs/{page}" for page in PAGES)]


@pytest.mark.parametrize("path", MARKDOWN)
def test_no_paragraph_runs_into_a_list_item(path):
    """A line at the margin right after a list item continues that item (markdown's lazy
    continuation): a paragraph or table meant to follow a list needs a blank line first."""
    in_item, fenced, faults = False, False, []
    for number, line in enumerate((REPO / path).read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced, in_item = not fenced, False
        elif fenced or not line.strip():
            in_item = False
        elif LIST_MARKER.match(line):
            in_item = True
        elif in_item and not line.startswith(" "):
            faults.append(f"{path}:{number}: {line[:80]!r} runs into the list item above it")
    assert not faults, "\n".join(faults)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=REPO,
        env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def article(site: Path, page: str):
    """The rendered content of ``docs/<page>`` (no navigation, header or footer)."""
    stem = page.removesuffix(".md")
    html = site / ("index.html" if stem == "index" else f"{stem}/index.html")
    soup = bs4.BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    content = soup.select_one("article")
    assert content is not None, f"{html}: no <article>"
    return content


def prose(markdown: str) -> str:
    """Markdown without what is printed literally: fenced blocks, code spans, autolinks."""
    markdown = re.sub(r"^( *)(```|~~~).*?^\1\2", "", markdown, flags=re.S | re.M)
    markdown = re.sub(r"(`+).+?\1", "", markdown, flags=re.S)
    return re.sub(r"<(?:https?|mailto):[^>]*>", "", markdown)


def command_helps(command: click.Command, name: str = "faceprint") -> list[tuple[str, str]]:
    """``(name, help)`` of ``command`` and of every subcommand under it."""
    out = [(name, command.help or "")]
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            out += command_helps(sub, f"{name} {sub_name}")
    return out


def source_placeholders(page: str) -> set[str]:
    """``<word>`` texts outside code in the page's markdown (the CLI page: in the commands'
    help, which mkdocs-click passes to markdown as it is)."""
    text = prose((DOCS / page).read_text(encoding="utf-8"))
    if page == "cli.md":
        from faceprint.cli import main

        text += "\n".join(prose(help) for _, help in command_helps(main))
    return set(PLACEHOLDER.findall(text))


def blocks(content) -> list:
    """Paragraphs, list items and table cells that hold no further block of their own."""
    nested = ["p", "li", "td", "th", "ul", "ol", "table", "pre", "div", "details"]
    return [
        el
        for el in content.find_all(["p", "li", "td", "th"])
        if el.find(nested) is None and el.find_parent("pre") is None
    ]


def test_command_summaries_are_whole_sentences():
    """mkdocs-click lists each command by the first line of its help: that line is a sentence."""
    from faceprint.cli import main

    cut = []
    for name, help in command_helps(main):
        first = help.strip().splitlines()[0].strip() if help.strip() else ""
        if not re.search(r"[.?!]$", first) or first.count("(") != first.count(")"):
            cut.append(f"{name}: {first!r} is cut short")
        if PLACEHOLDER.search(first):
            cut.append(f"{name}: {first!r} reads as HTML")
    assert not cut, "\n".join(cut)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_no_text_is_swallowed_as_html(site, page):
    content = article(site, page)
    faults = []
    unknown = sorted({t.name for t in content.find_all(True)} - HTML_TAGS)
    if unknown:
        faults.append(f"{[f'<{t}>' for t in unknown]} rendered as HTML tags")
    shown = content.get_text()
    lost = sorted(p for p in source_placeholders(page) if p not in shown)
    if lost:
        faults.append(f"{lost} in the source are missing from the page")
    escaped = sorted(set(ENTITY.findall(shown)))
    if escaped:
        faults.append(f"escaped twice, the page shows {escaped} literally")
    for code in content.find_all(["code", "pre"]):
        code.decompose()
    roles = sorted(set(SPHINX_ROLE.findall(content.get_text())))
    if roles:
        faults.append(f"Sphinx roles {roles} shown as text (docs/griffe_roles.py rewrites them)")
    assert not faults, f"docs/{page}:\n" + "\n".join(faults)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_lists_are_lists(site, page):
    content = article(site, page)
    faults = []
    for table in content.find_all("table"):
        width = len(table.find_all("th")) or 1
        for row in table.find_all("tr"):
            cells = [c.get_text(" ", strip=True) for c in row.find_all(["td", "th"])]
            if LIST_MARKER.match(cells[0]):
                faults.append(f"a list item became a table row: {cells[0][:80]!r}")
            elif width >= 3 and not any(cells[1:]):
                faults.append(f"a stray table row holds only {cells[0][:80]!r}")
    for p in content.find_all("p"):
        for line in p.get_text().splitlines():
            if LIST_MARKER.match(line):
                faults.append(f"a list item ran into the paragraph before it: {line[:80]!r}")
    assert not faults, f"docs/{page}:\n" + "\n".join(faults)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_no_sentence_is_cut(site, page):
    content = article(site, page)
    faults = []
    for el in blocks(content):
        text = " ".join(el.get_text(" ").split())
        last = re.search(r"(\w+)$", text)  # a last word with no stop after it
        if text.count("(") != text.count(")"):
            faults.append(f"unclosed '(': {text[-100:]!r}")
        elif el.name != "th" and last and last[1].lower() in DANGLING:
            faults.append(f"cut short: {text[-100:]!r}")
    if page == "cli.md":
        summaries = [
            li
            for heading in content.find_all("strong", string="Subcommands")
            for li in heading.find_parent("p").find_next_sibling("ul").find_all("li")
        ]
        assert summaries, "docs/cli.md lists no subcommands"
        for li in summaries:
            text = " ".join(li.get_text(" ").split())
            if not re.search(r"[.?!]$", text):
                faults.append(f"summary cut short: {text!r}")
    assert not faults, f"docs/{page}:\n" + "\n".join(faults)
