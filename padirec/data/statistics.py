"""Statistics of a prepared data set: the tables the data notebook shows and the metrics file's `data`
entry, and what objectives and evaluation read: training interactions per item, the long tail, user groups."""
from __future__ import annotations

import numpy as np
import pandas as pd

from padirec.data.dataset import Dataset

HEAD_SHARE = 0.2  # the head: the most-interacted 20% of the catalogue; the rest is the long tail


# ---------------------------------------------------------------------------------------------
# Tables and the metrics file's entry


def summary_table(dataset: Dataset) -> pd.DataFrame:
    """Users, items, interactions and density at each preparation step."""
    meta = dataset.meta
    final = {"users": dataset.n_users, "items": dataset.n_items, "interactions": len(dataset.sequence_items)}
    rows = [
        ("raw ratings", meta["raw"]),
        (f"positives (rating >= {meta['min_rating']:g})", meta["positives"]),
        (f"{meta['k_core']}-core (prepared)", final),
    ]
    table = pd.DataFrame([{"step": step, **counts} for step, counts in rows]).set_index("step")
    table["density"] = (table["interactions"] / (table["users"] * table["items"])).round(4)
    return table


def split_table(dataset: Dataset) -> pd.DataFrame:
    """Examples per split and per-user sequence length quantiles."""
    lengths = np.diff(dataset.sequence_start)[1:]
    quantiles = np.quantile(lengths, [0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
    rows = {
        "train examples": len(dataset.train), "validation users": len(dataset.valid), "test users": len(dataset.test),
        "negatives per evaluation user": dataset.test.negatives.shape[1],
        "categories (genres)": len(dataset.category_names),
        "history length used": dataset.train.history.shape[1],
        **{f"positives per user, q{q}": float(v) for q, v in zip([0, 25, 50, 75, 90, 100], quantiles)},
    }
    return pd.DataFrame({"value": rows}).rename_axis("quantity")


def category_table(dataset: Dataset) -> pd.DataFrame:
    """Items and positive interactions per category (an item counts once per category)."""
    per_item = dataset.item_categories[1:].sum(axis=0)
    per_interaction = dataset.item_categories[dataset.sequence_items].sum(axis=0)
    return (pd.DataFrame({"category": dataset.category_names, "items": per_item, "interactions": per_interaction})
            .sort_values("interactions", ascending=False, kind="stable").reset_index(drop=True))


def data_metrics(dataset: Dataset) -> dict:
    """The `data` entry of the metrics file."""
    return {"users": dataset.n_users, "items": dataset.n_items, "interactions": int(len(dataset.sequence_items)),
            "train_examples": len(dataset.train), "categories": int(len(dataset.category_names))}


# ---------------------------------------------------------------------------------------------
# Popularity and user groups


def item_counts(dataset) -> np.ndarray:
    """Training interactions per item id [n_items + 1]: training targets and each user's first item
    (which appears only in histories); 0 for the padding id."""
    counts = np.bincount(dataset.train.target, minlength=dataset.n_items + 1).astype(np.float64)
    counts += np.bincount(dataset.sequence_items[dataset.sequence_start[1:-1]], minlength=dataset.n_items + 1)
    counts[0] = 0
    return counts


def long_tail_items(counts: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """bool [n_items + 1]: items outside the head, the ceil(head_share * n_items) most-interacted items
    (ties by lower id); the padding id is not in the tail."""
    n_items = len(counts) - 1
    head_size = int(np.ceil(head_share * n_items))
    order = np.argsort(-counts[1:], kind="stable") + 1
    tail = np.ones(len(counts), dtype=bool)
    tail[0] = False
    tail[order[:head_size]] = False
    return tail


def _gender_groups(dataset) -> np.ndarray:
    if "gender" not in dataset.user_attributes:
        raise ValueError("fairness groups by gender need the .user attribute gender: add gender to "
                         "data.user_attributes and re-run the prepare stage, or use groups: activity.")
    gender = dataset.user_attributes["gender"]
    values, counts = np.unique(gender[1:], return_counts=True)
    if len(values) != 2:
        raise ValueError(f"fairness groups by gender need exactly two values, found {list(values)}.")
    minority = values[np.argmin(counts)]
    return np.where(gender == minority, 0, 1)


def _activity_groups(dataset, active_share: float = HEAD_SHARE) -> np.ndarray:
    """0 for the most active `active_share` of users by training examples (as in user-oriented fairness
    work), 1 for the rest."""
    examples = np.bincount(dataset.train.user, minlength=dataset.n_users + 1)[1:]
    active = np.argsort(-examples, kind="stable")[:int(np.ceil(active_share * dataset.n_users))] + 1
    groups = np.ones(dataset.n_users + 1, dtype=np.int64)
    groups[active] = 0
    return groups


GROUPINGS = {"gender": _gender_groups, "activity": _activity_groups}


def user_groups(dataset, grouping: str = "gender") -> np.ndarray:
    """int [n_users + 1]: 0 for the smaller group (women; the most active users), 1 for the other."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown user grouping {grouping!r}; known: {', '.join(GROUPINGS)}.")
    groups = np.asarray(GROUPINGS[grouping](dataset), dtype=np.int64)
    groups[0] = 1
    return groups
