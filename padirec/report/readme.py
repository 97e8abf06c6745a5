"""Keep the result tables and verdicts of README.md and docs/*.md equal to the files the pipeline wrote.

A block in one of those pages

    <!-- begin figures/paper/evaluate/tables/findings.md -->
    ...
    <!-- end figures/paper/evaluate/tables/findings.md -->

holds the content of the named file (a path from the repository root, whichever page holds the block).
`python -m padirec.report.readme` rewrites every block of every page from its file (run it after
`dvc repro`); `--check` only reports the blocks that differ, each with its page, and the test suite
runs the same check on the last commit, so no page can drift from the numbers.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from padirec.pipeline.paths import repo_root

BLOCK = re.compile(r"(<!-- begin (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end (?P=path) -->)", re.DOTALL)
OPENING = re.compile(r"^<!-- begin (?P<path>[^ ]+) -->$", re.MULTILINE)  # a block opens on a line of its own
DIFFERS, MISSING, UNCLOSED = "differs from the file", "names a file that does not exist", "is not closed"


def pages(root: Path) -> list[Path]:
    """The pages that may hold blocks: README.md, then every docs/*.md in name order (those that exist)."""
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    return found + sorted((root / "docs").glob("*.md"))


def render(text: str, root: Path, page: str = "README.md") -> str:
    """`text` with every block's body replaced by the content of the file it names (relative to `root`)."""
    def fill(match: re.Match) -> str:
        source = root / match["path"]
        if not source.is_file():
            raise FileNotFoundError(f"{page}: the block names {match['path']}, which does not exist; run dvc repro "
                                    "or fix the block's path.")
        body = source.read_text(encoding="utf-8")
        return match.group(1) + body + ("" if body.endswith("\n") else "\n") + match.group(4)

    return BLOCK.sub(fill, text)


def unclosed_blocks(text: str) -> list[str]:
    """Paths of `<!-- begin PATH -->` lines with no matching `<!-- end PATH -->` after them."""
    closed = {match.start() for match in BLOCK.finditer(text)}
    return [match["path"] for match in OPENING.finditer(text) if match.start() not in closed]


def problems(text: str, root: Path) -> list[tuple[str, str]]:
    """(path, what is wrong) for every block of `text` that differs from its file, names a missing file, or
    is not closed."""
    found = []
    for match in BLOCK.finditer(text):
        source = root / match["path"]
        if not source.is_file():
            found.append((match["path"], MISSING))
            continue
        body = source.read_text(encoding="utf-8")
        if match["body"] != body + ("" if body.endswith("\n") else "\n"):
            found.append((match["path"], DIFFERS))
    return found + [(path, UNCLOSED) for path in unclosed_blocks(text)]


def stale_blocks(text: str, root: Path) -> list[str]:
    """Paths of the blocks of `text` that differ from their file, name a missing file, or are not closed."""
    return [path for path, _ in problems(text, root)]


def stale_pages(root: Path) -> list[tuple[str, str, str]]:
    """(page, path, what is wrong) for every stale block of every page under `root`, in the order of `pages`."""
    found = []
    for page in pages(root):
        name = page.relative_to(root).as_posix()
        found += [(name, path, problem) for path, problem in problems(page.read_text(encoding="utf-8"), root)]
    return found


def refresh(root: Path) -> list[str]:
    """Rewrite every page under `root` whose blocks differ from their files; returns the pages rewritten. Every
    page is rendered before any is written, so a block naming a missing file changes no page."""
    fresh = {}
    for page in pages(root):
        text = page.read_text(encoding="utf-8")
        rendered = render(text, root, page.relative_to(root).as_posix())
        if rendered != text:
            fresh[page] = rendered
    for page, text in fresh.items():
        page.write_text(text, encoding="utf-8")
    return [page.relative_to(root).as_posix() for page in fresh]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m padirec.report.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the blocks that differ from their files")
    parser.add_argument("--root", type=Path, default=None, help="the repository root (default: found from here)")
    args = parser.parse_args(argv)
    root = args.root if args.root is not None else repo_root()
    stale = stale_pages(root)
    if args.check:
        for page, path, problem in stale:
            print(f"{page}: the block of {path} {problem}; run python -m padirec.report.readme", file=sys.stderr)
        return 1 if stale else 0
    missing = [(page, path, problem) for page, path, problem in stale if problem == MISSING]
    if missing:
        for page, path, problem in missing:
            print(f"{page}: the block of {path} {problem}; run dvc repro or fix the block's path (no page was "
                  "rewritten)", file=sys.stderr)
        return 1
    unclosed = [(page, path) for page, path, problem in stale if problem == UNCLOSED]
    for page, path in unclosed:
        print(f"{page}: the block of {path} is not closed (no <!-- end {path} -->); it was left as it is",
              file=sys.stderr)
    refresh(root)
    return 1 if unclosed else 0


if __name__ == "__main__":
    raise SystemExit(main())
