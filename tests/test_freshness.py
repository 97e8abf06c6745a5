"""The committed results match the committed code: dvc.lock agrees with the files and params.

Works from the last commit alone (`git archive HEAD`, no DVC cache, not the working tree): every
file dependency and every git-tracked output of every stage must have the md5 dvc.lock recorded,
and every params value the stage read must equal params.yaml's. A change to code, notebooks or
params committed without `dvc repro` fails here; a user's own re-run in the working tree does not.
"""
from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml

from committed import committed_root

ROOT = committed_root()
if ROOT is None:
    pytest.skip("not a git checkout: the committed files cannot be read", allow_module_level=True)
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
VARS = {key: value for entry in DVC_YAML.get("vars", []) for key, value in entry.items()}
LOCK = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def expanded(stages: dict) -> dict:
    """dvc.yaml's stages with every `foreach` over the studies written out as <stage>@<study>, as DVC does."""
    found = {}
    for name, spec in stages.items():
        if "foreach" not in spec:
            found[name] = spec
            continue
        assert spec["foreach"] == "${studies}", f"stage {name}: foreach over params.yaml's studies"
        for study in PARAMS["studies"]:
            found[f"{name}@{study}"] = yaml.safe_load(yaml.safe_dump(spec["do"]).replace("${key}", study))
    return found


PIPELINE = expanded(DVC_YAML["stages"])


def md5(path) -> str:
    """DVC's hash of a file, or of a folder: the md5 of its sorted (relpath, md5) listing, plus `.dir`."""
    if path.is_dir():
        listing = [{"md5": md5(file), "relpath": file.relative_to(path).as_posix()}
                   for file in sorted(path.rglob("*")) if file.is_file()]
        listing.sort(key=lambda entry: entry["relpath"])
        return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"
    return hashlib.md5(path.read_bytes()).hexdigest()


def command(stage: str) -> str:
    """The stage's command with dvc.yaml's `${var}` references filled in, as dvc.lock records it."""
    return re.sub(r"\$\{(\w+)\}", lambda match: VARS[match.group(1)], PIPELINE[stage]["cmd"])


def lookup(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def plain(value):
    """PyYAML reads dvc.lock's `1e-05` as a string (YAML 1.1 floats need a dot): compare as numbers."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def in_git(entry: str) -> bool:
    """Files the repository tracks: everything outside data/ (DVC outputs and raw data)."""
    return not entry.startswith("data/")


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_stage_is_locked_with_the_current_command(stage):
    assert stage in LOCK, f"stage {stage} never ran: run dvc repro and commit dvc.lock"
    assert " ".join(LOCK[stage]["cmd"].split()) == " ".join(command(stage).split())


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_dependencies_match_the_lock(stage):
    locked = {entry["path"]: entry for entry in LOCK.get(stage, {}).get("deps", [])}
    assert set(locked) == set(PIPELINE[stage].get("deps", [])), f"{stage}: dvc.yaml deps changed since the last repro"
    for path, entry in locked.items():
        if in_git(path):
            assert md5(ROOT / path) == entry["md5"], f"{path} changed since stage {stage} last ran: run dvc repro"


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_params_match_the_lock(stage):
    locked = LOCK.get(stage, {}).get("params", {}).get("params.yaml", {})
    for key in PIPELINE[stage].get("params", []):
        assert plain(locked.get(key)) == plain(lookup(PARAMS, key)), \
            f"params.yaml {key} changed since stage {stage} ran: run dvc repro"


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_committed_outputs_are_what_the_stage_wrote(stage):
    for entry in LOCK.get(stage, {}).get("outs", []):
        if in_git(entry["path"]):
            assert md5(ROOT / entry["path"]) == entry["md5"], f"{entry['path']} differs from what stage {stage} wrote"


def test_the_diffusion_stage_reads_every_training_setting():
    """A new DiffusionConfig field must be listed in the diffusion stage's params, or be a generation or
    evaluation setting; otherwise editing it would not re-train the generators."""
    import dataclasses

    from padirec.pipeline.config import DiffusionConfig
    from padirec.training.generators import SAMPLING_KEYS

    stage = PIPELINE["diffusion@paper"]
    listed = {key.split(".", 1)[1] for key in stage["params"] if key.startswith("diffusion.")}
    generation = set(SAMPLING_KEYS) | {"guidance_scales", "samples_per_requirement"}
    # The evaluation and ablation grids come from the study (studies.<name>, a param of the stage)
    assert "studies.paper" in stage["params"]
    fields = {field.name for field in dataclasses.fields(DiffusionConfig)}
    assert fields - generation == listed


def test_the_evaluate_stage_reads_every_diffusion_setting_but_the_command_line_scale():
    """Evaluation passes its validation-chosen scale explicitly; every other diffusion setting matters."""
    import dataclasses

    from padirec.pipeline.config import DiffusionConfig

    stage = PIPELINE["evaluate@paper"]
    listed = {key.split(".", 1)[1] for key in stage["params"] if key.startswith("diffusion.")}
    assert "studies.paper" in stage["params"]  # the evaluation and ablation grids come from the study
    assert listed == {field.name for field in dataclasses.fields(DiffusionConfig)} - {"guidance"}
