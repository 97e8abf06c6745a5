"""Benchmark: generating an adapter against retraining one, on the artifacts `dvc repro` built.

    python -m padirec.perf.bench [--backbone sasrec] [--repeats 20] [--out figures/bench.json]
    python -m padirec.perf.bench --scale [--out figures/scaling.json]

Prints a table and writes figures/bench.json. Times are wall-clock medians after warm-up on the
device and CPU threads of params.yaml's `runtime` (--device overrides); quality is NDCG@10 and
alpha-NDCG@10 of adapters generated for the evaluation grid, relative to the full DDPM sampler's.
`--scale` runs the cost model instead (padirec.perf.costmodel): synthetic data of growing size, log-log
fits, figures/scaling.json and figures/scaling.png.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from padirec.pipeline import runtime  # noqa: E402
from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.perf import costmodel
from padirec.pipeline import artifacts, config, environment, io, paths
from padirec.report import figures as report
from padirec.methods.registry import median_seconds  # noqa: E402
from padirec.training.generators import Generator, generator_jobs, train_generator, train_generator_stacks  # noqa: E402
from padirec.methods.retrain import retrain  # noqa: E402
from padirec.training.adapters import TuningSet, evaluate_adapters  # noqa: E402

STAGES = {"prepare": "01_data", "backbone": "02_backbone", "sweep": "03_sweep", "diffusion": "04_diffusion",
          "evaluate": "05_evaluate"}


def median_ms(action, repeats: int, warmup: int = 3) -> float:
    return 1000 * median_seconds(lambda _: action(), repeats, warmup)


class UncachedStates:
    """Backbone states computed on demand for each batch: retraining without the state cache."""

    def __init__(self, model, histories: torch.Tensor):
        self.model, self.histories = model, histories

    def __len__(self) -> int:
        return len(self.histories)

    def __getitem__(self, index) -> torch.Tensor:
        with torch.no_grad():
            return self.model.hidden_state(self.histories[index.to(self.histories.device)])

    @property
    def device(self) -> torch.device:
        return self.histories.device


def sampler_table(generator: Generator, model, test_states, test, weights: np.ndarray, repeats: int) -> pd.DataFrame:
    """Time per adapter and quality for DDPM (all steps) and DDIM at several step counts."""
    one = weights[3:4]
    settings = [("ddpm", None)] + [("ddim", steps) for steps in (5, 10, 20, 50, 100, 500)]
    rows = []
    for sampler, steps in settings:
        ms = median_ms(lambda: generator.generate(one, steps=steps, sampler=sampler), repeats if sampler == "ddim" else 3,
                       warmup=1)
        adapters = torch.cat([generator.generate(weights, steps=steps, sampler=sampler, seed=seed) for seed in range(3)])
        metrics = evaluate_adapters(model, test_states, adapters, test, full_ranking=False)
        rows.append({"sampler": sampler, "steps": steps or generator.config.steps, "ms_per_adapter": ms,
                     "ndcg@10": float(np.mean([m["ndcg@10"] for m in metrics])),
                     "alpha_ndcg@10": float(np.mean([m["alpha_ndcg@10"] for m in metrics]))})
    table = pd.DataFrame(rows)
    for metric in ("ndcg@10", "alpha_ndcg@10"):
        table[f"{metric} vs ddpm"] = table[metric] / table.loc[0, metric]
    return table


def generator_training(cfg: config.Config, study: config.StudyConfig, out: paths.Paths, steps: int,
                       device: torch.device) -> dict:
    """The diffusion stage's generators (every backbone, seed and ablation grid), trained for `steps` steps
    one at a time and then as stacks of diffusion.stack, side by side on the same data and seeds."""
    jobs = generator_jobs(cfg, study, out)
    subsets, seeds = [subset for *_, subset in jobs], [seed for _, seed, *_ in jobs]
    short = replace(cfg.diffusion, train_steps=steps)
    started = time.perf_counter()
    alone = [train_generator(subset, short, replicate=seed, progress=False, device=device)
             for subset, seed in zip(subsets, seeds)]
    one_at_a_time = time.perf_counter() - started
    started = time.perf_counter()
    stacked = train_generator_stacks(subsets, short, seeds, progress=False, device=device)
    together = time.perf_counter() - started
    loss_gap = max(abs(np.mean(a.losses[-20:]) - np.mean(b.losses[-20:])) for a, b in zip(alone, stacked))
    return {"generators": len(jobs), "steps": steps, "stack": cfg.diffusion.stack,
            "one_at_a_time_s": round(one_at_a_time, 2), "stacked_s": round(together, 2),
            "ratio": round(one_at_a_time / together, 2), "max_final_loss_difference": float(f"{loss_gap:.2g}")}


def stage_resources(root: Path) -> dict[str, dict[str, float]]:
    """Each stage's notebook run time (papermill's record) and peak memory (its last cell's print)."""
    found = {}
    for stage, notebook in STAGES.items():
        study = "" if stage in ("prepare", "backbone") else "paper"  # the paper study's stages
        path = root / "notebooks" / "executed" / study / f"{notebook}.ipynb"
        if not path.exists():
            continue
        executed = json.loads(path.read_text())
        last = "".join("".join(output.get("text", "")) for output in executed["cells"][-1].get("outputs", []))
        peak = re.search(r"peak memory of this stage: (\d+) MB", last)
        found[stage] = {"seconds": round(executed["metadata"]["papermill"]["duration"], 1),
                        "peak_memory_mb": int(peak.group(1)) if peak else None}
    return found


def scale_main(cfg: config.Config, out: paths.Paths, device: torch.device, target: Path) -> int:
    """The cost model: time every piece on synthetic data of growing size, fit log-log slopes, draw them."""
    dataset = data.Dataset.load(out.dataset)  # the real data's lengths and popularity skew shape the synthetic data
    measured = costmodel.measure(cfg, cfg.study("paper"), dataset, device, progress=lambda line: print(line, flush=True))
    fits = costmodel.fit(measured)
    predicted = costmodel.predictions(fits, cfg, measured)
    where = runtime.describe(device)
    result = {**where, "cpu": environment.cpu_model(), "zipf_exponent": round(costmodel.popularity_exponent(dataset), 3),
              "measured": measured.round(6).to_dict("records"), "fits": fits.round(4).to_dict("records"),
              "predictions": predicted.round(3).to_dict("records")}
    io.write_json(target, result)
    report.save_figure(costmodel.figure(measured, fits, _scaling_title(where)), target.parent / "scaling.png")
    print(fits.round(3).to_string(index=False))
    print(predicted.round(3).to_string(index=False))
    return 0


def _scaling_title(where: dict) -> str:
    return (f"Cost on synthetic data ({where['device']}, {where['threads']} thread(s)): measured steps scaled to a "
            "run, least-squares fits in log-log space")


def redraw_scaling(target: Path) -> int:
    """scaling.png again from a cost-model file (`scale_main`'s), without measuring."""
    result = json.loads(target.read_text())
    figure = costmodel.figure(pd.DataFrame(result["measured"]), pd.DataFrame(result["fits"]), _scaling_title(result))
    report.save_figure(figure, target.parent / "scaling.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m padirec.perf.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="sasrec")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=None, help="figures/bench.json, or figures/scaling.json with --scale")
    parser.add_argument("--train-steps", type=int, default=200, help="steps per generator in the stacking comparison")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: runtime.device)")
    parser.add_argument("--scale", action="store_true", help="run the cost model on synthetic data instead")
    parser.add_argument("--redraw", action="store_true", help="with --scale: draw scaling.png again from the "
                        "measurements in the --out file, measuring nothing")
    return parser


def retrain_seconds(model, dataset, requirement: np.ndarray, cfg: config.Config, study: config.StudyConfig,
                    device: torch.device) -> tuple[float, float]:
    """Retrain at one requirement over cached states (the cache's computation included) and without a cache."""
    histories = torch.as_tensor(dataset.train.history, dtype=torch.long, device=device)
    started = time.perf_counter()
    tuning = TuningSet.of(model, dataset)
    retrain(tuning, requirement, cfg.sweep, 0, study.objectives)
    cached = time.perf_counter() - started
    uncached = retrain(replace(tuning, states=UncachedStates(model, histories)), requirement, cfg.sweep, 0,
                       study.objectives)
    return cached, uncached.seconds


def benchmark(args, cfg: config.Config, study: config.StudyConfig, out: paths.Paths, device: torch.device) -> dict:
    """Generation per sampler, Retrain cached and uncached, the one-off costs and their break-even, stacking."""
    dataset = data.Dataset.load(out.dataset)
    model, _ = artifacts.load_backbone(out.backbone(args.backbone), args.backbone, device)
    generator = Generator.load(out.generator(args.backbone, study.seeds[0]), cfg.diffusion, backbone=args.backbone,
                               objectives=study.objectives, device=device)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    test_states = evaluation.backbone_states(model, test.history)
    weights = np.asarray(study.eval_grid)

    samplers = sampler_table(generator, model, test_states, test, weights, args.repeats)
    default = samplers[(samplers["sampler"] == cfg.diffusion.sampler) & (samplers["steps"] == cfg.diffusion.sample_steps)]
    generate_s = float(default["ms_per_adapter"].iloc[0]) / 1000
    batch = np.random.default_rng(0).dirichlet([1.0, 1.0], size=100)
    generate_batch_ms = median_ms(lambda: generator.generate(batch), max(3, args.repeats // 4), warmup=1) / len(batch)
    retrain_s = dict(zip(("cached", "uncached"), retrain_seconds(model, dataset, weights[3:4], cfg, study, device)))

    stages = stage_resources(out.root)
    training = pd.read_csv(out.of_stage("diffusion").tables / "generator_training.csv")
    generator_train_s = float(training[(training["backbone"] == args.backbone) & (training["grid"] == "full")]
                              ["train_seconds"].mean())
    # One generator learns from one seed's sweep: that share of the sweep stage, plus its training.
    one_off_s = stages["sweep"]["seconds"] / (len(cfg.backbone.names) * len(study.seeds)) + generator_train_s
    return {
        "backbone": args.backbone,
        **runtime.describe(device),
        "cpu": environment.cpu_model(),
        "generator_training_stacked_vs_one_at_a_time": generator_training(cfg, study, out, args.train_steps, device),
        "generate_ms": round(generate_s * 1000, 2),
        "generate_default_sampler": f"{cfg.diffusion.sampler}, {cfg.diffusion.sample_steps} steps, guidance {cfg.diffusion.guidance}",
        "samplers": samplers.round(4).to_dict("records"),
        "generate_batch_ms": round(generate_batch_ms, 3),
        "retrain_s": {kind: round(seconds, 2) for kind, seconds in retrain_s.items()},
        "speedup": {kind: round(seconds / generate_s) for kind, seconds in retrain_s.items()},
        "time_reduction_percent": {kind: round(100 * (1 - generate_s / seconds), 2) for kind, seconds in retrain_s.items()},
        "one_off_s": round(one_off_s, 1),
        "break_even_requirements": {kind: int(np.ceil(one_off_s / (seconds - generate_s)))
                                    for kind, seconds in retrain_s.items()},
        "stage_s": stages,
        "peak_rss_mb_benchmark": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = paths.repo_root()
    if args.redraw:  # a drawing from a saved file: no params, device or artifacts needed
        if not args.scale:
            parser.error("--redraw draws the cost model's figure again: give it with --scale")
        return redraw_scaling(root / (args.out or "figures/scaling.json"))
    out = paths.Paths(root, "paper")  # the benchmark serves the paper study's (accuracy, diversity) generators
    cfg = config.load_config(root / "params.yaml")
    study = cfg.study("paper")
    if args.repeats < 1 or args.train_steps < 1:
        parser.error(f"--repeats {args.repeats} and --train-steps {args.train_steps}: both must be at least 1")
    if args.backbone not in cfg.backbone.names:
        parser.error(f"--backbone {args.backbone!r}: not in backbone.names of params.yaml ({', '.join(cfg.backbone.names)})")
    try:
        device = runtime.setup(replace(cfg.runtime, device=args.device or cfg.runtime.device))
    except ValueError as error:
        parser.error(str(error))
    if args.scale:
        return scale_main(cfg, out, device, root / (args.out or "figures/scaling.json"))
    result = benchmark(args, cfg, study, out, device)
    io.write_json(root / (args.out or "figures/bench.json"), result)
    print(pd.DataFrame(result["samplers"]).to_string(index=False))
    print(json.dumps({key: value for key, value in result.items() if key != "samplers"}, indent=2))
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
