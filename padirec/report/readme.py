"""Keep the README's result tables and verdicts equal to the files the pipeline wrote.

A README block

    <!-- begin figures/paper/evaluate/tables/findings.md -->
    ...
    <!-- end figures/paper/evaluate/tables/findings.md -->

holds the content of the named file. `python -m padirec.report.readme` rewrites every block from its file
(run it after `dvc repro`); `--check` only reports blocks that differ, and the test suite runs it,
so the README cannot drift from the numbers.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from padirec.pipeline.paths import repo_root

BLOCK = re.compile(r"(<!-- begin (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end (?P=path) -->)", re.DOTALL)


def render(text: str, root: Path) -> str:
    """`text` with every block's body replaced by the content of the file it names."""
    def fill(match: re.Match) -> str:
        source = root / match["path"]
        if not source.is_file():
            raise FileNotFoundError(f"the README block names {match['path']}, which does not exist; run dvc repro "
                                    "or fix the block's path.")
        body = source.read_text(encoding="utf-8")
        return match.group(1) + body + ("" if body.endswith("\n") else "\n") + match.group(4)

    return BLOCK.sub(fill, text)


def stale_blocks(text: str, root: Path) -> list[str]:
    """Paths of the blocks whose body differs from their file."""
    fresh = {match["path"]: match["body"] for match in BLOCK.finditer(render(text, root))}
    return [match["path"] for match in BLOCK.finditer(text) if match["body"] != fresh[match["path"]]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m padirec.report.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the blocks that differ from their files")
    args = parser.parse_args(argv)
    root = repo_root()
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if args.check:
        stale = stale_blocks(text, root)
        for path in stale:
            print(f"README.md: the block of {path} differs from the file; run python -m padirec.report.readme", file=sys.stderr)
        return 1 if stale else 0
    readme.write_text(render(text, root), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
