"""Run one DVC stage so that a mistake never costs what is already computed.

    python -m padirec.pipeline.stage sweep@paper        (the command of every stage in dvc.yaml)

A stage of one requirement study is named `<stage>@<study>`: dvc.yaml defines it once with
`foreach` over params.yaml's studies, and its notebook gets the study as the `study` parameter.

1. The whole params.yaml is validated first; a bad value stops here with the validation
   message alone, before anything is written.
2. The stage's notebook runs with papermill into a staging folder (.scratch/stages/<stage>/),
   where the stage's inputs are linked in; the committed outputs are not touched meanwhile
   (dvc.yaml marks them `persist: true`, so DVC does not delete them first either).
3. Only when every cell has succeeded and every output declared in dvc.yaml exists are the
   outputs moved into place, each by a rename. A failing cell leaves the committed figures,
   tables, metrics and executed notebook byte-identical; the failed executed notebook stays in
   the staging folder to be read.

Long loops report live progress (padirec.pipeline.progress) to this process's terminal.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from padirec.pipeline import config, paths, progress, workers

STAGING = Path(".scratch/stages")
PARAMS = "params.yaml"


class StageError(RuntimeError):
    """A stage that could not run or did not produce its declared outputs."""


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: Path  # the source notebook, relative to the repository root
    executed: Path  # where its executed copy is published
    deps: tuple[Path, ...]
    outs: tuple[Path, ...]  # every path the stage declares as outs or metrics

    @classmethod
    def from_dvc_yaml(cls, root: Path, name: str) -> "Stage":
        stages = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
        base, _, study = name.partition("@")
        if base not in stages or bool(study) != ("foreach" in stages[base]):
            raise StageError(f"no stage {name!r} in dvc.yaml; stages: {', '.join(stages)} (a study's stage is "
                             "named <stage>@<study>).")
        spec = stages[base]
        if study:  # the foreach template, for this study
            text = yaml.safe_dump(spec["do"]).replace("${key}", study)
            spec = yaml.safe_load(text)
        declared = [entry if isinstance(entry, str) else next(iter(entry))
                    for section in ("outs", "metrics", "plots") for entry in spec.get(section, [])]
        deps = tuple(Path(dep) for dep in spec.get("deps", []))
        notebooks = [dep for dep in deps if dep.parent == Path("notebooks") and dep.suffix == ".ipynb"]
        executed = [Path(out) for out in declared if Path(out).parts[:2] == ("notebooks", "executed")
                    and Path(out).suffix == ".ipynb"]
        if len(notebooks) != 1 or len(executed) != 1:
            raise StageError(f"stage {name!r} in dvc.yaml must list one notebook under notebooks/ as a dependency "
                             "and its executed copy under notebooks/executed/ as an output.")
        return cls(name, notebooks[0], executed[0], deps, tuple(Path(out) for out in declared))


def _link_inputs(stage: Stage, root: Path, staging: Path) -> None:
    """Make the stage's data inputs visible under the staging root, as the notebook expects them."""
    for dep in stage.deps:
        if dep.parts[0] in ("padirec", "notebooks") or not (root / dep).exists():
            continue
        link = staging / dep
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to((root / dep).resolve())


def _publish(stage: Stage, root: Path, staging: Path) -> None:
    """Move every declared output from staging into place (each one a rename)."""
    missing = [str(out) for out in stage.outs if not (staging / out).exists() or (staging / out).is_symlink()]
    if missing:
        raise StageError(f"stage {stage.name!r} finished but did not write {', '.join(missing)}, which dvc.yaml "
                         "declares; nothing was published. Fix the notebook or the stage's outs in dvc.yaml.")
    for out in stage.outs:
        source, target = staging / out, root / out
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            retired = target.with_name(f".{target.name}.old")
            shutil.rmtree(retired, ignore_errors=True)
            if target.exists():
                os.replace(target, retired)
            os.replace(source, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(source, target)


class _Relay(threading.Thread):
    """Copy what the kernel appends to the progress file to this process's stderr, as it comes."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.finished = path, threading.Event()

    def run(self) -> None:
        with open(self.path, "r", encoding="utf-8", newline="") as source:
            while True:
                done = self.finished.is_set()  # read once more after the stage ends
                chunk = source.read()
                if chunk:
                    sys.stderr.write(chunk)
                    sys.stderr.flush()
                if done:
                    return
                time.sleep(0.2)


def run_stage(name: str, params: str = PARAMS) -> float:
    """Validate params, run the stage's notebook in staging, publish its outputs; returns seconds."""
    import papermill

    root = paths.repo_root()
    config.load_config(root / params)  # raises ConfigError listing every bad value; nothing written yet
    stage = Stage.from_dvc_yaml(root, name)
    study = name.partition("@")[2] or None
    if study is not None:
        try:
            config.load_config(root / params).study(study)
        except ValueError as error:  # a study dvc.yaml would not instantiate: nothing is touched
            raise StageError(f"{error} Nothing was run.") from None
    staging = root / STAGING / name.replace("@", "_")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _link_inputs(stage, root, staging)
    (staging / stage.executed).parent.mkdir(parents=True, exist_ok=True)
    progress_file = staging / "progress.log"
    progress_file.touch()
    # The kernel is started from PATH ("python"): make it this interpreter's environment, so the
    # stage works without an activated virtual environment.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for variable in workers.THREAD_VARIABLES:  # one thread in the kernel and its workers (padirec.pipeline.workers)
        os.environ[variable] = "1"
    os.environ[progress.PROGRESS_FILE] = str(progress_file)
    os.environ[progress.STAGE_NAME] = name
    print(f"{name}: running {stage.notebook} (outputs staged in {staging.relative_to(root)})", file=sys.stderr, flush=True)
    relay = _Relay(progress_file)
    relay.start()
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(root / stage.notebook), str(staging / stage.executed),
            parameters={"params_path": params, "output_root": str(staging.relative_to(root)),
                        **({"study": study} if study else {})},
            kernel_name="python3", progress_bar=False, log_output=False, cwd=str(root),
            # The kernel's TCP notice says nothing about the stage; errors still show.
            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except papermill.PapermillExecutionError as error:
        raise StageError(
            f"stage {name!r} failed in cell {error.exec_count} of {stage.notebook}: {error.ename}: {error.evalue}\n"
            f"The executed notebook with the traceback is {(staging / stage.executed).relative_to(root)}; "
            "nothing was published, the committed outputs are unchanged.") from None
    except (RuntimeError, OSError) as error:  # the kernel died or could not start
        raise StageError(f"stage {name!r} stopped: {type(error).__name__}: {error}; nothing was published, the "
                         "committed outputs are unchanged.") from None
    finally:
        relay.finished.set()
        relay.join()
    _relative_paths(staging / stage.executed, stage)
    _publish(stage, root, staging)
    seconds = time.perf_counter() - started
    print(f"{name}: done in {seconds:.0f} s, {len(stage.outs)} outputs published", file=sys.stderr, flush=True)
    return seconds


def _relative_paths(executed: Path, stage: Stage) -> None:
    """papermill records where it read and wrote the notebook; keep those repository-relative, so that no
    committed notebook holds a path of the machine that ran it."""
    import nbformat

    notebook = nbformat.read(executed, as_version=4)
    record = notebook.metadata.get("papermill", {})
    record["input_path"], record["output_path"] = str(stage.notebook), str(stage.executed)
    nbformat.write(notebook, executed)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m padirec.pipeline.stage STAGE [PARAMS]", file=sys.stderr)
        return 2
    try:
        run_stage(*args)
    except config.ConfigError as error:
        print(f"error: {error}\nNothing was run or changed; fix the value(s) and run again.", file=sys.stderr)
        return 2
    except (StageError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
