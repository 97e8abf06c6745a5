"""Confidence intervals, verdicts, paired t-tests, the split-half replication check and the README's sentences."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from committed import committed_root
from padirec.comparison import replication
from padirec.report import readme


def test_confidence_interval_is_the_t_interval():
    values = [1.0, 2.0, 4.0, 7.0]
    mean, half = replication.confidence_interval(values)
    low, high = stats.t.interval(0.95, df=3, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(3.5) and half == pytest.approx((high - low) / 2)
    assert np.isnan(replication.confidence_interval([1.0])[1])


def test_halves_are_disjoint_and_cover_the_seeds():
    assert replication.halves([0, 1, 2, 3, 4]) == ([0, 1], [2, 3, 4])
    assert replication.halves([5, 6, 7, 8]) == ([5, 6], [7, 8])


@pytest.mark.parametrize("difference, lower_is_better, expected", [
    ([0.5, 0.6, 0.55, 0.52], False, "better"),
    ([0.5, 0.6, 0.55, 0.52], True, "worse"),
    ([-0.5, -0.6, -0.55, -0.52], True, "better"),
    ([0.5, -0.6, 0.55, -0.52], False, "no difference shown"),
    ([0.0, 0.0, 0.0], False, "no difference shown"),
])
def test_verdict_reads_the_direction_of_the_metric(difference, lower_is_better, expected):
    assert replication.verdict(np.array(difference), lower_is_better)[0] == expected


def summaries_with(padirec_minus_other: dict[int, float]) -> pd.DataFrame:
    """Per-seed summaries of two backbones where PaDiRec's gap exceeds Hypernetwork's by the given amounts."""
    rows = []
    for backbone, offset in (("sasrec", 0.0), ("gru4rec", 0.001)):
        for seed, difference in padirec_minus_other.items():
            base = 0.02 + 0.001 * seed + offset
            rows += [{"backbone": backbone, "seed": seed, "method": "hypernetwork", "rel_gap_unseen": base},
                     {"backbone": backbone, "seed": seed, "method": "padirec", "rel_gap_unseen": base + difference}]
    return pd.DataFrame(rows)


def test_a_verdict_that_holds_on_both_halves_is_a_finding_and_one_that_flips_is_not():
    comparisons = [{"metric": "rel_gap_unseen", "other": "hypernetwork"}]
    steady = summaries_with({0: 0.010, 1: 0.011, 2: 0.012, 3: 0.0105, 4: 0.0115, 5: 0.0108})
    table = replication.replication_table(steady, comparisons, [0, 1, 2, 3, 4, 5])
    row = table.iloc[0]
    assert row["verdict_all"] == row["verdict_half_1"] == row["verdict_half_2"] == "worse"
    assert row["replicated"] and row["finding"] and row["pairs_all"] == 12
    assert "**PaDiRec is worse than Hypernetwork** on the gap to Retrain" in replication.sentence(row)

    flipping = summaries_with({0: 0.010, 1: 0.011, 2: 0.012, 3: -0.001, 4: 0.0005, 5: -0.0007})
    row = replication.replication_table(flipping, comparisons, [0, 1, 2, 3, 4, 5]).iloc[0]
    assert row["verdict_half_1"] == "worse" and row["verdict_half_2"] == "no difference shown"
    assert not row["replicated"] and not row["finding"]
    text = replication.findings_markdown(replication.replication_table(flipping, comparisons, [0, 1, 2, 3, 4, 5]))
    assert "Not resolved at this sample size" in text and "95% CI" in text and "**" not in text


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


# ----------------------------------------------------------------------------- paired tests


def summary_table() -> pd.DataFrame:
    """HV per (backbone, seed): PaDiRec and Retrain on 3 pairs, Nearest on 2 of them."""
    records = [("b", 0, "padirec", 0.5), ("b", 1, "padirec", 0.6), ("c", 0, "padirec", 0.4),
               ("b", 0, "retrain", 0.4), ("b", 1, "retrain", 0.45), ("c", 0, "retrain", 0.3),
               ("b", 0, "nearest", 0.3), ("b", 1, "nearest", 0.5)]
    return pd.DataFrame(records, columns=["backbone", "seed", "method", "hv"])


def test_paired_tests_by_hand() -> None:
    table = replication.paired_tests(summary_table(), "hv").set_index("baseline")
    # Only methods present, in TABLE_ORDER (padirec.methods.registry): retrain before nearest.
    assert table.index.tolist() == ["retrain", "nearest"]
    # Retrain: d = (0.1, 0.15, 0.1), mean 0.35 / 3 = 0.116667; deviations (-1/60, 1/30, -1/60),
    #   sd = sqrt((1 + 4 + 1) / 3600 / 2) = 0.028868; se = sd / sqrt(3) = 1/60 -> t = 7.
    #   With 2 degrees of freedom the t cdf is 1/2 + t / (2 sqrt(2 + t^2)): p = 1 - 7 / sqrt(51) = 0.019804.
    retrain = table.loc["retrain"]
    assert retrain["pairs"] == 3
    assert retrain["t"] == pytest.approx(7.0)
    assert retrain["p"] == pytest.approx(1 - 7 / math.sqrt(51))
    assert retrain["mean_difference"] == pytest.approx(0.35 / 3)
    assert retrain["mean_padirec"] == pytest.approx(0.5)
    assert retrain["mean_baseline"] == pytest.approx(1.15 / 3)
    # Nearest: pairs (b, 0), (b, 1) only: d = (0.2, 0.1), mean 0.15, sd 0.070711, se 0.05 -> t = 3.
    #   1 degree of freedom: p = 1 - 2 atan(3) / pi = 0.204833.
    nearest = table.loc["nearest"]
    assert nearest["pairs"] == 2
    assert nearest["t"] == pytest.approx(3.0)
    assert nearest["p"] == pytest.approx(1 - 2 * math.atan(3) / math.pi)
    assert nearest["mean_padirec"] == pytest.approx(0.55)
    assert nearest["mean_baseline"] == pytest.approx(0.4)


def test_paired_tests_one_sided_halves_p() -> None:
    # t = 7 > 0: the "greater" alternative has half the two-sided p.
    table = replication.paired_tests(summary_table(), "hv", alternative="greater").set_index("baseline")
    assert table.loc["retrain", "p"] == pytest.approx((1 - 7 / math.sqrt(51)) / 2)


def test_replication_comparisons_list_every_verdict_the_evaluation_states() -> None:
    # HV and the gap at the unseen requirements are present; the near-end gap is NaN throughout, so it is left out.
    # Other methods in TABLE_ORDER (retrain before nearest); per ablation grid size, Interpolate and Nearest.
    summaries = summary_table().assign(rel_gap_unseen=0.1, rel_gap_near_ends=float("nan"))
    density = pd.DataFrame({"backbone": "b", "seed": 0, "method": "padirec", "grid_size": [3, 2, 3]})
    found = replication.replication_comparisons(summaries, density)
    assert [(c["name"], c["metric"], c["other"]) for c in found[:4]] == [
        ("main", "hv", "retrain"), ("main", "hv", "nearest"),
        ("main", "rel_gap_unseen", "retrain"), ("main", "rel_gap_unseen", "nearest")]
    assert [(c["metric"], c["other"], c["by"]) for c in found[4:]] == [
        ("rel_gap_unseen", "interpolate", {"grid_size": 2}), ("rel_gap_unseen", "nearest", {"grid_size": 2}),
        ("rel_gap_unseen", "interpolate", {"grid_size": 3}), ("rel_gap_unseen", "nearest", {"grid_size": 3})]
    assert all(c["name"] == "grid density" and c["summaries"] is density for c in found[4:])
