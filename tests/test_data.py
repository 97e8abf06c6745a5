"""padirec.data.dataset on the real MovieLens-100K (the raw files: test_data_sources.py)."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from padirec.data import dataset as data, sources
from padirec.pipeline import config


def per_user(start, values):
    return [values[start[u]:start[u + 1]] for u in range(1, len(start) - 1)]


def test_raw_counts_match_movielens_100k(dataset):
    assert dataset.meta["raw"] == {"users": 943, "items": 1682, "interactions": 100000}


def test_k_core_holds(dataset):
    user_counts = np.diff(dataset.sequence_start)[1:]
    item_counts = np.bincount(dataset.sequence_items, minlength=dataset.n_items + 1)[1:]
    assert user_counts.min() >= 5 and item_counts.min() >= 5
    assert user_counts.sum() == len(dataset.sequence_items)


def test_sequences_are_chronological_with_item_id_tie_break(dataset):
    for items, times in zip(per_user(dataset.sequence_start, dataset.sequence_items),
                            per_user(dataset.sequence_start, dataset.sequence_times)):
        order = np.lexsort((items, times))
        assert np.array_equal(order, np.arange(len(items)))


def test_evaluation_targets_are_last_and_later_than_their_history(dataset):
    history_len = dataset.test.history.shape[1]
    for split, offset in ((dataset.test, 1), (dataset.valid, 2)):
        for row, user in enumerate(split.user):
            start, end = dataset.sequence_start[user], dataset.sequence_start[user + 1]
            position = end - offset
            assert split.target[row] == dataset.sequence_items[position]
            expected = dataset.sequence_items[max(start, position - history_len):position]
            history = split.history[row]
            assert np.array_equal(history[history > 0], expected)
            assert dataset.sequence_times[max(start, position - history_len):position].max() <= dataset.sequence_times[position]


def test_training_never_sees_validation_or_test_targets(dataset):
    train_counts = np.bincount(dataset.train.user, minlength=dataset.n_users + 1)[1:]
    assert np.array_equal(train_counts, np.diff(dataset.sequence_start)[1:] - 3)
    # Each training example's (history, target) is a prefix of the sequence ending before the validation item.
    for row in np.random.default_rng(0).choice(len(dataset.train), 500, replace=False):
        user = dataset.train.user[row]
        sequence = dataset.sequence(user)
        window = np.concatenate([dataset.train.history[row][dataset.train.history[row] > 0], [dataset.train.target[row]]])
        starts = [s for s in range(len(sequence) - 2) if np.array_equal(sequence[s:s + len(window)], window)]
        assert starts and starts[0] + len(window) <= len(sequence) - 2


def test_negatives_exclude_everything_the_user_rated(dataset):
    for split in (dataset.valid, dataset.test):
        assert split.negatives.shape == (dataset.n_users, 99)
        for row, user in enumerate(split.user):
            negatives = split.negatives[row]
            assert len(np.unique(negatives)) == 99 and negatives.min() >= 1
            assert not np.isin(negatives, dataset.seen(user)).any()
            assert not np.isin(negatives, dataset.sequence(user)).any()
    assert not np.array_equal(dataset.valid.negatives, dataset.test.negatives)


def test_categories_and_attributes(dataset):
    assert dataset.item_categories.shape == (dataset.n_items + 1, 19)
    assert dataset.item_categories[1:].sum(axis=1).min() >= 1
    assert dataset.item_categories[0].sum() == 0
    toy_story = int(np.flatnonzero(dataset.item_titles == "Toy Story")[0])
    genres = set(dataset.category_names[dataset.item_categories[toy_story] == 1])
    assert genres == {"Animation", "Children's", "Comedy"}
    assert set(dataset.user_attributes) == {"gender", "age"}
    assert set(dataset.user_attributes["gender"][1:]) == {"M", "F"}


def test_same_seed_gives_identical_files_and_round_trips(raw_files, tmp_path):
    prepare = config.PrepareConfig(max_users=200)
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    data.prepare_dataset(raw_files, config.DataConfig(), prepare).save(first)
    data.prepare_dataset(raw_files, config.DataConfig(), prepare).save(second)
    assert first.read_bytes() == second.read_bytes()
    loaded = data.Dataset.load(first)
    other_seed = data.prepare_dataset(raw_files, config.DataConfig(), dataclasses.replace(prepare, seed=1))
    assert not np.array_equal(loaded.test.negatives, other_seed.test.negatives)
    assert np.array_equal(loaded.train.history, other_seed.train.history)
    assert loaded.n_users == other_seed.n_users and loaded.user_attributes["age"][1] == other_seed.user_attributes["age"][1]


def test_k_core_that_leaves_no_users(raw_files):
    with pytest.raises(sources.DataError, match="prepare.k_core = 1000 leaves no users"):
        data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(k_core=1000))


def test_more_negatives_than_the_catalogue(raw_files):
    with pytest.raises(sources.DataError, match="prepare.eval_negatives = 5000 is larger than"):
        data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(eval_negatives=5000))


def test_any_atomic_data_set_by_name(raw_files, tmp_path):
    """A real slice of MovieLens renamed: the loader needs only the files and column names."""
    folder = tmp_path / "mini"
    folder.mkdir()
    lines = raw_files.inter.read_text().splitlines()
    (folder / "mini.inter").write_text("\n".join(lines[:20001]) + "\n")
    shutil.copy(raw_files.item, folder / "mini.item")
    cfg = config.DataConfig(name="mini", user_attributes=[])
    raw = sources.fetch_raw(cfg, tmp_path)
    assert raw.user is None and "local files" in raw.how
    mini = data.prepare_dataset(raw, cfg, config.PrepareConfig())
    assert 0 < mini.n_users <= 943 and mini.name == "mini"
    with pytest.raises(sources.DataError, match="data.user_attributes"):
        data.prepare_dataset(raw, config.DataConfig(name="mini"), config.PrepareConfig())


def test_missing_category_column_names_the_key(raw_files, tmp_path):
    folder = tmp_path / "nogenre"
    folder.mkdir()
    shutil.copy(raw_files.inter, folder / "nogenre.inter")
    item_lines = raw_files.item.read_text().splitlines()
    (folder / "nogenre.item").write_text("\n".join("\t".join(line.split("\t")[:3]) for line in item_lines) + "\n")
    cfg = config.DataConfig(name="nogenre", user_attributes=[])
    with pytest.raises(sources.DataError, match="no column 'class' .*data.columns.category"):
        data.prepare_dataset(sources.fetch_raw(cfg, tmp_path), cfg, config.PrepareConfig())
