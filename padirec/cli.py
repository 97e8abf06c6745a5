"""Command line: serve a requirement from the artifacts `dvc repro` built.

    padirec generate  --backbone sasrec --weights 0.3,0.7 --out adapter.npz
    padirec tune      --backbone sasrec --weights 0.3,0.7 --out tuned.npz
    padirec evaluate  --backbone sasrec --adapter adapter.npz
    padirec recommend --backbone sasrec --weights 0.3,0.7 --user 196 -k 10

Bad input exits with status 2 and one line on stderr saying what is wrong and how to fix it; every
option, file and output path is checked before the work that depends on it, and nothing is written
unless the command succeeds.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import artifacts, config, paths, runtime
from padirec.pipeline.io import load_npz, save_npz
from padirec.pipeline.sections import MAX_SEED
from padirec.models.backbones import BACKBONES, apply_adapter
from padirec.objectives import requirements


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose own complaints (a missing option, `--seed x`) are one `error:` line, like every other."""

    def error(self, message: str):
        self.exit(2, f"error: {message}; see `{self.prog} --help`.\n")


def parse_weights(text: str, objectives: list[str]) -> np.ndarray:
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--weights {text!r}: give {len(objectives)} comma-separated numbers, e.g. 0.3,0.7") from None
    problem = requirements.problem(weights, len(objectives))
    if problem is not None:
        raise UsageError(f"--weights {text!r} ({', '.join(objectives)}): {problem}")
    return np.array(weights, dtype=np.float64)


def _context(args) -> tuple[paths.Paths, config.Config]:
    """The output root and the validated params, after checking every option that needs no artifact."""
    root = paths.repo_root()
    params = root / args.params
    try:
        cfg = config.load_config(params)
    except FileNotFoundError:
        raise UsageError(f"--params {args.params}: no such file {params}; pass the path of params.yaml, "
                         "relative to the repository root.") from None
    except config.ConfigError as error:
        raise UsageError(f"--params {args.params}: {'; '.join(p.rstrip('.') for p in error.problems)}.") from None
    if args.backbone not in BACKBONES:
        raise UsageError(f"--backbone {args.backbone!r}: unknown; known backbones: {', '.join(BACKBONES)}.")
    if args.backbone not in cfg.backbone.names:
        raise UsageError(f"--backbone {args.backbone!r} is not in backbone.names of {args.params} "
                         f"({', '.join(cfg.backbone.names)}): add it there and run dvc repro.")
    output_root = (root / args.root).resolve()
    if not output_root.is_dir():
        raise UsageError(f"--root {args.root}: {output_root} is not a folder; pass the output root holding data/ "
                         "(default: the repository root).")
    try:  # the study's objectives, seeds and grids: its generators live under data/generator/<study>/
        args.study_config = cfg.study(args.study)
    except ValueError:
        raise UsageError(f"--study {args.study!r}: unknown; {args.params} defines {', '.join(cfg.studies)}.") from None
    _check_numbers(args, cfg)
    try:  # --device overrides runtime.device of the params file for this command
        args.torch_device = runtime.setup(dataclasses.replace(cfg.runtime, device=args.device or cfg.runtime.device))
    except ValueError as error:
        raise UsageError(f"--device {args.device}: {str(error).partition(': ')[2]}" if args.device else str(error)) from None
    return paths.Paths(output_root, args.study), cfg


def _check_numbers(args, cfg: config.Config) -> None:
    """Every numeric option finite and in range (argparse has already made them numbers)."""
    guidance = getattr(args, "guidance", None)
    if guidance is not None and not (math.isfinite(guidance) and guidance >= 0):
        raise UsageError(f"--guidance {guidance}: a guidance scale must be a finite number, at least 0 "
                         f"(diffusion.guidance is {cfg.diffusion.guidance:g}).")
    steps = getattr(args, "steps", None)
    if steps is not None:
        if cfg.diffusion.sampler == "ddpm" and steps != cfg.diffusion.steps:
            raise UsageError(f"--steps {steps}: the ddpm sampler (diffusion.sampler) runs all {cfg.diffusion.steps} "
                             "diffusion steps; omit --steps.")
        if not 1 <= steps <= cfg.diffusion.steps:
            raise UsageError(f"--steps {steps}: DDIM steps must be in 1..{cfg.diffusion.steps} (diffusion.steps); "
                             f"diffusion.sample_steps is {cfg.diffusion.sample_steps}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed {args.seed}: must be an integer in 0..{MAX_SEED}.")
    k = getattr(args, "k", None)
    if k is not None and k < 1:
        raise UsageError(f"-k {k}: must be at least 1.")


def _check_output(text: str, out: paths.Paths) -> Path:
    """The --out path, refused before any work when it cannot take the file (a probe file is created and removed)."""
    path = Path(text)
    if not text.strip():
        raise UsageError("--out '': give a file name, e.g. --out adapter.npz.")
    if path.is_dir():
        raise UsageError(f"--out {text} is a folder: name a file in it, e.g. --out {path / 'adapter.npz'}.")
    folder = path.parent
    if not folder.exists():
        raise UsageError(f"--out {text}: folder {folder} does not exist; create it (mkdir -p {folder}) or write elsewhere.")
    if not folder.is_dir():
        raise UsageError(f"--out {text}: {folder} is a file, not a folder; choose a path inside a folder.")
    pipeline_data = out.root / "data"
    if path.resolve().is_relative_to(pipeline_data):
        raise UsageError(f"--out {text} is inside {pipeline_data}, where dvc repro keeps its artifacts; "
                         "write the adapter elsewhere, e.g. --out adapter.npz.")
    try:
        descriptor, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"--out {text}: cannot write in {folder} ({error.strerror}); choose a writable folder.") from None
    return path


def _load_dataset(out: paths.Paths) -> data.Dataset:
    try:
        return data.Dataset.load(out.dataset)
    except (KeyError, TypeError) as error:  # an .npz of another kind: arrays missing or unexpected
        raise ValueError(f"{out.dataset} is not a prepared data set (no {error}); re-run the 'prepare' stage "
                         "(dvc repro -f prepare).") from None


def _load_backbone(out: paths.Paths, name: str, dataset: data.Dataset, device: torch.device):
    model, _ = artifacts.load_backbone(out.backbone(name), name, device)
    if model.n_items != dataset.n_items:
        raise ValueError(f"{out.backbone(name)} scores {model.n_items} items but {out.dataset} has {dataset.n_items}: "
                         "the artifacts come from different runs; run dvc repro.")
    return model


def _generate(out: paths.Paths, args, cfg: config.Config, weights: np.ndarray) -> tuple[torch.Tensor, float]:
    from padirec.methods.generated import generate
    from padirec.training.generators import Generator

    # The generator of the first sweep seed serves; the others exist for the evaluation's replicates.
    model = Generator.load(out.generator(args.backbone, args.study_config.seeds[0]), cfg.diffusion, backbone=args.backbone,
                           objectives=args.study_config.objectives, device=args.torch_device)
    if args.steps is not None and args.steps > model.config.steps:
        raise UsageError(f"--steps {args.steps}: the generator was trained with {model.config.steps} diffusion steps; "
                         f"give at most {model.config.steps}.")
    started = time.perf_counter()
    adapter = generate(model, weights[None], args.guidance, [args.seed], steps=args.steps)[0, 0]
    seconds = time.perf_counter() - started
    if not bool(torch.isfinite(adapter).all()):
        raise UsageError(f"--guidance {args.guidance}: the generated adapter holds NaN or inf; use a smaller guidance "
                         f"scale (diffusion.guidance is {cfg.diffusion.guidance:g}).")
    return adapter, seconds


def _save_adapter(path: Path, adapter: torch.Tensor, backbone: str, objectives: list[str], weights: str, how: str) -> None:
    # backbone and objectives travel with the vector, so `evaluate` can refuse it for another backbone
    save_npz(path, {"adapter": adapter.numpy().astype(np.float32), "backbone": np.array(backbone),
                    "objectives": np.array(objectives), "weights": np.array(weights), "how": np.array(how)})


def cmd_generate(args) -> dict:
    out, cfg = _context(args)
    weights = parse_weights(args.weights, args.study_config.objectives)
    target = _check_output(args.out, out)
    adapter, seconds = _generate(out, args, cfg, weights)
    _save_adapter(target, adapter, args.backbone, args.study_config.objectives, args.weights, "generated")
    return {"out": args.out, "parameters": adapter.numel(), "generate_ms": round(seconds * 1000, 1)}


def cmd_tune(args) -> dict:
    from padirec.methods.retrain import retrain
    from padirec.objectives.registry import objective_data
    from padirec.training.adapters import TuningSet

    out, cfg = _context(args)
    weights = parse_weights(args.weights, args.study_config.objectives)
    target = _check_output(args.out, out)
    dataset = _load_dataset(out)
    model = _load_backbone(out, args.backbone, dataset, args.torch_device)
    objectives = args.study_config.objectives
    tuning = TuningSet.of(model, dataset, objective_data(dataset, objectives, cfg.sweep.fair_groups, args.torch_device))
    run = retrain(tuning, weights[None], cfg.sweep, args.seed, objectives)
    adapter = torch.as_tensor(run.checkpoints[0, -1])
    if not bool(torch.isfinite(adapter).all()):
        raise ValueError(f"tuning diverged (NaN or inf in the adapter); lower sweep.lr ({cfg.sweep.lr:g}) in {args.params}.")
    _save_adapter(target, adapter, args.backbone, args.study_config.objectives, args.weights, "tuned")
    return {"out": args.out, "parameters": adapter.numel(), "tune_s": round(run.seconds, 2)}


def _load_adapter(path: Path, backbone: str, objectives: list[str], size: int) -> torch.Tensor:
    """The adapter vector of a file `generate` or `tune` wrote, for this backbone and these objectives."""
    remedy = f"write one with `padirec generate --backbone {backbone} ... --out {path}`"
    if not path.exists():
        raise UsageError(f"--adapter {path}: no such file; {remedy}.")
    if not path.is_file():
        raise UsageError(f"--adapter {path} is not a file; {remedy}.")
    try:
        arrays = load_npz(path, made_by="generate")
    except ValueError:
        raise UsageError(f"--adapter {path} is truncated or not an .npz archive; {remedy}.") from None
    if "adapter" not in arrays:
        raise UsageError(f"--adapter {path} holds no adapter vector; {remedy}.")
    made_for = {key: arrays[key] for key in ("backbone", "objectives") if key in arrays}
    if len(made_for) < 2 or made_for["backbone"].ndim != 0:
        raise UsageError(f"--adapter {path} does not record the backbone and objectives it was made for; {remedy}.")
    if str(made_for["backbone"]) != backbone:
        raise UsageError(f"--adapter {path} was made for backbone {made_for['backbone']}, not {backbone}: pass "
                         f"--backbone {made_for['backbone']}, or {remedy}.")
    if [str(o) for o in np.atleast_1d(made_for["objectives"])] != list(objectives):
        raise UsageError(f"--adapter {path} was made for objectives {[str(o) for o in np.atleast_1d(made_for['objectives'])]}, "
                         f"but the study's objectives are {list(objectives)}: pass its --study, or {remedy}.")
    vector = arrays["adapter"]
    if not np.issubdtype(vector.dtype, np.floating) or vector.shape != (size,):
        raise UsageError(f"--adapter {path} holds {vector.dtype} values of shape {list(vector.shape)}; backbone {backbone} "
                         f"needs {size} floating-point parameters; {remedy}.")
    if not np.isfinite(vector).all():
        raise UsageError(f"--adapter {path} holds NaN or inf values; {remedy}.")
    return torch.as_tensor(vector, dtype=torch.float32)


def cmd_evaluate(args) -> dict:
    out, cfg = _context(args)
    dataset = _load_dataset(out)
    model = _load_backbone(out, args.backbone, dataset, args.torch_device)
    adapter = _load_adapter(Path(args.adapter), args.backbone, args.study_config.objectives, model.adapter_vector().numel())
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test, cfg.sweep.fair_groups)
    states = apply_adapter(evaluation.backbone_states(model, test.history), adapter.to(args.torch_device))
    metrics = evaluation.evaluate_states(model, states, test)
    return {name: round(value, 4) for name, value in metrics.items()}


def _user_index(dataset: data.Dataset, user: str) -> int:
    examples = ", ".join(dataset.user_ids[1:4])
    if not user.strip():
        raise UsageError(f"--user {user!r}: give a user id, e.g. {examples}.")
    matches = np.flatnonzero(dataset.user_ids[1:] == user) + 1  # index 0 is padding, whose id is ''
    if len(matches) == 0:
        raise UsageError(f"--user {user!r}: unknown user; ids are the raw user ids of {dataset.name} "
                         f"that survived preparation, e.g. {examples}.")
    return int(matches[0])


def cmd_recommend(args) -> dict:
    out, cfg = _context(args)
    weights = parse_weights(args.weights, args.study_config.objectives)
    dataset = _load_dataset(out)
    user = _user_index(dataset, args.user)
    consumed = np.unique(dataset.sequence(user))
    available = dataset.n_items - len(consumed)
    if args.k > available:
        raise UsageError(f"-k {args.k}: user {args.user} can be recommended at most {available} items (a catalogue of "
                         f"{dataset.n_items}, {len(consumed)} already consumed); give -k {available} or less.")
    model = _load_backbone(out, args.backbone, dataset, args.torch_device)
    adapter, seconds = _generate(out, args, cfg, weights)
    if adapter.numel() != model.adapter_vector().numel():
        raise ValueError(f"the {args.backbone} generator makes {adapter.numel()} parameters but the backbone's adapter "
                         f"has {model.adapter_vector().numel()}: the artifacts come from different runs; run dvc repro.")
    history = dataset.sequence(user)[-dataset.train.history.shape[1]:]
    padded = torch.zeros(1, dataset.train.history.shape[1], dtype=torch.long)
    padded[0, -len(history):] = torch.as_tensor(history)
    with torch.inference_mode():
        state = model.hidden_state(padded.to(args.torch_device))
        scores = model.score_all_from_state(apply_adapter(state, adapter.to(args.torch_device)))[0].cpu()
        scores[torch.as_tensor(consumed, dtype=torch.long)] = float("-inf")  # already consumed
        top = torch.topk(scores, args.k).indices.numpy()
    return {"user": args.user, "weights": args.weights, "generate_ms": round(seconds * 1000, 1),
            "recommendations": [{"rank": rank + 1, "item": str(dataset.item_ids[item]), "title": str(dataset.item_titles[item]),
                                 "genres": ", ".join(dataset.category_names[dataset.item_categories[item] == 1])}
                                for rank, item in enumerate(top)]}


def _global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--params, --root, --study and --device, before the subcommand or after it: the subcommand's copies have no
    defaults, so that only a value given after the subcommand replaces the one given (or defaulted) before it."""
    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--params", default=default("params.yaml"), help="params file, relative to the repository root")
    parser.add_argument("--root", default=default("."), help="output root holding data/ (default: the repository root)")
    parser.add_argument("--study", default=default("paper"), help="requirement study of the params file (studies:), "
                        "which sets the objectives --weights weights (default: paper, i.e. w_acc,w_div)")
    parser.add_argument("--device", default=default(None), help="auto, cpu, cuda, cuda:N or mps (default: "
                        "runtime.device of the params file)")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="padirec", description=__doc__.split("\n\n")[0])
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name, handler, help_text, weights=True, sampling=True):
        command = commands.add_parser(name, help=help_text)
        _global_options(command, defaults=False)
        command.add_argument("--backbone", required=True, help=f"one of {', '.join(BACKBONES)}")
        if weights:
            command.add_argument("--weights", required=True, help="requirement vector, one weight per objective of the study, e.g. "
                                 "0.3,0.7 (paper: w_acc,w_div) or 0.5,0.25,0.25 (acc_div_tail)")
        if sampling:
            command.add_argument("--guidance", type=float, default=None, help="guidance scale s >= 0 (default: params.yaml)")
            command.add_argument("--steps", type=int, default=None, help="DDIM steps, 1..diffusion.steps (default: params.yaml)")
        command.add_argument("--seed", type=int, default=0, help=f"0..{MAX_SEED}")
        command.set_defaults(handler=handler)
        return command

    output_help = "file to write (its folder must exist)"
    add("generate", cmd_generate, "generate an adapter for a requirement").add_argument("--out", required=True, help=output_help)
    add("tune", cmd_tune, "tune an adapter at a requirement directly (Retrain)", sampling=False).add_argument(
        "--out", required=True, help=output_help)
    add("evaluate", cmd_evaluate, "test metrics of an adapter file as JSON", weights=False, sampling=False).add_argument(
        "--adapter", required=True)
    recommend = add("recommend", cmd_recommend, "top-k movies for a user under a generated adapter")
    recommend.add_argument("--user", required=True, help="raw user id, as in the .inter file")
    recommend.add_argument("-k", type=int, default=10, help="recommendations, 1..the items the user has not consumed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.handler(args)
    except (UsageError, ValueError, OSError) as error:
        # ValueError covers ConfigError, DataError and the loaders' reports of missing, stale or damaged
        # artifacts; OSError a file that cannot be read or written. A bug of any other kind still raises.
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
