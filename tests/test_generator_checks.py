"""The generator's condition embeddings, and the one-off checks that compare settings on the validation split."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from padirec.comparison import checks
from padirec.models.diffusion.denoiser import ParameterDenoiser
from padirec.pipeline import config
from padirec.pipeline.artifacts import AdapterSweep


def denoiser(condition: str) -> ParameterDenoiser:
    torch.manual_seed(0)
    return ParameterDenoiser(70, 3, token_size=32, d_model=16, layers=1, heads=2, condition=condition)


def test_a_condition_embedding_changes_only_what_the_condition_mlp_reads():
    raw, sqrt, fourier = denoiser("raw"), denoiser("sqrt"), denoiser("fourier")
    w = torch.tensor([[0.0, 0.25, 0.75], [0.04, 0.0, 0.96]])
    assert torch.equal(raw.condition_features(w), w)
    assert torch.equal(sqrt.condition_features(w), torch.cat([w, w.sqrt()], dim=1))
    features = fourier.condition_features(w)
    assert features.shape == (2, 32) and torch.allclose(features[:, :16] ** 2 + features[:, 16:] ** 2, torch.ones(2, 16))
    # The Fourier frequencies come from their own generator, not the global seed's stream.
    torch.manual_seed(123)
    assert torch.equal(fourier.state_dict()["frequencies"], ParameterDenoiser(
        70, 3, token_size=32, d_model=16, layers=1, heads=2, condition="fourier").state_dict()["frequencies"])
    assert raw.cond_mlp[0].in_features == 3 and sqrt.cond_mlp[0].in_features == 6
    with pytest.raises(ValueError, match="unknown condition embedding 'log'"):
        denoiser("log")


def test_an_unknown_condition_in_params_is_one_line_naming_the_key():
    with pytest.raises(config.ConfigError, match=r"diffusion.condition = 'log': use 'raw' or 'sqrt' or 'fourier'"):
        config.config_from_dict({"diffusion": {"condition": "log"}})


def test_with_kept_keeps_the_last_checkpoints_of_every_requirement():
    checkpoints = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    sweep = AdapterSweep("sasrec", ["acc", "div"], np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]), np.array([0, 1]),
                         np.array([7, 8, 9, 10]), checkpoints)
    kept = checks.with_kept(sweep, 1)
    assert kept.kept_epochs.tolist() == [10] and np.array_equal(kept.checkpoints, checkpoints[:, :, -1:])
    assert sweep.checkpoints.shape == (2, 3, 4, 5)  # the input is left as it was


def test_the_summary_pairs_each_check_with_the_configured_generator_of_the_same_seed():
    table = pd.DataFrame({"check": ["as configured"] * 3 + ["condition: sqrt (w, sqrt w)"] * 3,
                          "backbone": ["b", "b", "c"] * 2, "seed": [0, 1, 0] * 2,
                          "gap": [0.10, 0.20, 0.30, 0.08, 0.21, 0.25]})
    found = checks.summary(table)
    assert found.loc[("condition: sqrt (w, sqrt w)", "b"), "gap vs as configured"] == pytest.approx((-0.02 + 0.01) / 2)
    assert found.loc[("condition: sqrt (w, sqrt w)", "c"), "gap vs as configured"] == pytest.approx(-0.05)
    assert found.loc[("condition: sqrt (w, sqrt w)", "b"), "lower in"] == "1 of 2"
    assert found.loc[("condition: sqrt (w, sqrt w)", "c"), "lower in"] == "1 of 1"
    assert found.loc[("as configured", "b"), "gap vs as configured"] == 0
