"""The objective registry (acc, div, fair, fair_gap, tail), the data those losses read, the beyond-accuracy
metrics and the K-D hypervolume: hand-computed cases (arithmetic in the comments), then the real
MovieLens slice for the tuning data and one tuning run with the tail objective (long tail and user
groups: test_data_statistics.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from padirec.data import dataset as data, statistics
from padirec.evaluation import protocol as evaluation
from padirec.objectives import registry as objectives
from padirec.pipeline import config
from padirec.training import adapters, backbone as train
from padirec.objectives.losses import bpr_softmax_loss, diversity_loss
from padirec.evaluation.metrics import beyond_accuracy_metrics, hypervolume
from padirec.objectives.registry import ObjectiveBatch, ObjectiveData, objective_losses

LN2, LN3 = math.log(2.0), math.log(3.0)


def batch_of(scores, candidates=None, data=ObjectiveData(), examples=None, categories=None, **options):
    """An ObjectiveBatch over stacked scores [R, B, C]; candidates default to 1..C per row."""
    scores = torch.as_tensor(scores, dtype=torch.float64)
    _, b, c = scores.shape
    if candidates is None:
        candidates = torch.arange(1, c + 1).repeat(b, 1)
    if categories is None:
        categories = torch.zeros(b, c, 2)
    if examples is None:
        examples = torch.arange(b)
    return ObjectiveBatch(scores, torch.as_tensor(candidates), categories, torch.as_tensor(examples), data, **options)


# ----------------------------------------------------------------------------- tail

# log-popularity by item id 0..4 (0 = padding).
POPULARITY = ObjectiveData(log_popularity=torch.tensor([0.0, 0.2, 1.0, 0.6, 0.4], dtype=torch.float64))
# One example whose candidates are items 3, 1, 2: popularities 0.6, 0.2, 1.0.
TAIL_CANDIDATES = torch.tensor([[3, 1, 2]])


def test_tail_loss_is_the_softmax_weighted_popularity_of_the_candidates():
    # scores [0, ln 2, 0] -> exp [1, 2, 1] / 4 -> softmax [0.25, 0.5, 0.25]
    # loss = 0.25 * 0.6 + 0.5 * 0.2 + 0.25 * 1.0 = 0.15 + 0.10 + 0.25 = 0.5
    loss = objective_losses(batch_of([[[0.0, LN2, 0.0]]], TAIL_CANDIDATES, POPULARITY), ["tail"])
    assert loss.shape == (1, 1)
    assert loss[0, 0].item() == pytest.approx(0.5)


def test_tail_loss_of_a_stack_gives_one_independent_value_per_adapter():
    # adapter 0: [0, ln 2, 0] -> 0.5 as above
    # adapter 1: [ln 3, 0, 0] -> exp [3, 1, 1] / 5 -> softmax [0.6, 0.2, 0.2]
    #            loss = 0.6 * 0.6 + 0.2 * 0.2 + 0.2 * 1.0 = 0.36 + 0.04 + 0.20 = 0.6
    scores = [[[0.0, LN2, 0.0]], [[LN3, 0.0, 0.0]]]
    losses = objective_losses(batch_of(scores, TAIL_CANDIDATES, POPULARITY), ["tail"])
    assert losses.shape == (1, 2)
    assert losses[0].tolist() == pytest.approx([0.5, 0.6])
    # Each adapter alone gives the same value as in the stack.
    alone = objective_losses(batch_of(scores[1:], TAIL_CANDIDATES, POPULARITY), ["tail"])
    assert alone[0, 0].item() == pytest.approx(0.6)


def test_tail_loss_averages_over_the_batch():
    # Row 0: 0.5 as above. Row 1: candidates 4, 2, 1 (popularity 0.4, 1.0, 0.2), equal scores
    #   -> (0.4 + 1.0 + 0.2) / 3 = 0.533333. Mean over B = 2: (0.5 + 0.533333) / 2 = 0.516667.
    batch = batch_of([[[0.0, LN2, 0.0], [5.0, 5.0, 5.0]]], torch.tensor([[3, 1, 2], [4, 2, 1]]), POPULARITY)
    assert objective_losses(batch, ["tail"])[0, 0].item() == pytest.approx((0.5 + 1.6 / 3) / 2)


def test_raising_the_least_popular_candidate_lowers_the_tail_loss():
    # Column 1 is item 1, the least popular (0.2): more score there moves mass off items 3 and 2.
    base = objective_losses(batch_of([[[0.0, LN2, 0.0]]], TAIL_CANDIDATES, POPULARITY), ["tail"])[0, 0]
    raised = objective_losses(batch_of([[[0.0, LN2 + 1.0, 0.0]]], TAIL_CANDIDATES, POPULARITY), ["tail"])[0, 0]
    assert raised < base
    # The gradient agrees: d loss / d score of the least popular candidate is negative (softmax weight
    # times (0.2 - 0.5) = 0.5 * -0.3 = -0.15), of the most popular positive (0.25 * (1.0 - 0.5) = 0.125).
    scores = torch.tensor([[[0.0, LN2, 0.0]]], dtype=torch.float64, requires_grad=True)
    batch = ObjectiveBatch(scores, TAIL_CANDIDATES, torch.zeros(1, 3, 2), torch.tensor([0]), POPULARITY)
    objective_losses(batch, ["tail"]).sum().backward()
    assert scores.grad[0, 0].tolist() == pytest.approx([0.25 * (0.6 - 0.5), -0.15, 0.125])


# ----------------------------------------------------------------------------- fair and fair_gap

# With one negative the softmax weight is 1, so the per-example accuracy loss is -log sigmoid(p - n)
# = log(1 + exp(n - p)):
#   p = 0,    n = 0    -> log 2   = 0.693147
#   p = 0,    n = ln 3 -> log 4   = 1.386294
#   p = ln 3, n = 0    -> log 4/3 = 0.287682
# Training examples 0..5 belong to groups [1, 0, 1, 0, 0, 1]; the batch holds examples [1, 0, 3, 5]:
#   row 0: example 1, group 0, loss log 2
#   row 1: example 0, group 1, loss log 4/3
#   row 2: example 3, group 0, loss log 4
#   row 3: example 5, group 1, loss log 2
GROUPS = ObjectiveData(example_groups=torch.tensor([1, 0, 1, 0, 0, 1]))
FAIR_EXAMPLES = torch.tensor([1, 0, 3, 5])
FAIR_SCORES_0 = [[0.0, 0.0], [LN3, 0.0], [0.0, LN3], [0.0, 0.0]]
# group 0 mean = (log 2 + log 4) / 2 = 1.5 log 2        = 1.039721
# group 1 mean = (log 4/3 + log 2) / 2 = (3 log 2 - log 3) / 2 = 0.490415
GROUP0_MEAN = (0.693147 + 1.386294) / 2
GROUP1_MEAN = (0.287682 + 0.693147) / 2
# A second adapter where group 1 is worse off:
#   group 0 rows: log 4/3, log 4/3 -> mean 0.287682; group 1 rows: log 4, log 4 -> mean 1.386294
FAIR_SCORES_1 = [[LN3, 0.0], [0.0, LN3], [LN3, 0.0], [0.0, LN3]]


def test_fair_loss_weights_the_worse_group_by_0_9_and_the_better_by_0_1():
    batch = batch_of([FAIR_SCORES_0, FAIR_SCORES_1], data=GROUPS, examples=FAIR_EXAMPLES)
    fair = objective_losses(batch, ["fair"])[0]
    # adapter 0: 0.9 * 1.039721 + 0.1 * 0.490415 = 0.935749 + 0.049041 = 0.984790
    # adapter 1: 0.9 * 1.386294 + 0.1 * 0.287682 = 1.247665 + 0.028768 = 1.276433
    assert fair.tolist() == pytest.approx([0.984790, 1.276433], abs=1e-5)
    assert fair[0].item() == pytest.approx(0.9 * GROUP0_MEAN + 0.1 * GROUP1_MEAN, abs=1e-5)


def test_fair_gap_is_the_absolute_difference_of_the_group_means():
    batch = batch_of([FAIR_SCORES_0, FAIR_SCORES_1], data=GROUPS, examples=FAIR_EXAMPLES)
    gap = objective_losses(batch, ["fair_gap"])[0]
    # adapter 0: 1.5 log 2 - (3 log 2 - log 3) / 2 = log 3 / 2 = 0.549306
    # adapter 1: |0.287682 - 1.386294| = log 3 = 1.098612
    assert gap.tolist() == pytest.approx([0.549306, 1.098612], abs=1e-5)


def test_fair_loss_with_one_group_in_the_batch_is_the_mean_accuracy_loss():
    # Examples 1, 3, 4 are all group 0; losses log 2, log 4, log 4/3 -> mean
    # (0.693147 + 1.386294 + 0.287682) / 3 = 2.367123 / 3 = 0.789041
    batch = batch_of([[[0.0, 0.0], [0.0, LN3], [LN3, 0.0]]], data=GROUPS, examples=torch.tensor([1, 3, 4]))
    losses = objective_losses(batch, ["fair", "acc", "fair_gap"])[:, 0]
    assert losses[0].item() == pytest.approx(0.789041, abs=1e-5)
    assert losses[1].item() == pytest.approx(0.789041, abs=1e-5)
    assert losses[2].item() == 0.0  # no second group: no gap


# ----------------------------------------------------------------------------- acc and div


def test_acc_and_div_through_the_registry_equal_the_loss_functions():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 5, generator=generator, dtype=torch.float64)  # R = 2, B = 3, C = 5
    categories = (torch.rand(3, 5, 4, generator=generator) < 0.4).float()
    batch = batch_of(scores, categories=categories, alpha=0.3, tau=0.2, normalise=True)
    losses = objective_losses(batch, ["acc", "div"])
    assert losses.shape == (2, 2)
    for r in range(2):
        assert losses[0, r].item() == pytest.approx(bpr_softmax_loss(scores[r, :, 0], scores[r, :, 1:]).item())
        assert losses[1, r].item() == pytest.approx(
            diversity_loss(scores[r], categories, alpha=0.3, tau=0.2, normalise=True).item())
    # The options reach the diversity loss: other alpha / normalise give other values.
    other = objective_losses(batch_of(scores, categories=categories, alpha=0.5, tau=0.2, normalise=False), ["div"])
    assert not torch.allclose(other[0], losses[1])


def test_acc_by_hand():
    # Two candidates with equal scores: -log sigmoid(0) = log 2 = 0.693147 for every example.
    # Target 0 beats a negative by ln 3: log(1 + 1/3) = log 4/3 = 0.287682.
    batch = batch_of([[[1.0, 1.0], [-2.0, -2.0]], [[LN3, 0.0], [LN3, 0.0]]])
    assert objective_losses(batch, ["acc"])[0].tolist() == pytest.approx([0.693147, 0.287682], abs=1e-6)


def test_batch_losses_reads_categories_of_the_candidates_and_the_config():
    item_categories = torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1], [1, 0]], dtype=torch.float32)  # items 0..4
    candidates = torch.tensor([[1, 2, 3], [4, 3, 2]])
    scores = torch.tensor([[[0.5, 0.1, -0.3], [0.2, 0.0, 0.4]]])
    cfg = config.SweepConfig(diversity_alpha=0.5, diversity_tau=0.1, diversity_normalise=False)
    data = ObjectiveData(log_popularity=torch.tensor([0.0, 0.2, 1.0, 0.6, 0.4]))
    losses = adapters.batch_losses(scores, candidates, torch.arange(2), item_categories, cfg, ["acc", "div", "tail"],
                                   data)
    assert losses.shape == (3, 1)
    assert losses[0, 0].item() == pytest.approx(bpr_softmax_loss(scores[0, :, 0], scores[0, :, 1:]).item())
    assert losses[1, 0].item() == pytest.approx(
        diversity_loss(scores[0], item_categories[candidates], 0.5, 0.1, normalise=False).item())


# ----------------------------------------------------------------------------- errors


def test_unknown_objective_is_rejected_naming_the_known_ones():
    batch = batch_of([[[0.0, 0.0]]])
    with pytest.raises(ValueError, match=r"unknown objective.*'popularity'.*known: acc, div, fair, fair_gap, tail"):
        objective_losses(batch, ["acc", "popularity"])


def test_objectives_missing_their_data_say_how_to_build_it():
    batch = batch_of([[[0.0, 0.0]]])
    with pytest.raises(ValueError, match=r"'tail' needs log_popularity.*objective_data\(dataset.*data="):
        objective_losses(batch, ["tail"])
    with pytest.raises(ValueError, match=r"'fair' needs example_groups.*objective_data"):
        objective_losses(batch, ["fair"])
    with pytest.raises(ValueError, match=r"'fair_gap' needs example_groups"):
        objective_losses(batch, ["fair_gap"])
    # Through adapters.batch_losses without data= as well.
    with pytest.raises(ValueError, match="needs log_popularity"):
        adapters.batch_losses(torch.zeros(1, 1, 2), torch.tensor([[1, 2]]), torch.tensor([0]), torch.zeros(3, 2),
                              config.SweepConfig(), ["acc", "tail"])


# ----------------------------------------------------------------------------- beyond-accuracy metrics

# Items 1..6 with training counts 50, 40, 30, 5, 3, 1; the head is items 1 and 2.
ITEM_COUNTS = torch.tensor([0.0, 50.0, 40.0, 30.0, 5.0, 3.0, 1.0])
LONG_TAIL = torch.tensor([False, False, False, True, True, True, True])
# user 0: candidates 1 4 2 5, scores .9 .8 .1 .2 -> top 2 columns 0, 1 -> items 1, 4 (tail 0, 1; counts 50, 5)
# user 1: candidates 3 1 6 2, scores .1 .7 .9 .3 -> top 2 columns 2, 1 -> items 6, 1 (tail 1, 0; counts 1, 50)
# user 2: candidates 5 6 3 4, scores .5 .4 .3 .6 -> top 2 columns 3, 0 -> items 4, 5 (tail 1, 1; counts 5, 3)
CANDIDATES = torch.tensor([[1, 4, 2, 5], [3, 1, 6, 2], [5, 6, 3, 4]])
SCORES = torch.tensor([[0.9, 0.8, 0.1, 0.2], [0.1, 0.7, 0.9, 0.3], [0.5, 0.4, 0.3, 0.6]])
USER_NDCG = torch.tensor([1.0, 0.5, 0.2])


def test_beyond_accuracy_metrics_by_hand():
    metrics = beyond_accuracy_metrics(SCORES, USER_NDCG, CANDIDATES, ITEM_COUNTS, LONG_TAIL,
                                      torch.tensor([0, 1, 1]), k=2)
    # APLT@2 = (1 + 1 + 2) / 6 = 0.666667; ARP@2 = (50 + 5 + 1 + 50 + 5 + 3) / 6 = 114 / 6 = 19
    # group 0: user 0 -> 1.0; group 1: users 1, 2 -> (0.5 + 0.2) / 2 = 0.35; gap 0.65
    assert metrics == pytest.approx({"aplt@2": 4 / 6, "arp@2": 19.0, "group_ndcg@2_minor": 1.0,
                                     "group_ndcg@2_major": 0.35, "fair_gap@2": 0.65})


def test_beyond_accuracy_metrics_with_an_empty_group_give_nan():
    metrics = beyond_accuracy_metrics(SCORES, USER_NDCG, CANDIDATES, ITEM_COUNTS, LONG_TAIL,
                                      torch.tensor([1, 1, 1]), k=2)
    assert math.isnan(metrics["group_ndcg@2_minor"]) and math.isnan(metrics["fair_gap@2"])
    assert metrics["group_ndcg@2_major"] == pytest.approx((1.0 + 0.5 + 0.2) / 3)  # 0.566667
    assert metrics["aplt@2"] == pytest.approx(4 / 6) and metrics["arp@2"] == pytest.approx(19.0)


def test_beyond_accuracy_metrics_over_the_catalogue_with_a_mask():
    # Full ranking: column = item id 0..6; padding (and item 4 for user 1) masked although scored highest.
    # user 0: .1 .2 .3 .9 .8 .4 for items 1..6 -> items 4, 5 (tail 1, 1; counts 5, 3)
    # user 1: .7 .1 .2 .9 (masked) .8 .3       -> items 5, 1 (tail 1, 0; counts 3, 50)
    # APLT@2 = 3 / 4 = 0.75; ARP@2 = (5 + 3 + 3 + 50) / 4 = 15.25
    scores = torch.tensor([[9.0, 0.1, 0.2, 0.3, 0.9, 0.8, 0.4], [9.0, 0.7, 0.1, 0.2, 0.9, 0.8, 0.3]])
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[:, 0] = True
    mask[1, 4] = True
    metrics = beyond_accuracy_metrics(scores, torch.tensor([0.4, 0.0]), None, ITEM_COUNTS, LONG_TAIL,
                                      torch.tensor([1, 0]), k=2, mask=mask)
    assert metrics == pytest.approx({"aplt@2": 0.75, "arp@2": 15.25, "group_ndcg@2_minor": 0.0,
                                     "group_ndcg@2_major": 0.4, "fair_gap@2": 0.4})


# ----------------------------------------------------------------------------- hypervolume


def test_hypervolume_2d_by_hand():
    # Reference (0.05, 0.45). Rectangles [0.05, 0.3] x [0.45, 0.6] = 0.25 * 0.15 = 0.0375 and
    # [0.05, 0.2] x [0.45, 0.7] = 0.15 * 0.25 = 0.0375, overlap [0.05, 0.2] x [0.45, 0.6] = 0.15 * 0.15 = 0.0225:
    # union 0.0375 + 0.0375 - 0.0225 = 0.0525.
    points = [[0.3, 0.6], [0.2, 0.7]]
    assert hypervolume(points, (0.05, 0.45)) == pytest.approx(0.0525)
    # On or below the reference in some coordinate: nothing added.
    outside = [[0.05, 0.9], [0.5, 0.45], [0.04, 0.99], [0.9, 0.1]]
    assert hypervolume(points + outside, (0.05, 0.45)) == pytest.approx(0.0525)
    assert hypervolume(outside, (0.05, 0.45)) == 0.0


def test_hypervolume_3d_by_hand():
    assert hypervolume([[1.0, 1.0, 1.0]], (0.0, 0.0, 0.0)) == pytest.approx(1.0)
    # Boxes 2 * 1 * 1 and 1 * 2 * 1 overlapping in the unit cube: 2 + 2 - 1 = 3.
    assert hypervolume([[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]], (0.0, 0.0, 0.0)) == pytest.approx(3.0)
    # Boxes 2 * 2 * 1 = 4 and 1 * 1 * 3 = 3, overlap 1 * 1 * 1: 4 + 3 - 1 = 6.
    # (3, 3, 0) lies on the reference plane z = 0 and adds nothing.
    assert hypervolume(torch.tensor([[2.0, 2.0, 1.0], [1.0, 1.0, 3.0], [3.0, 3.0, 0.0]]), (0, 0, 0)) == pytest.approx(6.0)
    # A shifted reference: (1, 1, 1) over (0.5, 0.5, 0.5) -> 0.5^3 = 0.125.
    assert hypervolume([[1.0, 1.0, 1.0]], (0.5, 0.5, 0.5)) == pytest.approx(0.125)


def test_hypervolume_with_a_lower_is_better_coordinate():
    # x higher is better, y lower is better, reference (0, 0.5):
    # (0.3, 0.2) dominates [0, 0.3] x [0.2, 0.5] = 0.3 * 0.3 = 0.09
    assert hypervolume([[0.3, 0.2]], (0.0, 0.5), [True, False]) == pytest.approx(0.09)
    # plus (0.2, 0.1): [0, 0.2] x [0.1, 0.5] = 0.08, overlap [0, 0.2] x [0.2, 0.5] = 0.06 -> 0.09 + 0.08 - 0.06 = 0.11
    # (0.9, 0.6) is worse than the reference in y and adds nothing.
    points = [[0.3, 0.2], [0.2, 0.1], [0.9, 0.6]]
    assert hypervolume(points, (0.0, 0.5), [True, False]) == pytest.approx(0.11)
    # Read as higher-is-better both ways, only (0.9, 0.6) is above (0, 0.5): 0.9 * 0.1 = 0.09.
    assert hypervolume(points, (0.0, 0.5)) == pytest.approx(0.09)
    # 3-D with the last coordinate lower-is-better: (1, 2, 0.5) over (0, 0, 1) -> 1 * 2 * 0.5 = 1.
    assert hypervolume([[1.0, 2.0, 0.5]], (0.0, 0.0, 1.0), [True, True, False]) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- the real MovieLens slice


@pytest.fixture(scope="module")
def small(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=120))


def test_item_counts_and_objective_data_of_the_slice(small):
    counts = statistics.item_counts(small)
    # Every training target once plus each user's first item (only ever in a history); padding 0.
    assert counts[0] == 0 and counts.sum() == len(small.train) + small.n_users
    data = objectives.objective_data(small, ["acc", "tail", "fair"])
    assert data.log_popularity.shape == (small.n_items + 1,)
    assert data.log_popularity[0].item() == 0.0 and data.log_popularity.max().item() == pytest.approx(1.0)
    assert int(data.log_popularity.argmax()) == int(np.argmax(counts))
    assert data.example_groups.shape == (len(small.train),)
    assert set(data.example_groups.unique().tolist()) == {0, 1}
    # Only what the objectives need is built.
    plain = objectives.objective_data(small, ["acc", "div"])
    assert plain.log_popularity is None and plain.example_groups is None


def test_tail_requirement_raises_the_long_tail_share(small):
    """w_tail = 1 puts more long-tail items in the top 10 than w_acc = 1, from one tuning run."""
    valid = evaluation.EvaluationSet.from_split(small, small.valid)
    backbone = train.train_backbone("sasrec", small, config.BackboneConfig(epochs=3, patience=3,
                                                                           models={"sasrec": {"blocks": 1}}), valid)
    model = backbone.model
    names = ["acc", "div", "tail"]
    tuning = adapters.TuningSet.of(model, small, objectives.objective_data(small, names))
    sweep_config = config.SweepConfig(epochs=3, keep_checkpoints=1, batch_size=512)
    weights = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    run = adapters.tune_adapters(tuning, weights, sweep_config, 0, names, progress=False)
    assert list(run.curve.columns) == ["epoch", "requirement", "loss_acc", "loss_div", "loss_tail"]
    last = run.curve[run.curve["epoch"] == 3].set_index("requirement")
    assert last.loc[1, "loss_tail"] < last.loc[0, "loss_tail"]  # tuning on the tail loss lowers it
    test = evaluation.EvaluationSet.from_split(small, small.test)
    test_states = evaluation.backbone_states(model, test.history)
    accurate, popular_tail = adapters.evaluate_adapters(model, test_states, run.checkpoints[:, -1], test)
    assert popular_tail["aplt@10"] > accurate["aplt@10"]
    assert popular_tail["full_aplt@10"] > accurate["full_aplt@10"]
    assert popular_tail["arp@10"] < accurate["arp@10"]
