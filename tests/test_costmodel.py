"""The cost model's synthetic data and fits (the timings themselves are `python -m padirec.perf.bench --scale`)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from padirec.data import dataset as data
from padirec.perf import costmodel
from padirec.pipeline import config


@pytest.fixture(scope="module")
def small(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=200))


def test_synthetic_data_keeps_the_real_popularity_skew_and_lengths(small):
    real = costmodel.popularity_exponent(small)
    assert 0.3 < real < 3
    shape = costmodel.synthetic_shape(small, users=2_000, items=1_500)
    histories, _ = costmodel.synthetic_histories(shape, 20_000, 20)
    counts = np.sort(np.bincount(histories[histories > 0].numpy(), minlength=shape.items + 1)[1:])[::-1]
    head = counts[:300]  # the well-sampled head, where a Zipf law shows its slope
    slope = -np.polyfit(np.log(np.arange(1, len(head) + 1)), np.log(head), 1)[0]
    assert slope == pytest.approx(real, rel=0.15)
    real_lengths = np.diff(small.sequence_start[1:])
    assert shape.lengths.mean() == pytest.approx(real_lengths.mean(), rel=0.1)


def test_windows_are_left_padded_and_targets_are_the_next_items(small):
    shape = costmodel.synthetic_shape(small, users=50, items=300)
    inputs, targets = costmodel.synthetic_histories(shape, 64, 20)
    assert inputs.shape == targets.shape == (64, 20)
    assert inputs[:, -1].gt(0).all() and inputs.max() <= 300
    started = inputs > 0
    assert torch.equal(started.cummax(dim=1).values, started)  # padding only on the left
    assert torch.equal(targets[:, :-1][started[:, 1:] & started[:, :-1]], inputs[:, 1:][started[:, 1:] & started[:, :-1]])


def test_fit_recovers_a_power_law_and_predicts_from_it():
    x = np.array([1e3, 1e4, 1e5])
    table = pd.DataFrame({"quantity": "q", "driver": "d", "x": x, "seconds": 2e-6 * x ** 1.5})
    fits = costmodel.fit(table)
    assert fits.loc[0, "slope"] == pytest.approx(1.5)
    assert costmodel.predict(fits, "q", "d", 1e6) == pytest.approx(2e-6 * 1e9)


def test_a_backbone_epoch_is_timed_and_grows_with_the_interactions(small):
    cfg = config.load_config(None)
    few = costmodel.synthetic_shape(small, users=100, items=500)
    many = costmodel.synthetic_shape(small, users=1_000, items=500)
    device = torch.device("cpu")
    assert 0 < costmodel.backbone_epoch_seconds(cfg, few, device, batches=2) < \
        costmodel.backbone_epoch_seconds(cfg, many, device, batches=2)


def test_redraw_needs_scale_and_redraws_without_measuring(tmp_path, capsys):
    import json
    import shutil

    import pytest

    from padirec.perf import bench
    from padirec.pipeline.paths import repo_root

    with pytest.raises(SystemExit) as exit_:
        bench.main(["--redraw"])
    assert exit_.value.code == 2 and "give it with --scale" in capsys.readouterr().err
    saved = tmp_path / "scaling.json"
    shutil.copy(repo_root() / "figures" / "scaling.json", saved)
    assert json.loads(saved.read_text())["measured"]  # the committed measurements
    assert bench.main(["--scale", "--redraw", "--out", str(saved)]) == 0
    assert (tmp_path / "scaling.png").stat().st_size > 0
