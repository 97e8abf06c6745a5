"""The stage runner: a bad params value or a failing notebook never changes a committed output.

The end-to-end cases run real `dvc repro` in a throwaway git repository: a clone of this one for a
bad params.yaml, and a one-stage project whose notebook succeeds once and then fails half-way.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from padirec.pipeline import paths, stage

ROOT = paths.repo_root(__file__)
VENV_BIN = Path(sys.executable).parent
DVC = shutil.which("dvc", path=str(VENV_BIN)) or shutil.which("dvc")


def digest_tree(folder: Path, skip: tuple[str, ...] = (".git", ".dvc", ".scratch", ".venv")) -> dict[str, str]:
    """sha256 of every file under `folder`, outside the folders in `skip`."""
    digests = {}
    for current, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not (Path(current) == folder and name in skip)]
        for name in files:
            path = Path(current) / name
            if not path.is_symlink():
                digests[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


def dvc_repro(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([DVC, "repro"], cwd=folder, capture_output=True, text=True, env=env, timeout=300)


def test_every_stage_output_persists_so_dvc_never_deletes_it_before_a_run():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, spec in stages.items():
        per_study = "foreach" in spec
        spec = spec["do"] if per_study else spec
        for section in ("outs", "metrics", "plots"):
            for entry in spec.get(section, []):
                assert isinstance(entry, dict) and next(iter(entry.values())).get("persist") is True, \
                    f"stage {name}: {entry} lacks `persist: true`"
        expected = f"${{run}} {name}@${{key}}" if per_study else f"${{run}} {name}"
        assert spec["cmd"] == expected, f"stage {name} must run through padirec.pipeline.stage"


def test_stage_reads_its_notebook_and_outputs_from_dvc_yaml():
    evaluate = stage.Stage.from_dvc_yaml(ROOT, "evaluate@acc_div_tail")
    assert evaluate.notebook == Path("notebooks/05_evaluate.ipynb")
    assert evaluate.executed == Path("notebooks/executed/acc_div_tail/05_evaluate.ipynb")
    assert Path("figures/acc_div_tail/headline.json") in evaluate.outs
    assert Path("figures/acc_div_tail/evaluate") in evaluate.outs
    backbone = stage.Stage.from_dvc_yaml(ROOT, "backbone")
    assert backbone.executed == Path("notebooks/executed/02_backbone.ipynb")
    with pytest.raises(stage.StageError, match="no stage 'evalute@paper'"):
        stage.Stage.from_dvc_yaml(ROOT, "evalute@paper")
    with pytest.raises(stage.StageError, match="a study's stage is named <stage>@<study>"):
        stage.Stage.from_dvc_yaml(ROOT, "evaluate")


def test_a_study_params_yaml_does_not_define_stops_before_anything_runs(capsys):
    assert stage.main(["sweep@nope"]) == 2
    assert "unknown study 'nope'; params.yaml defines paper, acc_div_tail" in capsys.readouterr().err
    assert not (ROOT / stage.STAGING / "sweep_nope").exists()


@pytest.mark.skipif(DVC is None, reason="dvc is not installed")
def test_bad_params_value_changes_nothing_and_prints_only_the_validation_message(tmp_path):
    clone = tmp_path / "clone"
    git(ROOT, "clone", "-q", str(ROOT), str(clone))
    if (ROOT / ".venv").exists():
        (clone / ".venv").symlink_to((ROOT / ".venv").resolve())
    before = digest_tree(clone)
    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("  guidance: 1.0", "  guidance: -1.0"))
    result = dvc_repro(clone)
    assert result.returncode != 0
    assert "diffusion.guidance" in result.stderr and "Traceback" not in result.stdout + result.stderr
    assert git(clone, "status", "--porcelain", "--untracked-files=no").splitlines() == [" M params.yaml"]
    after = digest_tree(clone)
    assert {key: value for key, value in after.items() if key != "params.yaml"} == \
        {key: value for key, value in before.items() if key != "params.yaml"}


NOTEBOOK_CELLS = [
    ("params_path = None\noutput_root = None", ["parameters"]),
    ("from pathlib import Path\nfrom padirec.pipeline import paths\nout = paths.Paths.for_run(output_root)\n"
     "(out.figures / 'tables').mkdir(parents=True, exist_ok=True)\n"
     "(out.figures / 'tables' / 'result.md').write_text(Path('message.txt').read_text())\n"
     "(out.root / 'data').mkdir(exist_ok=True)\n(out.root / 'data' / 'model.txt').write_text('weights')", []),
    ("if Path('fail.txt').exists():\n    raise RuntimeError('half-way failure')", []),
    ("(out.figures / 'summary.json').write_text('{\"value\": 1}')", []),
]


def write_notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell-{index}", "metadata": {"tags": tags},
              "outputs": [], "source": source} for index, (source, tags) in enumerate(NOTEBOOK_CELLS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}},
                                "nbformat": 4, "nbformat_minor": 5}))


@pytest.mark.skipif(DVC is None, reason="dvc is not installed")
def test_a_notebook_failing_half_way_leaves_every_committed_output_byte_identical(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    write_notebook(project / "notebooks" / "00_demo.ipynb")
    (project / "message.txt").write_text("first run\n")
    outs = {"notebooks/executed/00_demo.ipynb": True, "figures/tables/result.md": True,
            "figures/summary.json": True, "data/model.txt": False}
    (project / "dvc.yaml").write_text(yaml.safe_dump({
        "vars": yaml.safe_load((ROOT / "dvc.yaml").read_text())["vars"],
        "stages": {"demo": {"cmd": "${run} demo", "deps": ["notebooks/00_demo.ipynb", "message.txt"],
                            "outs": [{path: {"cache": not in_git, "persist": True}} for path, in_git in outs.items()]}}}))
    (project / ".gitignore").write_text("/data\n/.scratch\n")
    git(project, "init", "-q")
    subprocess.run([DVC, "init", "-q"], cwd=project, check=True)
    if (ROOT / ".venv").exists():
        (project / ".venv").symlink_to((ROOT / ".venv").resolve())
        (project / ".gitignore").write_text("/data\n/.scratch\n/.venv\n")

    first = dvc_repro(project)
    assert first.returncode == 0, first.stderr
    assert (project / "figures/tables/result.md").read_text() == "first run\n"
    assert "demo: done" in first.stderr and "kernel" not in first.stderr.lower()
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first run")
    committed = digest_tree(project)
    model = (project / "data/model.txt").read_bytes()

    (project / "message.txt").write_text("second run\n")
    (project / "fail.txt").write_text("")
    failed = dvc_repro(project)
    assert failed.returncode != 0
    assert "half-way failure" in failed.stderr and "nothing was published" in failed.stderr
    status = git(project, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M message.txt", "?? fail.txt"]
    after = digest_tree(project)
    assert {key: value for key, value in after.items() if key not in ("message.txt", "fail.txt")} == \
        {key: value for key, value in committed.items() if key != "message.txt"}
    assert (project / "data/model.txt").read_bytes() == model
    # The failed run's notebook is kept aside, for its traceback.
    kept = project / ".scratch/stages/demo/notebooks/executed/00_demo.ipynb"
    assert "half-way failure" in kept.read_text()


def test_executed_notebooks_record_repository_relative_paths_only(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["papermill"] = {"input_path": "/home/someone/repo/notebooks/x.ipynb",
                                      "output_path": "/home/someone/repo/.scratch/x.ipynb", "parameters": {}}
    path = tmp_path / "x.ipynb"
    nbformat.write(notebook, path)
    stage_spec = stage.Stage("x", Path("notebooks/x.ipynb"), Path("notebooks/executed/x.ipynb"), (), ())
    stage._relative_paths(path, stage_spec)
    record = nbformat.read(path, as_version=4).metadata["papermill"]
    assert (record["input_path"], record["output_path"]) == ("notebooks/x.ipynb", "notebooks/executed/x.ipynb")
    assert "/home/" not in path.read_text()
