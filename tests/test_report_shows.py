"""Notebook text and tables (padirec.report.shows): numbers as a reader wants them, labels, the closing texts."""
from __future__ import annotations

import pandas as pd

from padirec.pipeline.sections import BackboneConfig, PrepareConfig
from padirec.report import shows


def test_numbers_are_counts_whole_and_others_short_never_reprs():
    assert shows.number(51599.0) == "51,599"
    assert shows.number(0.0375) == "0.0375"
    assert shows.number(80.75) == "80.75"
    assert shows.number(0.000123456) == "0.0001235"
    assert shows.number(float("nan")) == "" and shows.number(None) == ""


def test_markdown_table_labels_methods_and_formats_cells():
    table = pd.DataFrame({"gap": [0.012345, 0.5], "pairs": [10.0, 10.0]},
                         index=pd.MultiIndex.from_tuples([("sasrec", "padirec"), ("sasrec", "padirec_noguidance")]))
    text = shows.markdown_table(table)
    assert "sasrec · PaDiRec " in text and "sasrec · PaDiRec without guidance" in text
    assert "0.01235" in text and "| 10 " in text and "10.0" not in text and "np.float64" not in text


def test_settings_markdown_lists_every_setting_with_nested_ones_dotted():
    text = shows.settings_markdown(BackboneConfig(models={"sasrec": {"hidden": 64}}))
    assert "| `models.sasrec.hidden` | 64 |" in text and "| `patience` | 3 |" in text
    assert text.count("\n| `") == len(BackboneConfig.__dataclass_fields__)  # models flattened to its one setting
    assert "| `k_core` | 5 |" in shows.settings_markdown(PrepareConfig())


def test_data_text_is_written_from_the_tables():
    summary = pd.DataFrame({"users": [943, 938], "items": [1682, 1008], "interactions": [100000, 54413],
                            "density": [0.063, 0.0575]}, index=["raw ratings", "5-core (prepared)"])
    splits = pd.DataFrame({"value": {"train examples": 51599.0, "test users": 938.0,
                                     "negatives per evaluation user": 99.0, "categories (genres)": 19.0}})
    text = shows.data_shows(summary, splits)
    assert "938 users rate 1,008 items 54,413 times" in text and "51,599 training examples" in text
    assert "5.75%" in text and "19 genres" in text
