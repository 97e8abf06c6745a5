"""The pages' blocks (README.md and docs/*.md): filled from the files they name, and the committed ones fresh."""
from __future__ import annotations

import pytest

from committed import committed_root
from padirec.report import readme


def test_readme_blocks_are_filled_from_their_files_and_stale_ones_are_listed(tmp_path):
    (tmp_path / "table.md").write_text("| a |\n|--|\n| 1 |\n")
    text = "intro\n<!-- begin table.md -->\nold\n<!-- end table.md -->\noutro\n"
    assert readme.stale_blocks(text, tmp_path) == ["table.md"]
    fresh = readme.render(text, tmp_path)
    assert fresh == "intro\n<!-- begin table.md -->\n| a |\n|--|\n| 1 |\n<!-- end table.md -->\noutro\n"
    assert readme.stale_blocks(fresh, tmp_path) == []
    with pytest.raises(FileNotFoundError, match="missing.md"):
        readme.render("<!-- begin missing.md -->\n<!-- end missing.md -->", tmp_path)
    assert readme.stale_blocks("<!-- begin missing.md -->\n<!-- end missing.md -->", tmp_path) == ["missing.md"]
    assert readme.stale_blocks("<!-- begin table.md -->\n| a |\n", tmp_path) == ["table.md"]  # never closed


def test_a_marker_quoted_in_prose_is_not_a_block(tmp_path):
    assert readme.stale_blocks("Blocks sit between `<!-- begin PATH -->` and `<!-- end PATH -->`.\n", tmp_path) == []


def test_every_page_is_checked_and_rewritten_and_the_check_names_the_page(tmp_path, capsys):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "table.md").write_text("| new |\n")
    (tmp_path / "docs").mkdir()
    block = "<!-- begin figures/table.md -->\n{}<!-- end figures/table.md -->\n"
    (tmp_path / "README.md").write_text("# r\n" + block.format("| new |\n"))
    (tmp_path / "docs" / "results.md").write_text("# d\n" + block.format("| old |\n"))
    (tmp_path / "docs" / "notes.txt").write_text(block.format("| old |\n"))  # not a page
    assert [page.name for page in readme.pages(tmp_path)] == ["README.md", "results.md"]
    assert readme.stale_pages(tmp_path) == [("docs/results.md", "figures/table.md", readme.DIFFERS)]

    assert readme.main(["--check", "--root", str(tmp_path)]) == 1
    assert "docs/results.md: the block of figures/table.md differs" in capsys.readouterr().err
    assert "| old |" in (tmp_path / "docs" / "results.md").read_text()  # --check writes nothing

    assert readme.main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / "docs" / "results.md").read_text() == "# d\n" + block.format("| new |\n")
    assert (tmp_path / "docs" / "notes.txt").read_text() == block.format("| old |\n")
    assert readme.main(["--check", "--root", str(tmp_path)]) == 0

    (tmp_path / "docs" / "more.md").write_text("<!-- begin figures/gone.md -->\n<!-- end figures/gone.md -->\n")
    (tmp_path / "figures" / "table.md").write_text("| newer |\n")
    assert readme.main(["--root", str(tmp_path)]) == 1  # a missing file: no page is rewritten
    assert "docs/more.md: the block of figures/gone.md names a file that does not exist" in capsys.readouterr().err
    assert "| new |" in (tmp_path / "README.md").read_text()


def test_the_committed_pages_match_the_committed_results():
    root = committed_root()
    if root is None:
        pytest.skip("not a git checkout: the committed files cannot be read")
    stale = readme.stale_pages(root)
    assert stale == [], "blocks differ from their files: " + "; ".join(
        f"{page}: {path} {problem}" for page, path, problem in stale) + " (run python -m padirec.report.readme)"
    shown = {match["path"] for page in readme.pages(root) for match in readme.BLOCK.finditer(page.read_text())}
    verdicts = {path.relative_to(root).as_posix() for path in root.glob("figures/*/evaluate/tables/findings.md")}
    assert verdicts and verdicts <= shown, f"every study's verdicts belong on a page: {sorted(verdicts - shown)}"


# ----------------------------------------------------------------------------- the README's headline tables


def test_the_committed_readme_shows_each_studys_generated_headline_table():
    root = committed_root()
    if root is None:
        pytest.skip("not a git checkout: the committed files cannot be read")
    text = (root / "README.md").read_text(encoding="utf-8")
    # Their content is checked with every other block (test_the_committed_pages_match_the_committed_results).
    for study in ("paper", "acc_div_tail"):
        assert f"<!-- begin figures/{study}/timing/evaluate/headline.md -->" in text, study


