"""Our ranking metrics held against independent implementations, on the real test split.

HR@10 and NDCG@10 against ir-measures (pytrec_eval underneath, a test-only dependency);
alpha-NDCG@10, coverage@10 and ILD@10 against the literal per-user definitions written out below
in numpy. Both protocols, for the bare backbone and for one tuned adapter:
- 100 candidates: the held-out item and its 99 sampled negatives;
- full ranking: every item except the padding item and the items of the user's sequence before
  the target (so items the user rated below the threshold stay rankable).
alpha-NDCG counts the genres of every listed item, relevant or not: it measures diversity only.
"""
from __future__ import annotations

import ir_measures
import numpy as np
import pandas as pd
import pytest
import torch
from ir_measures import Success, nDCG

from padirec.evaluation import protocol as evaluation
from padirec.pipeline import config
from padirec.training import adapters, backbone as train
from padirec.evaluation.metrics import ranking_metrics
from padirec.models.backbones import apply_adapter

ALPHA, K = 0.5, 10
TOLERANCE = 1e-7  # our means are float32 (epsilon 1.2e-7); the worst case seen is 5.2e-8


@pytest.fixture(scope="module")
def scored(dataset):
    """(protocol, method) -> (scores [U, C], target column [U], item ids [U, C], mask [U, C] or None, genres)."""
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    backbone = config.BackboneConfig(epochs=2, models={"sasrec": {"blocks": 1}})
    model = train.train_backbone("sasrec", dataset, backbone, valid).model
    sweep = config.SweepConfig(epochs=2, keep_checkpoints=1)
    adapter = adapters.tune_adapters(adapters.TuningSet.of(model, dataset), np.array([[0.3, 0.7]]), sweep, 0,
                                     ["acc", "div"], progress=False).checkpoints[0, -1]
    states = evaluation.backbone_states(model, test.history)
    genres = test.item_categories
    found = {}
    with torch.inference_mode():
        for method, user_states in {"backbone": states, "adapter": apply_adapter(states, torch.as_tensor(adapter))}.items():
            found["sampled", method] = (model.score_from_state(user_states, test.candidates),
                                        torch.zeros(len(test.target), dtype=torch.long), test.candidates, None, genres)
            every_item = torch.arange(genres.shape[0]).expand(len(test.target), -1)
            found["full", method] = (model.score_all_from_state(user_states), test.target, every_item, test.full_mask,
                                     genres)
    return found


CASES = [(protocol, method) for protocol in ("sampled", "full") for method in ("backbone", "adapter")]


def ours(case) -> dict[str, float]:
    scores, target, items, mask, genres = case
    return ranking_metrics(scores, target, genres[items], (K,), ALPHA, mask=mask)


@pytest.mark.parametrize("case_name", CASES, ids=["-".join(c) for c in CASES])
def test_hr_and_ndcg_match_ir_measures(scored, case_name):
    scores, target, items, mask, _ = scored[case_name]
    keep = torch.ones_like(scores, dtype=torch.bool) if mask is None else ~mask
    users = torch.arange(len(scores))[:, None].expand_as(scores)
    run = pd.DataFrame({"query_id": users[keep].numpy().astype(str), "doc_id": items[keep].numpy().astype(str),
                        "score": scores[keep].double().numpy()})
    relevant = items.gather(1, target[:, None])[:, 0]
    qrels = pd.DataFrame({"query_id": np.arange(len(scores)).astype(str), "doc_id": relevant.numpy().astype(str),
                          "relevance": 1})
    reference = ir_measures.calc_aggregate([Success @ K, nDCG @ K], qrels, run)
    mine = ours(scored[case_name])
    assert mine[f"hr@{K}"] == pytest.approx(reference[Success @ K], abs=TOLERANCE)
    assert mine[f"ndcg@{K}"] == pytest.approx(reference[nDCG @ K], abs=TOLERANCE)


def top_list(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Columns of the k best allowed scores, ties to the lower column."""
    columns = np.flatnonzero(allowed)
    order = np.lexsort((columns, -scores[columns]))  # by score descending, then column ascending
    return columns[order[:k]]


def alpha_gains(genre_rows: np.ndarray) -> np.ndarray:
    """Gain of each listed item: sum over its genres of (1 - alpha)^(times the genre was listed before)."""
    seen = np.zeros(genre_rows.shape[1])
    gains = []
    for row in genre_rows:
        gains.append(float((row * (1 - ALPHA) ** seen).sum()))
        seen += row
    return np.array(gains)


def dcg(gains: np.ndarray) -> float:
    return float((gains / np.log2(np.arange(len(gains)) + 2)).sum())


def greedy_ideal(genre_rows: np.ndarray, k: int) -> float:
    """Greedy ideal alpha-DCG@k: at each position the item adding the largest gain (ties: lower column)."""
    seen, left, total = np.zeros(genre_rows.shape[1]), np.ones(len(genre_rows), dtype=bool), 0.0
    for position in range(min(k, len(genre_rows))):
        gains = np.where(left, (genre_rows * (1 - ALPHA) ** seen).sum(1), -np.inf)
        best = int(np.argmax(gains))  # argmax returns the first, i.e. lowest, of equal gains
        total += gains[best] / np.log2(position + 2)
        seen += genre_rows[best]
        left[best] = False
    return total


def diversity_by_definition(case) -> dict[str, float]:
    scores, _, items, mask, genres = case
    scores, items, genres = scores.numpy(), items.numpy(), (genres.numpy() > 0).astype(float)
    allowed_all = np.ones_like(scores, dtype=bool) if mask is None else ~mask.numpy()
    alpha_ndcg, coverage, ild = [], [], []
    for user in range(len(scores)):
        allowed = allowed_all[user]
        listed = genres[items[user, top_list(scores[user], allowed, K)]]
        ideal = greedy_ideal(genres[items[user, allowed]], K)
        alpha_ndcg.append(dcg(alpha_gains(listed)) / ideal if ideal > 0 else 0.0)
        coverage.append(listed.any(0).sum() / genres.shape[1])
        distances = []
        for i in range(len(listed)):
            for j in range(i + 1, len(listed)):
                union = np.logical_or(listed[i], listed[j]).sum()
                shared = np.logical_and(listed[i], listed[j]).sum()
                distances.append(1 - shared / union if union else 0.0)
        ild.append(np.mean(distances))
    return {f"alpha_ndcg@{K}": float(np.mean(alpha_ndcg)), f"coverage@{K}": float(np.mean(coverage)),
            f"ild@{K}": float(np.mean(ild))}


@pytest.mark.parametrize("case_name", CASES, ids=["-".join(c) for c in CASES])
def test_diversity_metrics_match_their_definitions(scored, case_name):
    mine, reference = ours(scored[case_name]), diversity_by_definition(scored[case_name])
    for name, value in reference.items():
        assert mine[name] == pytest.approx(value, abs=TOLERANCE), name


def test_the_two_protocols_differ_so_the_checks_cover_both(scored):
    sampled, full = ours(scored["sampled", "backbone"]), ours(scored["full", "backbone"])
    assert sampled[f"ndcg@{K}"] > 2 * full[f"ndcg@{K}"] > 0
