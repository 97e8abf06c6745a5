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
