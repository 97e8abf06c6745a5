"""params.yaml validation: every problem at once, with its key."""
from __future__ import annotations

from pathlib import Path

import pytest

from padirec.objectives import requirements
from padirec.pipeline import config, paths


def test_committed_params_and_smoke_config_are_valid():
    root = paths.repo_root(__file__)
    assert config.load_config(root / "params.yaml").prepare.k_core == 5
    assert config.load_config(None).prepare.max_users > 0


def test_all_problems_are_reported_together():
    raw = {"data": {"nmae": "x", "columns": {"user": 3}}, "prepare": {"k_core": 0, "seed": "zero", "history_len": 2.5}}
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw, source="params.yaml")
    message = str(error.value)
    assert "params.yaml has 5 problem(s)" in message
    assert "data.nmae is not a known key" in message and "name" in message
    assert "data.columns.user = 3: must be a string" in message
    assert "prepare.k_core = 0: must be at least 1" in message
    assert "prepare.seed = 'zero': must be an integer" in message
    assert "prepare.history_len = 2.5: must be an integer" in message


def test_unknown_section_and_bad_types():
    with pytest.raises(config.ConfigError, match="lerning_rate is not a known key"):
        config.config_from_dict({"lerning_rate": 0.1})
    with pytest.raises(config.ConfigError, match="data must be a mapping"):
        config.config_from_dict({"data": [1, 2]})
    with pytest.raises(config.ConfigError, match="data.user_attributes = 'age': must be a list"):
        config.config_from_dict({"data": {"user_attributes": "age"}})


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        config.load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load_config(bad)


def test_sweep_and_backbone_problems_name_their_keys():
    raw = {"backbone": {"names": ["sasrec", "bert4rec"], "models": {"sasrec": {"blcks": 2}}},
           "studies": {"mine": {"grid": [[0.5, 0.6], [1.2, -0.2], [0.3, 0.7], [0.3, 0.7], [1.0]],
                                "objectives": ["acc", "novelty"]}}}
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw)
    message = str(error.value)
    assert "backbone.names: unknown backbone 'bert4rec'; known: sasrec, gru4rec" in message
    assert "backbone.models.sasrec.blcks is not a known setting" in message
    assert "studies.mine.grid[0] = [0.5, 0.6]: weights sum to 1.1" in message
    assert "studies.mine.grid[1] = [1.2, -0.2]: every weight must lie in [0, 1]" in message
    assert "studies.mine.grid lists (0.3, 0.7) more than once" in message
    assert "studies.mine.grid[4] = [1.0]: needs 2 weights" in message
    assert "studies.mine.objectives: unknown objective 'novelty'; known: acc, div, fair, fair_gap, tail" in message
    with pytest.raises(config.ConfigError, match="studies.mine.grid is empty"):
        config.config_from_dict({"studies": {"mine": {"grid": []}}})
    with pytest.raises(config.ConfigError, match="sweep.keep_checkpoints = 5 exceeds sweep.epochs = 3"):
        config.config_from_dict({"sweep": {"epochs": 3, "keep_checkpoints": 5}})


def test_study_settings_in_the_old_sections_say_where_they_moved():
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict({"sweep": {"grid": [[0.0, 1.0]]}, "diffusion": {"density_grids": []}})
    message = str(error.value)
    assert "sweep.grid belongs to a study now: set it as studies.<name>.grid" in message
    assert "diffusion.density_grids belongs to a study now: set it as studies.<name>.ablation_grids" in message
    # Every key the studies took over, in its old section, names its study key.
    for dotted, study_key in config.STUDY_KEYS.items():
        section, key = dotted.split(".")
        with pytest.raises(config.ConfigError, match=f"{dotted} belongs to a study now: set it as "
                                                     f"studies.<name>.{study_key} "):
            config.config_from_dict({section: {key: []}})


def test_studies_need_a_valid_name_and_at_least_one_entry():
    with pytest.raises(config.ConfigError, match="studies is empty"):
        config.config_from_dict({"studies": {}})
    with pytest.raises(config.ConfigError, match="must be letters, digits and underscores"):
        config.config_from_dict({"studies": {"my study": {}}})
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        config.config_from_dict({}).study("nope")


def test_the_study_holds_its_settings_and_lists_ablation_points_off_the_grid():
    cfg = config.config_from_dict({"studies": {"three": {
        "objectives": ["acc", "div", "tail"], "grid": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        "eval_grid": [[0.4, 0.3, 0.3]], "ablation_grids": [[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]],
        "hv_reference": [0.0, 0.3, 0.4], "hv_reference_full": [0.0, 0.3, 0.0]}}})
    study = cfg.study("three")
    assert isinstance(study, config.StudyConfig)
    assert study.objectives == ["acc", "div", "tail"]
    assert study.ablation_only == [[0.0, 0.5, 0.5]]
    assert study.eval_grid == [[0.4, 0.3, 0.3]]
    assert study.hv_reference == [0.0, 0.3, 0.4]
    # The sections hold only what every study shares.
    assert not hasattr(cfg.sweep, "objectives") and not hasattr(cfg.diffusion, "eval_grid")
    assert not hasattr(cfg.evaluate, "hv_reference")


def test_diffusion_problems_and_an_evaluation_grid_without_unseen_requirements():
    raw = {"diffusion": {"guidance": -1.0, "guidance_scales": [1.0, -2.0], "schedule": "quadratic", "prediction": "x0",
                         "cond_drop_prob": 1.5, "d_model": 30, "heads": 4, "train_steps": 0},
           "studies": {"paper": {"eval_grid": [[0.0, 1.0], [1.0, 0.0]], "grid": [[0.0, 1.0], [1.0, 0.0]]}}}
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw)
    message = str(error.value)
    for expected in ("diffusion.guidance = -1.0: a guidance scale must be at least 0",
                     "diffusion.guidance_scales = [1.0, -2.0]", "diffusion.schedule = 'quadratic'",
                     "diffusion.prediction = 'x0'", "diffusion.cond_drop_prob = 1.5",
                     "diffusion.d_model = 30 is not divisible by diffusion.heads = 4",
                     "diffusion.train_steps = 0: must be a positive integer",
                     "studies.paper.eval_grid lies entirely on studies.paper.grid"):
        assert expected in message
    with pytest.raises(config.ConfigError, match=r"studies.paper.eval_grid\[0\] = \[0.1, 0.1, 0.8\]: needs 2 weights"):
        config.config_from_dict({"studies": {"paper": {"eval_grid": [[0.1, 0.1, 0.8]]}}})


def test_evaluation_problems_are_named_with_their_fix():
    raw = {"studies": {"paper": {"seeds": [0], "ablation_grids": [[[0.0, 1.0], [0.3, 0.6]], [[0.5, 0.5]]],
                                 "hv_reference": [0.1]}},
           "evaluate": {"mmr_pool": 0, "hypernetwork": {"hidden": 0, "requirements_per_batch": 2, "lr": -1.0}}}
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw)
    message = str(error.value)
    for expected in ("studies.paper.ablation_grids[0][1] = [0.3, 0.6]: weights sum to 0.9",
                     "studies.paper.ablation_grids[1] has 1 requirement(s): give at least two",
                     "studies.paper.hv_reference = [0.1]: give 2 values in [0, 1), one per objective's metric",
                     "evaluate.mmr_pool = 0: must be a positive integer",
                     "evaluate.hypernetwork.hidden = 0: must be a positive integer",
                     "evaluate.hypernetwork.lr = -1.0: must be positive",
                     "studies.paper.seeds = [0]: the evaluation needs at least 2 seeds"):
        assert expected in message


def test_shipped_params_list_the_evaluation_section():
    cfg = config.load_config(Path(__file__).resolve().parents[1] / "params.yaml")
    assert set(cfg.studies) == {"paper", "acc_div_tail"}
    paper, three = cfg.study("paper"), cfg.study("acc_div_tail")
    assert len(paper.seeds) >= 3 and len(three.seeds) >= 3
    assert len(three.grid) == 15 and three.objectives == ["acc", "div", "tail"]
    assert three.adaptive_budget > 0 and three.grid_labels()[-1] == f"{15 + three.adaptive_budget} adaptive"
    assert not {tuple(w) for w in three.eval_grid} & {tuple(w) for w in three.grid}


@pytest.mark.parametrize("text, expected", [
    ("", "is empty: a params file needs the sections data, prepare, backbone, sweep, diffusion, evaluate"),
    ("# only a comment\n", "is empty"),
    ("data:\n", "the file lacks the section(s) prepare, backbone, sweep, diffusion, evaluate"),
    ("data:\n", "data is empty (is it truncated?): give its keys (name, raw_dir, columns, user_attributes)"),
    ("- 1\n- 2\n", "the top level must be a mapping"),
])
def test_empty_or_partial_files_are_errors_not_defaults(tmp_path, text, expected):
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(config.ConfigError) as error:
        config.load_config(params)
    assert expected in str(error.value)


@pytest.mark.parametrize("cut", [300, 1200, 2600, 5200, -100])
def test_truncated_params_files_are_errors(tmp_path, cut):
    params = tmp_path / "params.yaml"
    params.write_text((paths.repo_root(__file__) / "params.yaml").read_text()[:cut])
    with pytest.raises(config.ConfigError, match=r"(lacks the (section|key)\(s\) .*|is empty )\(is it truncated\?\)|not valid YAML"):
        config.load_config(params)


def test_smoke_config_gives_every_key():
    """The packaged smoke configuration is a complete params file (load_config(None) reads it)."""
    assert config.load_config(config.SMOKE_PARAMS).data == config.DataConfig()


def test_unreadable_params_and_non_finite_numbers(tmp_path):
    with pytest.raises(config.ConfigError, match="is not a file"):
        config.load_config(tmp_path)
    binary = tmp_path / "params.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(config.ConfigError, match="cannot be read as UTF-8 text"):
        config.load_config(binary)
    raw = {"prepare": {"min_rating": float("nan")}, "diffusion": {"guidance": float("inf"), "lr": float("-inf")},
           "studies": {"paper": {"seeds": [0, 2**40]}}, "backbone": {"seed": -1}}
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw)
    message = str(error.value)
    for expected in ("prepare.min_rating = nan: must be a finite number", "diffusion.guidance = inf: must be a finite number",
                     "diffusion.lr = -inf: must be a finite number", "studies.paper.seeds = [0, 1099511627776]: give seeds in 0..",
                     "backbone.seed = -1: must be an integer in 0..4294967295"):
        assert expected in message
    assert requirements.problem([float("nan"), 1.0], 2) == "every weight must be a finite number in [0, 1]."


def test_each_study_problem_is_reported_once():
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict({"studies": {"paper": {"ablation_grids": [[[0.0, 1.0], [0.3, 0.6]]]}}})
    message = str(error.value)
    assert message.count("studies.paper.ablation_grids[0][1] = [0.3, 0.6]: weights sum to 0.9") == 1
    assert "params has 1 problem(s)" in message
