"""`python -m padirec` on artifacts built at smoke scale from the real data."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from padirec import cli
from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import artifacts, config, paths
from padirec.training import generators as generator, sweep, backbone as train

SMOKE = str(config.SMOKE_PARAMS)


@pytest.fixture(scope="module")
def root(tmp_path_factory, raw_files):
    """Dataset, both backbones, their sweeps and generators, as the stages would write them."""
    folder = tmp_path_factory.mktemp("artifacts")
    out = paths.Paths(folder, "paper")
    cfg = config.load_config(None)
    study = dataclasses.replace(cfg.study("paper"), seeds=[0])
    dataset = data.prepare_dataset(raw_files, cfg.data, cfg.prepare)
    dataset.save(out.dataset)
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    for name in cfg.backbone.names:
        run = train.train_backbone(name, dataset, dataclasses.replace(cfg.backbone, epochs=1), valid)
        artifacts.save_backbone(run.model, name, run.settings, out.backbone(name))
        result = sweep.run_sweep(name, run.model, dataset, dataclasses.replace(cfg.sweep, epochs=2), study, test)
        trained = generator.train_generator(result.sweep, dataclasses.replace(cfg.diffusion, train_steps=20), progress=False)
        trained.save(out.generator(name, study.seeds[0]), name)
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
    in_memory = generator.Generator.load(paths.Paths(root, "paper").generator(backbone, 0)).generate(np.array([[0.3, 0.7]]), seed=3)[0]
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


def refused(code: int, stderr: str, option: str, *unwritten) -> None:
    """Bad input: exit status 2, one `error:` line naming the option, and no file written."""
    assert code == 2, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert option in stderr, stderr
    for path in unwritten:
        assert not path.exists(), path
        if path.parent.is_dir():  # nor a stray temporary file beside it
            assert not list(path.parent.glob(f".{path.name}.*")), path


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


GENERATE = ["generate", "--backbone", "sasrec", "--weights", "0.5,0.5"]
RECOMMEND = ["recommend", "--backbone", "sasrec", "--weights", "0.5,0.5", "--user", "1"]


@pytest.mark.parametrize("arguments, option", [
    (GENERATE + ["--guidance", "nan"], "--guidance nan"),
    (GENERATE + ["--guidance", "inf"], "--guidance inf"),
    (GENERATE + ["--guidance", "-0.5"], "--guidance -0.5"),
    (GENERATE + ["--steps", "0"], "--steps 0"),
    (GENERATE + ["--steps", "101"], "--steps 101"),  # smoke diffusion.steps is 100
    (GENERATE + ["--seed", "-1"], "--seed -1"),
    (GENERATE + ["--seed", str(2**32)], f"--seed {2**32}"),
    (["generate", "--backbone", "sasrec", "--weights", "nan,nan"], "--weights 'nan,nan'"),
    (["generate", "--backbone", "sasrec", "--weights", "inf,0"], "--weights 'inf,0'"),
    (["generate", "--backbone", "sasrec", "--weights", "0.5,"], "--weights '0.5,'"),
    (["generate", "--backbone", "sasrec", "--weights", ""], "--weights ''"),
    (["tune", "--backbone", "gru4rec", "--weights", "1,0", "--seed", "-3"], "--seed -3"),
])
def test_numbers_must_be_finite_and_in_range(root, tmp_path, capsys, arguments, option):
    out = tmp_path / "adapter.npz"
    if "--out" not in arguments:
        arguments = arguments + ["--out", str(out)]
    code, stdout, stderr = run(capsys, "--root", str(root), *arguments)
    refused(code, stderr, option, out)
    assert stdout == ""


@pytest.mark.parametrize("arguments, option", [
    (RECOMMEND + ["-k", "0"], "-k 0"),
    (RECOMMEND + ["-k", "5000"], "-k 5000"),  # more than the catalogue
    (RECOMMEND + ["--guidance", "nan"], "--guidance nan"),
    (["recommend", "--backbone", "sasrec", "--weights", "0.5,0.5", "--user", ""], "--user ''"),
    (["recommend", "--backbone", "sasrec", "--weights", "0.5,0.5", "--user", " "], "--user ' '"),
    (["recommend", "--backbone", "sasrec", "--weights", "0.5,0.5", "--user", "no-such-user"], "--user 'no-such-user'"),
])
def test_recommend_checks_k_and_the_user(root, capsys, arguments, option):
    code, stdout, stderr = run(capsys, "--root", str(root), *arguments)
    refused(code, stderr, option)
    assert stdout == ""
    if "--user" in option:
        assert "e.g. 1, 2, 3" in stderr  # example valid ids


def test_k_up_to_the_unconsumed_items_is_served(root, capsys):
    code, _, stderr = run(capsys, "--root", str(root), *RECOMMEND, "-k", "5000")
    largest = int(stderr.split("give -k ")[1].split()[0])
    code, stdout, _ = run(capsys, "--root", str(root), *RECOMMEND, "-k", str(largest))
    assert code == 0 and len(json.loads(stdout)["recommendations"]) == largest


def test_argparse_mistakes_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["generate", "--backbone", "sasrec", "--weights", "0.5,0.5", "--seed", "x", "--out", "x.npz"])
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2 and stderr.startswith("error: ") and stderr.count("\n") == 1 and "--seed" in stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_work_before_and_after_the_subcommand(where):
    command = ["generate", "--backbone", "sasrec", "--weights", "0.2,0.3,0.5", "--out", "x.npz"]
    options = ["--study", "acc_div_tail", "--params", "other.yaml", "--device", "cpu", "--root", "elsewhere"]
    args = cli.build_parser().parse_args(options + command if where == "before" else command + options)
    assert (args.study, args.params, args.device, args.root) == ("acc_div_tail", "other.yaml", "cpu", "elsewhere")


def test_an_option_after_the_subcommand_wins_and_defaults_stay_otherwise():
    args = cli.build_parser().parse_args(["--study", "paper", "evaluate", "--backbone", "sasrec", "--adapter", "a.npz",
                                          "--study", "acc_div_tail"])
    assert args.study == "acc_div_tail"
    plain = cli.build_parser().parse_args(["evaluate", "--backbone", "sasrec", "--adapter", "a.npz"])
    assert (plain.study, plain.params, plain.root, plain.device) == ("paper", "params.yaml", ".", None)


def write_adapter(path, **arrays):
    defaults = {"adapter": np.zeros(1096, dtype=np.float32), "backbone": np.array("sasrec"),
                "objectives": np.array(["acc", "div"])}
    np.savez(path, **{**defaults, **arrays})
    return path


def test_adapter_made_for_another_backbone_is_refused(root, tmp_path, capsys):
    made = tmp_path / "gru4rec_adapter.npz"
    code, _, _ = run(capsys, "--root", str(root), "generate", "--backbone", "gru4rec", "--weights", "0.5,0.5",
                     "--out", str(made))
    assert code == 0
    assert [str(o) for o in np.load(made)["objectives"]] == ["acc", "div"]
    code, stdout, stderr = run(capsys, "--root", str(root), "evaluate", "--backbone", "sasrec", "--adapter", str(made))
    refused(code, stderr, "--adapter")
    assert "made for backbone gru4rec, not sasrec" in stderr and stdout == ""


@pytest.mark.parametrize("arrays, message", [
    ({"objectives": np.array(["acc", "div", "nov"])}, "made for objectives ['acc', 'div', 'nov']"),
    ({"adapter": np.full(1096, np.nan, dtype=np.float32)}, "NaN or inf"),
    ({"adapter": np.full(1096, np.inf, dtype=np.float32)}, "NaN or inf"),
    ({"adapter": np.zeros(10, dtype=np.float32)}, "shape [10]; backbone sasrec needs 1096"),
    ({"adapter": np.zeros((2, 548), dtype=np.float32)}, "shape [2, 548]"),
    ({"adapter": np.array(["x"] * 1096)}, "floating-point"),
])
def test_bad_adapter_files_are_refused(root, tmp_path, capsys, arrays, message):
    path = write_adapter(tmp_path / "adapter.npz", **arrays)
    code, stdout, stderr = run(capsys, "--root", str(root), "evaluate", "--backbone", "sasrec", "--adapter", str(path))
    refused(code, stderr, "--adapter")
    assert message in stderr and stdout == ""


def test_foreign_adapter_files_are_refused(root, tmp_path, capsys):
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, adapter=np.zeros(1096, dtype=np.float32))
    text = tmp_path / "adapter.txt"
    text.write_text("not an archive")
    for path, message in ((unlabelled, "does not record the backbone"), (text, "not an .npz"), (tmp_path, "not a file")):
        code, _, stderr = run(capsys, "--root", str(root), "evaluate", "--backbone", "sasrec", "--adapter", str(path))
        refused(code, stderr, "--adapter")
        assert message in stderr


@pytest.mark.parametrize("command", [
    ["generate", "--backbone", "sasrec", "--weights", "0.5,0.5"],
    ["tune", "--backbone", "gru4rec", "--weights", "1,0"],
])
def test_unusable_out_is_refused_before_any_work(tmp_path, capsys, command):
    # An empty output root: the out check must come before loading (or tuning with) any artifact.
    empty = tmp_path / "empty"
    empty.mkdir()
    regular = tmp_path / "some_file.txt"
    regular.write_text("a file, not a folder")
    (empty / "data").mkdir()
    cases = [(tmp_path, "is a folder"), (tmp_path / "missing" / "adapter.npz", "does not exist"),
             (regular / "adapter.npz", "is a file, not a folder"), (empty / "data" / "adapter.npz", "dvc repro keeps")]
    for out, message in cases:
        code, _, stderr = run(capsys, "--root", str(empty), *command, "--out", str(out))
        refused(code, stderr, f"--out {out}", *([] if out.is_dir() else [out]))
        assert message in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "some_file.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_folder_is_refused(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, stderr = run(capsys, "generate", "--backbone", "sasrec", "--weights", "0.5,0.5",
                              "--out", str(locked / "adapter.npz"))
        refused(code, stderr, "--out", locked / "adapter.npz")
        assert "cannot write" in stderr
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("data:\n", "lacks the section(s) prepare, backbone, sweep, diffusion, evaluate"),
    ("data: [unclosed\n", "not valid YAML"),
])
def test_empty_truncated_or_invalid_params_are_refused(tmp_path, capsys, text, message):
    params = tmp_path / "params.yaml"
    params.write_text(text)
    out = tmp_path / "adapter.npz"
    code = cli.main(["--params", str(params), "generate", "--backbone", "sasrec", "--weights", "0.5,0.5", "--out", str(out)])
    stderr = capsys.readouterr().err
    refused(code, stderr, f"--params {params}", out)
    assert message in stderr


def test_truncated_copy_of_the_params_is_refused(repo, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text((repo / "params.yaml").read_text()[:2000])
    code = cli.main(["--params", str(params), "generate", "--backbone", "sasrec", "--weights", "0.5,0.5", "--out", "x.npz"])
    stderr = capsys.readouterr().err
    refused(code, stderr, "--params")
    assert "(is it truncated?)" in stderr


def copy_artifact(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)


def test_artifacts_of_another_backbone_are_refused(root, tmp_path, capsys):
    """A generator or backbone saved for sasrec, placed where gru4rec's belongs, names both backbones."""
    real, swapped = paths.Paths(root, "paper"), paths.Paths(tmp_path, "paper")
    copy_artifact(real.dataset, swapped.dataset)
    copy_artifact(real.generator("sasrec", 0), swapped.generator("gru4rec", 0))
    copy_artifact(real.backbone("sasrec"), swapped.backbone("gru4rec"))
    out = tmp_path / "adapter.npz"
    code, _, stderr = run(capsys, "--root", str(tmp_path), "generate", "--backbone", "gru4rec", "--weights", "0.5,0.5",
                          "--out", str(out))
    refused(code, stderr, "backbone sasrec, not gru4rec", out)
    code, _, stderr = run(capsys, "--root", str(tmp_path), "tune", "--backbone", "gru4rec", "--weights", "0.5,0.5",
                          "--out", str(out))
    refused(code, stderr, "backbone sasrec, not gru4rec", out)


def test_missing_artifacts_name_their_stage(tmp_path, capsys):
    code, _, stderr = run(capsys, "--root", str(tmp_path), "generate", "--backbone", "sasrec", "--weights", "0.5,0.5",
                          "--out", str(tmp_path / "x.npz"))
    refused(code, stderr, "run the 'diffusion' stage", tmp_path / "x.npz")


def test_study_sets_the_objectives_the_weights_must_cover(root, tmp_path, capsys):
    out = tmp_path / "a.npz"
    code, _, stderr = run(capsys, "--root", str(root), "--study", "nope", "generate", "--backbone", "sasrec",
                          "--weights", "0.5,0.5", "--out", str(out))
    assert code == 2 and "--study 'nope': unknown" in stderr and "paper, acc_div_tail" in stderr
    code, _, stderr = run(capsys, "--root", str(root), "--study", "acc_div_tail", "generate", "--backbone", "sasrec",
                          "--weights", "0.5,0.5", "--out", str(out))
    assert code == 2 and "(acc, div, tail): needs 3 weights, one per objective" in stderr
    code, _, stderr = run(capsys, "--root", str(root), "--study", "acc_div_tail", "generate", "--backbone", "sasrec",
                          "--weights", "0.5,0.25,0.25", "--out", str(out))
    assert code == 2 and "acc_div_tail" in stderr and not out.exists()  # no generator of that study was built
