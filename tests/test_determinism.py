"""The same params and seeds give bitwise-identical models, adapters, samples and metrics, and
byte-identical files (so DVC's hashes, and what it re-runs, depend only on the content)."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from padirec import artifacts, config, data, evaluation, generator, sweep, train, workers


@pytest.fixture(scope="module")
def smoke(raw_files):
    workers.single_threaded()  # as every stage does first (runtime.setup): the thread count changes floats
    cfg = config.load_config(None)
    dataset = data.prepare_dataset(raw_files, cfg.data, cfg.prepare)
    return cfg, dataset


def run_smoke_stages(cfg, dataset, folder):
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    backbone = train.train_backbone("sasrec", dataset, dataclasses.replace(cfg.backbone, epochs=1), valid)
    swept = sweep.run_sweep("sasrec", backbone.model, dataset, dataclasses.replace(cfg.sweep, epochs=2, seeds=[0]), test)
    trained = generator.train_generator(swept.sweep, dataclasses.replace(cfg.diffusion, train_steps=10), progress=False)
    samples = trained.generate(np.array([[0.3, 0.7], [0.9, 0.1]]), seed=1)
    # Each run writes under its own folder: the file names (and atomic temporary names) differ.
    artifacts.save_backbone(backbone.model, "sasrec", backbone.settings, folder / "backbones" / "sasrec.pt")
    swept.sweep.save(folder / "sweep" / "sasrec.npz")
    trained.save(folder / "generator" / "sasrec" / "seed0.pt", "sasrec")
    return backbone, swept, samples


def file_hashes(folder):
    return {str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_smoke_stages_twice_give_identical_results(smoke, tmp_path):
    cfg, dataset = smoke
    first = run_smoke_stages(cfg, dataset, tmp_path / "first")
    second = run_smoke_stages(cfg, dataset, tmp_path / "second")
    hashes = file_hashes(tmp_path / "first")
    assert len(hashes) == 3 and hashes == file_hashes(tmp_path / "second")
    for name, tensor in first[0].model.state_dict().items():
        assert torch.equal(tensor, second[0].model.state_dict()[name]), name
    assert first[0].curve["valid_ndcg@10"].tolist() == second[0].curve["valid_ndcg@10"].tolist()
    assert np.array_equal(first[1].sweep.checkpoints, second[1].sweep.checkpoints)
    metric_columns = [c for c in first[1].grid.columns if "@" in c]
    assert first[1].grid[metric_columns].equals(second[1].grid[metric_columns])
    assert torch.equal(first[2], second[2])


def test_prepared_data_is_identical(smoke, raw_files, tmp_path):
    cfg, dataset = smoke
    dataset.save(tmp_path / "a.npz")
    data.prepare_dataset(raw_files, cfg.data, cfg.prepare).save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


# ----------------------------------------------------------------------------- across processes and workers

TIMING_FILES = ("figures/tables/backbone_training.md", "figures/tables/backbone_training.csv")


def run_smoke_pipeline(repo, folder, workers: int) -> dict[str, str]:
    """The five notebooks at smoke scale (the packaged smoke.yaml, its first study) with `workers` worker
    processes, each notebook in its own kernel process; the md5 of every result file written."""
    import papermill
    import yaml

    params = yaml.safe_load(config.SMOKE_PARAMS.read_text())
    params["runtime"]["workers"] = workers
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    for notebook in sorted((repo / "notebooks").glob("0*.ipynb")):
        papermill.execute_notebook(str(notebook), str(folder / notebook.name), kernel_name="python3",
                                   parameters={"params_path": str(folder / "params.yaml"),
                                               "output_root": str(folder / "out")},
                                   progress_bar=False, cwd=str(repo),
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
    hashes = file_hashes(folder / "out")
    return {path: digest for path, digest in hashes.items()
            if path not in TIMING_FILES and "/timing/" not in path}


def test_the_smoke_pipeline_gives_the_same_bytes_with_one_worker_and_with_two(repo, raw_files, tmp_path):
    """Every result file (data, checkpoints, adapters, generators, tables, figures, metrics) is byte-identical
    whether one process computed everything or two workers shared the units; only run times differ."""
    one = run_smoke_pipeline(repo, tmp_path / "one", workers=1)
    two = run_smoke_pipeline(repo, tmp_path / "two", workers=2)
    assert any(path.startswith("data/generator/") for path in one)
    assert any(path.endswith("/evaluate/metrics.json") for path in one)
    assert sorted(one) == sorted(two)
    assert [path for path in one if one[path] != two[path]] == []


def test_tuning_gives_the_same_adapters_on_one_thread_in_this_process_and_in_two_workers(smoke):
    """The command line's `tune` (this process, one thread) and the sweep's workers give identical adapters."""
    cfg, dataset = smoke
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    model = train.train_backbone("sasrec", dataset, dataclasses.replace(cfg.backbone, epochs=1), valid).model
    states, targets, categories = train.tuning_tensors(model, dataset)
    settings = dataclasses.replace(cfg.sweep, epochs=2)
    weights = np.array([[0.3, 0.7], [0.9, 0.1]])
    units = [(model, states, targets, categories, weights, settings, seed, None, False) for seed in (0, 1)]
    here = workers.run_units(train.tune_adapters, units, workers=1)
    apart = workers.run_units(train.tune_adapters, units, workers=2)
    for alone, pooled in zip(here, apart):
        assert alone.checkpoints.tobytes() == pooled.checkpoints.tobytes()
    assert not np.array_equal(here[0].checkpoints, here[1].checkpoints)  # the seeds differ, the workers do not
