"""Shared fixtures: the real MovieLens-100K, fetched once into data/raw (the download cache)."""
from __future__ import annotations

import pytest

from padirec.data import dataset as data, sources
from padirec.pipeline import config, paths


@pytest.fixture(scope="session")
def repo():
    return paths.repo_root(__file__)


@pytest.fixture(scope="session")
def raw_files(repo):
    return sources.fetch_raw(config.DataConfig(), repo / "data" / "raw")


@pytest.fixture(scope="session")
def dataset(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig())


@pytest.fixture(scope="session")
def small(raw_files):
    """The first 120 users: enough for a backbone trained in seconds."""
    from padirec.data import dataset as data
    from padirec.pipeline import config

    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=120))


@pytest.fixture(scope="session")
def small_backbone(small):
    """SASRec with one block, trained 3 epochs on `small` (early stopping on its validation split)."""
    from padirec.evaluation import protocol as evaluation
    from padirec.pipeline import config
    from padirec.training import backbone as train

    valid = evaluation.EvaluationSet.from_split(small, small.valid)
    cfg = config.BackboneConfig(epochs=3, patience=3, models={"sasrec": {"blocks": 1}})
    return train.train_backbone("sasrec", small, cfg, valid)
