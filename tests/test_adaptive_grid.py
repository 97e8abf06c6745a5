"""The sweep's adaptive grid: extra requirements where the validation metrics change fastest."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import config
from padirec.objectives import registry, requirements
from padirec.training import adapters, placement, sweep, backbone as train


def test_an_edge_score_is_the_largest_relative_change_of_any_metric():
    w = np.array([[0.0, 1.0], [0.15, 0.85], [0.5, 0.5], [1.0, 0.0]])
    # NDCG (mean 0.5) changes by 0.3 (relative 0.6), 0.05, 0.0; alpha-NDCG (shifted to mean 0.9) by 0.05,
    # 0.01, 0.64 (relative 0.71).
    metrics = np.array([[0.3, 1.0], [0.6, 0.95], [0.55, 0.94], [0.55, 0.3]])
    metrics[:, 0] += 0.5 - metrics[:, 0].mean()
    metrics[:, 1] += 0.9 - metrics[:, 1].mean()
    pairs = placement.edges(w)
    assert pairs.tolist() == [[0, 1], [1, 2], [2, 3]]  # two objectives: the intervals from w_acc = 0 upwards
    assert int(placement.edge_scores(metrics, pairs).argmax()) == 2  # 0.64 / 0.9 > 0.3 / 0.5
    assert placement.next_requirement(w, metrics, np.empty((0, 2)))["weights"].tolist() == [0.75, 0.25]
    metrics[3, 1] = metrics[2, 1]  # flatten the last interval: the first is now steepest
    chosen = placement.next_requirement(w, metrics, np.empty((0, 2)))
    assert np.allclose(chosen["weights"], [0.075, 0.925]) and chosen["score"] == pytest.approx(0.6)
    # The grid's order does not matter: the same edges, each from its lower end.
    shuffled = placement.next_requirement(w[[2, 0, 3, 1]], metrics[[2, 0, 3, 1]], np.empty((0, 2)))
    assert np.allclose(shuffled["weights"], chosen["weights"]) and shuffled["low"].tolist() == [0.0, 1.0]


def test_three_objectives_split_the_steepest_edge_of_the_lattice_triangulation():
    lattice = requirements.lattice(3, 4)
    pairs = placement.edges(lattice)
    assert len(pairs) == 30  # the 16 small triangles of the step-1/4 lattice have 30 edges
    steps = np.abs(lattice[pairs[:, 0]] - lattice[pairs[:, 1]])
    assert np.allclose(np.sort(steps, axis=1), [[0.0, 0.25, 0.25]])  # every edge joins lattice neighbours
    # NDCG@10 rises steeply only from the tail corner towards w_acc = 0.25 along the w_div = 0 face.
    ndcg = 0.1 + 0.2 * lattice[:, 0]
    ndcg[(lattice[:, 0] == 0.25) & (lattice[:, 1] == 0.0)] = 0.9
    metrics = np.stack([ndcg, 1 - lattice[:, 1] * 0.1, 0.5 + 0.01 * lattice[:, 2]], axis=1)
    chosen = placement.next_requirement(lattice, metrics, np.empty((0, 3)))
    assert chosen["weights"].tolist() == [0.125, 0.0, 0.875]
    assert chosen["low"].tolist() == [0.0, 0.0, 1.0] and chosen["high"].tolist() == [0.25, 0.0, 0.75]
    # With the middle an evaluation requirement, the point goes to the edge's first quarter instead.
    moved = placement.next_requirement(lattice, metrics, np.array([[0.6, 0.2, 0.2], [0.125, 0.0, 0.875]]))
    assert moved["weights"].tolist() == [0.0625, 0.0, 0.9375]


def test_the_random_control_draws_fresh_points_on_the_simplex_with_a_fixed_seed():
    lattice = requirements.lattice(3, 4)
    avoid = np.array([[0.6, 0.2, 0.2]])
    drawn = placement.random_requirements(6, 3, avoid, lattice)
    assert drawn.shape == (6, 3) and np.allclose(drawn.sum(axis=1), 1) and (drawn >= 0).all()
    assert not set(requirements.keys(drawn)) & set(requirements.keys(np.vstack([avoid, lattice])))
    assert len(set(requirements.keys(drawn))) == 6
    assert np.array_equal(drawn, placement.random_requirements(6, 3, avoid, lattice))
    assert not np.array_equal(drawn, placement.random_requirements(6, 3, avoid, lattice, seed=1))


def test_a_budget_needs_a_grid_that_spans_the_simplex_and_is_not_negative_and_the_control_needs_a_budget():
    with pytest.raises(config.ConfigError, match="studies.paper.adaptive_budget = -1"):
        config.config_from_dict({"studies": {"paper": {"adaptive_budget": -1}}})
    three = {"objectives": ["acc", "div", "tail"], "grid": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
             "eval_grid": [[0.5, 0.5, 0.0]], "hv_reference": [0, 0, 0], "hv_reference_full": [0, 0, 0]}
    with pytest.raises(config.ConfigError, match="studies.three.adaptive_budget = 2: adaptive placement splits the "
                                                 "edges of the grid's triangulation, and studies.three.grid lies on"):
        config.config_from_dict({"studies": {"three": {**three, "adaptive_budget": 2}}})
    with pytest.raises(config.ConfigError, match="studies.three.random_control = true: the control draws as many"):
        config.config_from_dict({"studies": {"three": {**three, "random_control": True}}})
    study = config.config_from_dict({"studies": {"three": {
        **three, "grid": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "adaptive_budget": 2,
        "random_control": True, "ablation_grids": [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]}}}).study("three")
    assert study.grid_labels() == ["3 listed", "5 adaptive", "5 random"] and study.main_grid == "5 adaptive"


@pytest.fixture(scope="module")
def small(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=120))


@pytest.fixture(scope="module")
def sweep_setting(small):
    """The splits of `small`, a one-epoch SASRec on it, and a two-epoch sweep's settings."""
    valid = evaluation.EvaluationSet.from_split(small, small.valid)
    test = evaluation.EvaluationSet.from_split(small, small.test)
    model = train.train_backbone("sasrec", small, config.BackboneConfig(epochs=1, models={"sasrec": {"blocks": 1}}),
                                 valid).model
    return valid, test, model, config.SweepConfig(epochs=2, keep_checkpoints=2, batch_size=512)


def test_the_sweep_places_its_budget_between_grid_points_and_tunes_them_for_every_seed(small, sweep_setting):
    valid, test, model, settings = sweep_setting
    # An evaluation grid on the grid's ends only: no middle is one of its requirements, so none moves.
    study = config.StudyConfig(grid=[[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]], seeds=[0, 1], adaptive_budget=2,
                               eval_grid=[[0.0, 1.0], [1.0, 0.0]])
    result = sweep.run_sweep("sasrec", model, small, settings, study, test, valid)
    w_acc = result.sweep.weights[:, 0]
    assert len(w_acc) == 5 and np.all(np.diff(w_acc) > 0)  # saved in order of w_acc
    placed = sorted(set(w_acc) - {0.0, 0.5, 1.0})
    assert len(placed) == 2 and all(w in (0.25, 0.75, 0.125, 0.375, 0.625, 0.875) for w in placed)
    assert result.sweep.checkpoints.shape[:2] == (2, 5) and np.isfinite(result.sweep.checkpoints).all()
    assert sorted(result.grid.loc[result.grid["placed"] == "adaptive", "w_acc"].unique()) == placed
    assert result.timings["adaptive_requirements"] == 2
    # A placed requirement tuned alone equals what tuning it in the stack would give (same seed, same batches).
    index = int(np.flatnonzero(w_acc == placed[0])[0])
    alone = adapters.tune_adapters(adapters.TuningSet.of(model, small), result.sweep.weights[index:index + 1],
                                   settings, 1, study.objectives, progress=False)
    assert np.allclose(alone.checkpoints[0], result.sweep.checkpoints[1, index], atol=1e-6)
    with pytest.raises(ValueError, match="validation split"):
        sweep.run_sweep("sasrec", model, small, settings, study, test)
    # The study's evaluation requirements stay unseen: with both first middles (0.25, 0.75) among them, the one
    # requirement placed goes to the first quarter of its interval instead.
    unseen = dataclasses.replace(study, seeds=[0], adaptive_budget=1,
                                 eval_grid=[[0.0, 1.0], [0.25, 0.75], [0.75, 0.25], [1.0, 0.0]])
    moved = sweep.run_sweep("sasrec", model, small, settings, unseen, test, valid)
    assert sorted(set(moved.sweep.weights[:, 0]) - {0.0, 0.5, 1.0}) in ([0.125], [0.625])


def test_a_middle_on_an_evaluation_requirement_moves_to_the_first_quarter():
    low, high = np.array([0.45, 0.55]), np.array([0.55, 0.45])
    assert np.allclose(placement.split_point(low, high, avoid=np.empty((0, 2))), [0.5, 0.5])
    assert np.allclose(placement.split_point(low, high, avoid=np.array([[0.0, 1.0], [0.5, 0.5]])), [0.475, 0.525])


def test_a_three_objective_sweep_places_on_the_simplex_and_tunes_the_control_apart(small, sweep_setting):
    valid, test, model, settings = sweep_setting
    objectives = ["acc", "div", "tail"]
    grid = requirements.lattice(3, 2).tolist()
    study = config.StudyConfig(objectives=objectives, grid=grid, seeds=[0, 1], adaptive_budget=2, random_control=True,
                               eval_grid=[[0.6, 0.2, 0.2], [0.2, 0.2, 0.6]], hv_reference=[0, 0, 0],
                               hv_reference_full=[0, 0, 0])
    data = registry.objective_data(small, objectives, settings.fair_groups, "cpu")
    result = sweep.run_sweep("sasrec", model, small, settings, study, test, valid, data)
    sources = result.sweep.sources
    assert sorted(sources.tolist()) == ["adaptive"] * 2 + ["grid"] * 6 + ["random"] * 2
    placed = result.sweep.weights[sources == "adaptive"]
    assert len(result.placements) == 2 and result.placements["round"].tolist() == [1, 2]
    assert np.allclose(result.placements[requirements.columns(objectives)].to_numpy(), placed[
        [int(np.flatnonzero((placed == row).all(axis=1))[0]) for row in
         result.placements[requirements.columns(objectives)].to_numpy()]])
    for row in result.placements.itertuples():  # each on an edge's middle (no evaluation requirement is one)
        ends = [np.array([float(w) for w in end.strip("()").split(",")]) for end in (row.edge_from, row.edge_to)]
        assert np.allclose((ends[0] + ends[1]) / 2,
                           [getattr(row, f"w_{o}") for o in objectives])
    # The main generator trains on the grid and the placed points; the control on the grid and the random ones.
    assert len(result.sweep.training_weights) == 8 and "random" not in result.sweep.subset(0).sources
    assert sorted(result.sweep.subset(0, result.sweep.control_weights().tolist()).sources.tolist()) == \
        ["grid"] * 6 + ["random"] * 2
    assert result.timings["random_control_requirements"] == 2


def test_a_flat_three_objective_grid_is_refused_before_anything_runs():
    flat = {"objectives": ["acc", "div", "tail"], "grid": [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0]],
            "adaptive_budget": 1, "eval_grid": [[0.2, 0.2, 0.6]], "hv_reference": [0, 0, 0], "hv_reference_full": [0, 0, 0]}
    with pytest.raises(config.ConfigError, match="studies.flat.grid lies on a face of the simplex; add requirements off"):
        config.config_from_dict({"studies": {"flat": flat}})


def _old_rule(w_acc: np.ndarray, metrics: np.ndarray, weights: np.ndarray, avoid: list[float]) -> np.ndarray:
    """The two-objective rule as it was written before it became a triangulation: the interval of the sorted grid
    with the largest relative metric change, split in the middle or at its first quarter."""
    change = np.abs(np.diff(metrics, axis=0)) / np.abs(metrics.mean(axis=0))
    low = int(change.max(axis=1).argmax())
    middle = (weights[low] + weights[low + 1]) / 2
    if any(abs(middle[0] - w) < 1e-6 for w in avoid):
        return (3 * weights[low] + weights[low + 1]) / 4
    return middle


def test_with_two_objectives_the_triangulation_places_the_old_rules_points_bit_for_bit():
    rng = np.random.default_rng(0)
    grid = np.array([[w, 1 - w] for w in (0.0, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0)])
    avoid = np.array([[w, 1 - w] for w in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)])
    for trial in range(300):
        weights = grid.copy()
        for _ in range(3):  # three rounds, each point appended as the sweep appends it
            order = np.lexsort(weights.T[::-1])
            metrics = rng.normal(size=(len(weights), 2)) + np.array([0.3, 0.6])
            if trial % 3 == 0:
                metrics = metrics.round(1)  # ties between intervals
            chosen = placement.next_requirement(weights[order], metrics[order], avoid)["weights"]
            expected = _old_rule(weights[order, 0], metrics[order], weights[order], list(avoid[:, 0]))
            assert np.array_equal(chosen, expected), (trial, chosen, expected)
            weights = np.vstack([weights, chosen])
