"""The device and workers settings, and the whole path on each device torch can see.

The CPU runs always. CUDA runs where a GPU is visible and is skipped otherwise; there, every result
must match the CPU's (same seeds, CPU random streams) within floating-point tolerance and come back
as CPU tensors and arrays, so the files a stage writes do not depend on the device.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import artifacts, config, runtime
from padirec.training import adapters, generators as generator, backbone as train
from padirec.pipeline.artifacts import AdapterSweep

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def test_auto_is_cuda_when_present_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.resolve_device("auto").type == expected
    assert runtime.resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "CPU", ""])
def test_a_malformed_device_names_the_allowed_ones(name):
    with pytest.raises(ValueError, match="auto, cpu, cuda, cuda:N or mps"):
        runtime.resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_cuda_without_a_gpu_is_a_config_error_with_the_fix():
    with pytest.raises(config.ConfigError, match=r"runtime.device = 'cuda': no CUDA device .* use auto"):
        config.config_from_dict({"runtime": {"device": "cuda"}})


def test_workers_zero_means_one_per_available_core_and_negative_is_refused():
    assert runtime.resolve_workers(0) == runtime.available_cores() >= 1
    assert runtime.resolve_workers(3) == 3
    with pytest.raises(config.ConfigError, match="runtime.workers = -1"):
        config.config_from_dict({"runtime": {"workers": -1}})


def test_the_retired_threads_key_says_what_replaced_it():
    with pytest.raises(config.ConfigError, match="runtime.threads is retired: .*runtime.workers"):
        config.config_from_dict({"runtime": {"threads": 2}})


def test_setup_makes_the_process_single_threaded_and_returns_the_device():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        device = runtime.setup(config.RuntimeConfig(device="cpu", workers=2))
        assert device == torch.device("cpu") and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=120))


def pipeline(small, device: str, tmp_path) -> dict:
    """Backbone, save and reload, tuning, evaluation, generator training and generation on `device`."""
    valid = evaluation.EvaluationSet.from_split(small, small.valid)
    run = train.train_backbone("sasrec", small, config.BackboneConfig(epochs=1, models={"sasrec": {"blocks": 1}}),
                               valid, device)
    path = tmp_path / f"{device}.pt"
    artifacts.save_backbone(run.model, "sasrec", run.settings, path)
    model, _ = artifacts.load_backbone(path, "sasrec", device)
    sweep_config = config.SweepConfig(epochs=2, keep_checkpoints=2, batch_size=512)
    weights = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    tuned = adapters.tune_adapters(adapters.TuningSet.of(model, small), weights, sweep_config, 0, ["acc", "div"],
                                   progress=False)
    states = evaluation.backbone_states(model, valid.history)
    metrics = adapters.evaluate_adapters(model, states, tuned.checkpoints[:, -1], valid)
    sweep = AdapterSweep("sasrec", ["acc", "div"], weights, np.array([0]), np.array(tuned.kept_epochs),
                         tuned.checkpoints[None].astype(np.float32))
    diffusion_config = config.DiffusionConfig(train_steps=5, batch_size=4, stack=2)
    made = generator.train_generator_stack([sweep, sweep], diffusion_config, [0, 1], progress=False, device=device)
    generated = made[0].generate(weights, seed=0)
    return {"state": run.model.state_dict(), "checkpoints": tuned.checkpoints, "metrics": metrics,
            "generated": generated, "losses": made[1].losses, "states": states}


@pytest.mark.parametrize("device", DEVICES)
def test_the_pipeline_runs_on_the_device_and_hands_back_cpu_results(small, device, tmp_path):
    result = pipeline(small, device, tmp_path)
    assert result["states"].device.type == device  # the work ran there
    assert isinstance(result["checkpoints"], np.ndarray) and np.isfinite(result["checkpoints"]).all()
    assert result["generated"].device.type == "cpu" and torch.isfinite(result["generated"]).all()
    assert all(0 <= m["ndcg@10"] <= 1 and 0 <= m["full_ndcg@10"] <= 1 for m in result["metrics"])
    saved = torch.load(tmp_path / f"{device}.pt", weights_only=True)
    assert all(value.device.type == "cpu" for value in saved["state_dict"].values())


@CUDA
def test_cuda_matches_cpu_within_floating_point(small, tmp_path):
    on_cpu, on_cuda = pipeline(small, "cpu", tmp_path), pipeline(small, "cuda", tmp_path)
    for name, value in on_cpu["state"].items():
        assert torch.allclose(value, on_cuda["state"][name].cpu(), atol=1e-3), name
    assert np.allclose(on_cpu["checkpoints"], on_cuda["checkpoints"], atol=1e-3)
    for cpu_metrics, cuda_metrics in zip(on_cpu["metrics"], on_cuda["metrics"]):
        assert cpu_metrics["ndcg@10"] == pytest.approx(cuda_metrics["ndcg@10"], abs=0.02)
    assert np.allclose(on_cpu["losses"], on_cuda["losses"], rtol=0.05, atol=1e-3)


def test_evaluation_set_moves_once_per_device_and_keeps_its_ideals(small):
    valid = evaluation.EvaluationSet.from_split(small, small.valid)
    ideal = valid.ideal(False)
    assert valid.to("cpu") is valid
    device = "cuda" if torch.cuda.is_available() else "meta"  # meta: a device with no data, only shapes
    moved = valid.to(device)
    assert moved is valid.to(device) and moved.target.device.type == device
    assert moved.ideal(False).shape == ideal.shape and moved.ideal(False).device.type == device


def test_cli_device_option_is_checked(repo, capsys):
    from padirec import cli

    assert cli.main(["--device", "gpu", "generate", "--backbone", "sasrec", "--weights", "0.5,0.5",
                     "--out", "unused.npz"]) == 2
    assert "--device gpu: give auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err
