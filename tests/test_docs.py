"""The README and the pages under docs/: every relative link reaches a file, every anchor a heading of its page,
and the README links every page.

The real pages are read from the last commit (`git archive HEAD`, tests/committed.py), as GitHub shows them
to a reader of a fresh clone: a link to a file that exists here but was never committed fails. Anchors
follow GitHub's rule: the heading's text in lower case, punctuation other than '-' and '_' dropped, each
space a '-', and '-1', '-2', ... after a repeated one.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from committed import ROOT, committed_root

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\((?P<target><[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"(?P<name>[^\"]+)\"")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        lines.append("" if fenced else INLINE_CODE.sub("", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text, lower case, punctuation but '-' and '_' dropped,
    spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"</?[A-Za-z][^>]*>", "", text)  # inline HTML tags
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a page: its headings' (repeats numbered as GitHub does) and its <a name/id> tags."""
    found, seen = set(), {}
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = HEADING.match(line)
        if heading:
            base = slug(heading["text"])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(match["name"] for match in HTML_ANCHOR.finditer(line))
    return found


def links(text: str) -> list[str]:
    """The targets of the page's markdown links and images, outside code."""
    return [match["target"].strip("<>") for line in prose_lines(text) for match in LINK.finditer(line)]


def broken_links(page: Path, root: Path) -> list[str]:
    """One line per relative link of `page` whose file (under `root`) or anchor does not exist."""
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if not target or EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page.resolve()
        if not file.is_relative_to(root.resolve()):
            problems.append(f"{target}: outside the repository")
        elif not file.exists():
            problems.append(f"{target}: no such file or folder")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file.read_text(encoding="utf-8"))):
            problems.append(f"{target}: no heading with the anchor #{anchor} in {file.relative_to(root.resolve())}")
    return problems


def docs_pages(root: Path) -> list[Path]:
    return sorted((root / "docs").glob("*.md"))


def tree() -> Path:
    """The last commit's files, or the working tree outside a git checkout."""
    return committed_root() or ROOT


# ----------------------------------------------------------------------------- the checker itself


@pytest.mark.parametrize("heading, anchor", [
    ("Quick start", "quick-start"),
    ("The `acc_div_tail` study", "the-acc_div_tail-study"),
    ("Devices, workers and cost past MovieLens-100K", "devices-workers-and-cost-past-movielens-100k"),
    ("Paper <-> repository", "paper---repository"),
    ("What *PaDiRec* is (in [brief](x.md))", "what-padirec-is-in-brief"),
])
def test_slug_follows_githubs_rule(heading, anchor):
    assert slug(heading) == anchor


def test_the_checker_finds_broken_files_and_anchors_and_passes_good_ones(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "plot.png").write_bytes(b"")
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Same\n\n## Same\n\n<a id=\"kept-name\"></a>\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text("\n".join([
        "# Page",
        "## A section",
        "[good file](other.md), [good anchor](other.md#same-1), [named](other.md#kept-name), [here](#a-section)",
        "![figure](../figures/plot.png) [web](https://example.org/x.md) [mail](mailto:a@b.c)",
        "[missing file](gone.md) and [bad anchor](other.md#nowhere) and [bad local](#no-section)",
        "[escapes](../../outside.md)",
        "`[in code](ignored.md)`",
        "```",
        "[in a fence](ignored.md)",
        "```",
    ]))
    assert broken_links(page, tmp_path) == [
        "gone.md: no such file or folder",
        "other.md#nowhere: no heading with the anchor #nowhere in docs/other.md",
        "#no-section: no heading with the anchor #no-section in docs/page.md",
        "../../outside.md: outside the repository",
    ]


# ----------------------------------------------------------------------------- the committed pages


def test_every_relative_link_of_the_readme_and_the_docs_resolves():
    root = tree()
    pages = [root / "README.md", *docs_pages(root)]
    problems = [f"{page.relative_to(root)}: {problem}" for page in pages for problem in broken_links(page, root)]
    assert problems == [], "broken links:\n" + "\n".join(problems)


def test_the_readme_links_every_docs_page():
    root = tree()
    linked = {(root / target.partition("#")[0]).resolve()
              for target in links((root / "README.md").read_text(encoding="utf-8"))
              if target and not EXTERNAL.match(target)}
    unlinked = [page.relative_to(root).as_posix() for page in docs_pages(root) if page.resolve() not in linked]
    assert unlinked == [], f"docs pages the README does not link: {unlinked}"


def test_every_docs_page_has_a_title_and_an_introduction():
    root = tree()
    for page in docs_pages(root):
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert lines and lines[0].startswith("# "), f"{page.name}: the first line must be its title"
        assert len(lines) > 1 and not lines[1].startswith("#"), f"{page.name}: a paragraph must follow the title"
