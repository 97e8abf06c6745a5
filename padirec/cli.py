"""Command line: serve a requirement from the artifacts `dvc repro` built.

    python -m padirec generate  --backbone sasrec --weights 0.3,0.7 --out adapter.npz
    python -m padirec tune      --backbone sasrec --weights 0.3,0.7 --out tuned.npz
    python -m padirec evaluate  --backbone sasrec --adapter adapter.npz
    python -m padirec recommend --backbone sasrec --weights 0.3,0.7 --user 196 -k 10

Bad input exits with status 2 and a message saying what is wrong and how to fix it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from padirec import artifacts, config, data, evaluation, paths
from padirec.io import load_npz, save_npz
from padirec.models import BACKBONES, apply_adapter


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit status 2."""


def parse_weights(text: str, objectives: list[str]) -> np.ndarray:
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--weights {text!r}: give {len(objectives)} comma-separated numbers, e.g. 0.3,0.7") from None
    problem = config.requirement_problem(weights, len(objectives))
    if problem is not None:
        raise UsageError(f"--weights {text!r} ({', '.join(objectives)}): {problem}")
    return np.array(weights, dtype=np.float64)


def _context(args) -> tuple[paths.Paths, config.Config]:
    root = paths.repo_root()
    cfg = config.load_config(root / args.params)
    if args.backbone not in BACKBONES:
        raise UsageError(f"--backbone {args.backbone!r}: unknown; known backbones: {', '.join(BACKBONES)}.")
    if args.backbone not in cfg.backbone.names:
        raise UsageError(f"--backbone {args.backbone!r} is not in backbone.names of {args.params} "
                         f"({', '.join(cfg.backbone.names)}): add it there and run dvc repro.")
    return paths.Paths((root / args.root).resolve()), cfg


def _generate(out: paths.Paths, args, cfg: config.Config) -> tuple[torch.Tensor, float]:
    from padirec.generator import Generator

    weights = parse_weights(args.weights, cfg.sweep.objectives)
    # The generator of the first sweep seed serves; the others exist for the evaluation's replicates.
    model = Generator.load(out.generator(args.backbone, cfg.sweep.seeds[0]), cfg.diffusion)
    started = time.perf_counter()
    adapter = model.generate(weights[None], guidance=args.guidance, steps=args.steps, seed=args.seed)[0]
    return adapter, time.perf_counter() - started


def _save_adapter(path: Path, adapter: torch.Tensor, backbone: str, weights: str, how: str) -> None:
    save_npz(path, {"adapter": adapter.numpy().astype(np.float32), "backbone": np.array(backbone),
                    "weights": np.array(weights), "how": np.array(how)})


def cmd_generate(args) -> dict:
    out, cfg = _context(args)
    adapter, seconds = _generate(out, args, cfg)
    _save_adapter(Path(args.out), adapter, args.backbone, args.weights, "generated")
    return {"out": args.out, "parameters": adapter.numel(), "generate_ms": round(seconds * 1000, 1)}


def cmd_tune(args) -> dict:
    from padirec.train import tune_adapters, tuning_tensors

    out, cfg = _context(args)
    weights = parse_weights(args.weights, cfg.sweep.objectives)
    dataset = data.Dataset.load(out.dataset)
    model, _ = artifacts.load_backbone(out.backbone(args.backbone))
    states, targets, categories = tuning_tensors(model, dataset)
    run = tune_adapters(model, states, targets, categories, weights[None], cfg.sweep, args.seed, progress=False)
    adapter = torch.as_tensor(run.checkpoints[0, -1])
    _save_adapter(Path(args.out), adapter, args.backbone, args.weights, "tuned")
    return {"out": args.out, "parameters": adapter.numel(), "tune_s": round(run.seconds, 2)}


def _load_adapter(path: Path, backbone: str, size: int) -> torch.Tensor:
    if not path.exists():
        raise UsageError(f"--adapter {path}: no such file; write one with `python -m padirec generate ... --out {path}`.")
    try:
        arrays = load_npz(path, made_by="generate")
    except ValueError as error:
        raise UsageError(f"--adapter {path}: {error}") from None
    if "adapter" not in arrays:
        raise UsageError(f"--adapter {path} holds no adapter vector; write one with `python -m padirec generate`.")
    adapter = torch.as_tensor(arrays["adapter"], dtype=torch.float32)
    if adapter.shape != (size,):
        raise UsageError(f"--adapter {path} has {adapter.numel()} parameters; backbone {backbone} needs {size}.")
    return adapter


def cmd_evaluate(args) -> dict:
    out, _ = _context(args)
    dataset = data.Dataset.load(out.dataset)
    model, _ = artifacts.load_backbone(out.backbone(args.backbone))
    adapter = _load_adapter(Path(args.adapter), args.backbone, model.adapter_vector().numel())
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    states = apply_adapter(evaluation.backbone_states(model, test.history), adapter)
    metrics = evaluation.evaluate_states(model, states, test)
    return {name: round(value, 4) for name, value in metrics.items()}


def cmd_recommend(args) -> dict:
    out, cfg = _context(args)
    dataset = data.Dataset.load(out.dataset)
    matches = np.flatnonzero(dataset.user_ids == args.user)
    if len(matches) == 0:
        raise UsageError(f"--user {args.user!r}: unknown user; ids are the raw user ids of {dataset.name} "
                         f"that survived preparation, e.g. {', '.join(dataset.user_ids[1:4])}.")
    user = int(matches[0])
    adapter, seconds = _generate(out, args, cfg)
    model, _ = artifacts.load_backbone(out.backbone(args.backbone))
    history = dataset.sequence(user)[-dataset.train.history.shape[1]:]
    padded = torch.zeros(1, dataset.train.history.shape[1], dtype=torch.long)
    padded[0, -len(history):] = torch.as_tensor(history)
    with torch.inference_mode():
        scores = model.score_all_from_state(apply_adapter(model.hidden_state(padded), adapter))[0]
        scores[torch.as_tensor(dataset.sequence(user), dtype=torch.long)] = float("-inf")  # already consumed
        top = torch.topk(scores, args.k).indices.numpy()
    return {"user": args.user, "weights": args.weights, "generate_ms": round(seconds * 1000, 1),
            "recommendations": [{"rank": rank + 1, "item": str(dataset.item_ids[item]), "title": str(dataset.item_titles[item]),
                                 "genres": ", ".join(dataset.category_names[dataset.item_categories[item] == 1])}
                                for rank, item in enumerate(top)]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m padirec", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml", help="params file, relative to the repository root")
    parser.add_argument("--root", default=".", help="output root holding data/ (default: the repository root)")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name, handler, help_text, weights=True, sampling=True):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--backbone", required=True, help=f"one of {', '.join(BACKBONES)}")
        if weights:
            command.add_argument("--weights", required=True, help="requirement vector, e.g. 0.3,0.7 (w_acc,w_div)")
        if sampling:
            command.add_argument("--guidance", type=float, default=None, help="guidance scale s (default: params.yaml)")
            command.add_argument("--steps", type=int, default=None, help="DDIM steps (default: params.yaml)")
        command.add_argument("--seed", type=int, default=0)
        command.set_defaults(handler=handler)
        return command

    add("generate", cmd_generate, "generate an adapter for a requirement").add_argument("--out", required=True)
    add("tune", cmd_tune, "tune an adapter at a requirement directly (Retrain)", sampling=False).add_argument("--out", required=True)
    add("evaluate", cmd_evaluate, "test metrics of an adapter file as JSON", weights=False, sampling=False).add_argument(
        "--adapter", required=True)
    recommend = add("recommend", cmd_recommend, "top-k movies for a user under a generated adapter")
    recommend.add_argument("--user", required=True, help="raw user id, as in the .inter file")
    recommend.add_argument("-k", type=int, default=10)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "guidance", None) is not None and args.guidance < 0:
            raise UsageError(f"--guidance {args.guidance}: a guidance scale must be at least 0.")
        if getattr(args, "k", 1) < 1:
            raise UsageError(f"-k {args.k}: must be at least 1.")
        result = args.handler(args)
    except (UsageError, FileNotFoundError, ValueError, config.ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0
