"""`python -m padirec` on artifacts built at smoke scale from the real data."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from padirec import artifacts, cli, config, data, evaluation, generator, paths, sweep, train

SMOKE = str(config.SMOKE_PARAMS)


@pytest.fixture(scope="module")
def root(tmp_path_factory, raw_files):
    """Dataset, both backbones, their sweeps and generators, as the stages would write them."""
    folder = tmp_path_factory.mktemp("artifacts")
    out = paths.Paths(folder)
    cfg = config.load_config(None)
    dataset = data.prepare_dataset(raw_files, cfg.data, cfg.prepare)
    dataset.save(out.dataset)
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    for name in cfg.backbone.names:
        run = train.train_backbone(name, dataset, dataclasses.replace(cfg.backbone, epochs=1), valid)
        artifacts.save_backbone(run.model, name, run.settings, out.backbone(name))
        result = sweep.run_sweep(name, run.model, dataset, dataclasses.replace(cfg.sweep, epochs=2, seeds=[0]), test)
        trained = generator.train_generator(result.sweep, dataclasses.replace(cfg.diffusion, train_steps=20), progress=False)
        trained.save(out.generator(name, cfg.sweep.seeds[0]), name)
    return folder


def run(capsys, *args):
    code = cli.main(["--params", SMOKE, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("backbone", ["sasrec", "gru4rec"])
def test_generate_is_deterministic_and_loads_into_the_backbone(root, tmp_path, capsys, backbone):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (first, second):
        code, stdout, _ = run(capsys, "--root", str(root), "generate", "--backbone", backbone, "--weights", "0.3,0.7",
                              "--seed", "3", "--out", str(out))
        assert code == 0 and json.loads(stdout)["parameters"] == 1096
    assert first.read_bytes() == second.read_bytes()
    saved = np.load(first)["adapter"]
    in_memory = generator.Generator.load(paths.Paths(root).generator(backbone, 0)).generate(np.array([[0.3, 0.7]]), seed=3)[0]
    assert np.array_equal(saved, in_memory.numpy())
    code, stdout, _ = run(capsys, "--root", str(root), "evaluate", "--backbone", backbone, "--adapter", str(first))
    metrics = json.loads(stdout)
    assert code == 0 and {f"{m}@{k}" for m in ("hr", "ndcg", "alpha_ndcg") for k in (5, 10, 20)} <= set(metrics)
    assert 0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1


def test_tune_then_evaluate_on_gru4rec(root, tmp_path, capsys):
    out = tmp_path / "tuned.npz"
    code, stdout, _ = run(capsys, "--root", str(root), "tune", "--backbone", "gru4rec", "--weights", "1,0", "--out", str(out))
    assert code == 0 and out.exists() and json.loads(stdout)["tune_s"] >= 0
    code, stdout, _ = run(capsys, "--root", str(root), "evaluate", "--backbone", "gru4rec", "--adapter", str(out))
    assert code == 0 and "full_ndcg@10" in json.loads(stdout)


def test_recommend_lists_unseen_titled_movies(root, capsys):
    code, stdout, _ = run(capsys, "--root", str(root), "recommend", "--backbone", "sasrec", "--weights", "0.5,0.5",
                          "--user", "1", "-k", "5")
    result = json.loads(stdout)
    assert code == 0 and [r["rank"] for r in result["recommendations"]] == [1, 2, 3, 4, 5]
    dataset = data.Dataset.load(paths.Paths(root).dataset)
    consumed = set(dataset.item_ids[dataset.sequence(int(np.flatnonzero(dataset.user_ids == "1")[0]))])
    for item in result["recommendations"]:
        assert item["item"] not in consumed and item["title"] and item["genres"]


@pytest.mark.parametrize("arguments, message", [
    (["generate", "--backbone", "sasrec", "--weights", "0.3,0.8", "--out", "x.npz"], "sum to 1"),
    (["generate", "--backbone", "sasrec", "--weights", "1.2,-0.2", "--out", "x.npz"], "lie in [0, 1]"),
    (["generate", "--backbone", "sasrec", "--weights", "0.5", "--out", "x.npz"], "needs 2 weights"),
    (["generate", "--backbone", "sasrec", "--weights", "a,b", "--out", "x.npz"], "comma-separated numbers"),
    (["generate", "--backbone", "bert4rec", "--weights", "0.5,0.5", "--out", "x.npz"], "unknown; known backbones"),
    (["generate", "--backbone", "sasrec", "--weights", "0.5,0.5", "--guidance", "-1", "--out", "x.npz"], "at least 0"),
    (["recommend", "--backbone", "sasrec", "--weights", "0.5,0.5", "--user", "99999"], "unknown user"),
    (["evaluate", "--backbone", "sasrec", "--adapter", "missing.npz"], "no such file"),
])
def test_bad_input_exits_2_with_a_message(root, capsys, arguments, message):
    code, _, stderr = run(capsys, "--root", str(root), *arguments)
    assert code == 2 and message in stderr


def test_wrong_size_adapter_and_missing_artifacts(root, tmp_path, capsys):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, adapter=np.zeros(10, dtype=np.float32))
    code, _, stderr = run(capsys, "--root", str(root), "evaluate", "--backbone", "sasrec", "--adapter", str(wrong))
    assert code == 2 and "has 10 parameters; backbone sasrec needs 1096" in stderr
    code, _, stderr = run(capsys, "--root", str(tmp_path), "generate", "--backbone", "sasrec", "--weights", "0.5,0.5",
                          "--out", str(tmp_path / "x.npz"))
    assert code == 2 and "run the 'diffusion' stage" in stderr
