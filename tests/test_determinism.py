"""The same params and seeds give bitwise-identical models, adapters, samples and metrics, and
byte-identical files (so DVC's hashes, and what it re-runs, depend only on the content)."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from padirec.data import dataset as data, sources
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import artifacts, config, workers
from padirec.training import adapters, generators as generator, sweep, backbone as train


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
    study = dataclasses.replace(cfg.study("paper"), seeds=[0])
    swept = sweep.run_sweep("sasrec", backbone.model, dataset, dataclasses.replace(cfg.sweep, epochs=2), study, test)
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


def smoke_pipeline(folder: str, workers: int) -> dict[str, str]:
    """The pipeline at smoke scale (smoke.yaml's `paper` study, one requirement placed by the adaptive grid) with
    `workers` worker processes: data, backbones, sweep, generators and every method's evaluation rows written
    under `folder`; the md5 of every file."""
    import yaml

    from padirec.comparison import run as comparison
    from padirec.pipeline import paths, runtime

    raw = yaml.safe_load(config.SMOKE_PARAMS.read_text())
    raw["runtime"]["workers"] = workers
    raw["studies"]["paper"]["adaptive_budget"] = 1
    raw["prepare"]["max_users"], raw["backbone"]["epochs"], raw["diffusion"]["train_steps"] = 100, 1, 30  # seconds
    cfg = config.config_from_dict(raw)
    study = cfg.study("paper")
    device = runtime.setup(cfg.runtime)
    out = paths.Paths(Path(folder), "paper")
    dataset = data.prepare_dataset(sources.fetch_raw(cfg.data, paths.repo_root(__file__) / "data" / "raw"), cfg.data,
                                   cfg.prepare)
    dataset.save(out.dataset)
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    names = cfg.backbone.names
    for name, run in train.train_backbones(names, dataset, cfg.backbone, valid, device, workers).items():
        artifacts.save_backbone(run.model, name, run.settings, out.backbone(name))
    models = {name: artifacts.load_backbone(out.backbone(name), name)[0] for name in names}
    swept = sweep.run_sweeps(models, dataset, cfg.sweep, study, test, valid, workers=workers)
    for name in names:
        swept[name].sweep.save(out.sweep(name))
        swept[name].grid.to_csv(Path(folder) / f"sweep_{name}.csv")
    generator.train_generators(cfg, study, out, progress=False)
    for name, result in comparison.evaluate_backbones(cfg, study, out, dataset, test, valid).items():
        for table in ("rows", "guidance_rows", "density_rows"):
            getattr(result, table).to_csv(Path(folder) / f"{table}_{name}.csv")
    return file_hashes(Path(folder))


def test_the_smoke_pipeline_gives_the_same_bytes_in_two_processes_with_one_worker_and_with_two(tmp_path):
    """Data, backbones, adapters, generators and every method's metrics are byte-identical whether one process
    computed everything or two workers shared the units, each run in a process of its own."""
    import json
    import subprocess
    import sys

    def run(folder, workers):
        code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"from test_determinism import smoke_pipeline; "
                f"print(json.dumps(smoke_pipeline({str(folder)!r}, {workers})))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    one, two = run(tmp_path / "one", 1), run(tmp_path / "two", 2)
    assert {"backbones/sasrec.pt", "sweep/paper/gru4rec.npz", "rows_sasrec.csv"} <= {
        str(Path(p).relative_to("data")) if p.startswith("data/") else p for p in one}
    assert len([p for p in one if p.startswith("data/generator/")]) == 8  # 2 backbones x 2 seeds x 2 grids
    assert one == two


def test_tuning_gives_the_same_adapters_on_one_thread_in_this_process_and_in_two_workers(smoke):
    """The command line's `tune` (this process, one thread) and the sweep's workers give identical adapters."""
    cfg, dataset = smoke
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    model = train.train_backbone("sasrec", dataset, dataclasses.replace(cfg.backbone, epochs=1), valid).model
    tuning = adapters.TuningSet.of(model, dataset)
    settings = dataclasses.replace(cfg.sweep, epochs=2)
    weights = np.array([[0.3, 0.7], [0.9, 0.1]])
    objectives = cfg.study("paper").objectives
    units = [(tuning, weights, settings, seed, objectives, False) for seed in (0, 1)]
    here = workers.run_units(adapters.tune_adapters, units, workers=1)
    apart = workers.run_units(adapters.tune_adapters, units, workers=2)
    for alone, pooled in zip(here, apart):
        assert alone.checkpoints.tobytes() == pooled.checkpoints.tobytes()
    assert not np.array_equal(here[0].checkpoints, here[1].checkpoints)  # the seeds differ, the workers do not
