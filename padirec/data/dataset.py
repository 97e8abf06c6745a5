"""The preparation of the raw atomic files (padirec.data.sources) for sequential recommendation.

The steps follow the ReChorus protocol the paper's authors used (docs/data.md):
ratings >= `prepare.min_rating` are positives; iterative k-core on users and items; each user's
positives in chronological order, ties in timestamp broken by ascending item id; leave-last-out
split (last positive for test, second last for validation, every earlier position a training
example) with the `prepare.history_len` most recent items as history; `prepare.eval_negatives`
negatives per evaluation user, sampled by seed among items the user never rated at any rating.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from padirec.data.sources import DataError, RawFiles, read_atomic
from padirec.pipeline.sections import DataConfig, PrepareConfig
from padirec.pipeline.io import load_npz, save_npz


@dataclass
class Split:
    """Examples of one split: `history` is left-padded with 0, most recent item last."""

    user: np.ndarray  # [N] int32, 1-based user index
    history: np.ndarray  # [N, history_len] int32
    target: np.ndarray  # [N] int32
    negatives: np.ndarray | None = None  # [N, eval_negatives] int32 (evaluation splits)

    def __len__(self) -> int:
        return len(self.target)


@dataclass
class Dataset:
    """A prepared data set. Users are 1..n_users and items 1..n_items; index 0 is padding."""

    name: str
    user_ids: np.ndarray  # [n_users + 1] raw user tokens
    item_ids: np.ndarray  # [n_items + 1] raw item tokens
    item_titles: np.ndarray  # [n_items + 1]
    item_categories: np.ndarray  # [n_items + 1, n_categories] uint8 multi-hot
    category_names: np.ndarray  # [n_categories]
    user_attributes: dict[str, np.ndarray]  # name -> [n_users + 1] tokens
    sequence_start: np.ndarray  # [n_users + 2]: user u's positives are sequence_items[start[u]:start[u+1]]
    sequence_items: np.ndarray
    sequence_times: np.ndarray
    seen_start: np.ndarray  # [n_users + 2]: every item the user rated, at any rating
    seen_items: np.ndarray
    train: Split
    valid: Split
    test: Split
    meta: dict = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.user_ids) - 1

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1

    def sequence(self, user: int) -> np.ndarray:
        return self.sequence_items[self.sequence_start[user]:self.sequence_start[user + 1]]

    def seen(self, user: int) -> np.ndarray:
        return self.seen_items[self.seen_start[user]:self.seen_start[user + 1]]

    def save(self, path: Path) -> None:
        arrays = {
            "user_ids": self.user_ids, "item_ids": self.item_ids, "item_titles": self.item_titles,
            "item_categories": self.item_categories, "category_names": self.category_names,
            "sequence_start": self.sequence_start, "sequence_items": self.sequence_items,
            "sequence_times": self.sequence_times, "seen_start": self.seen_start, "seen_items": self.seen_items,
            "meta": np.array(json.dumps({"name": self.name, **self.meta}, sort_keys=True)),
        }
        arrays.update({f"user_attribute.{name}": values for name, values in self.user_attributes.items()})
        for split_name in ("train", "valid", "test"):
            split = getattr(self, split_name)
            for part in ("user", "history", "target", "negatives"):
                value = getattr(split, part)
                if value is not None:
                    arrays[f"{split_name}.{part}"] = value
        save_npz(path, arrays)

    @classmethod
    def load(cls, path: Path) -> "Dataset":
        arrays = load_npz(path, made_by="prepare")
        meta = json.loads(str(arrays.pop("meta")))
        splits = {
            name: Split(*(arrays.pop(f"{name}.{part}", None) for part in ("user", "history", "target", "negatives")))
            for name in ("train", "valid", "test")
        }
        attributes = {key.split(".", 1)[1]: arrays.pop(key) for key in list(arrays) if key.startswith("user_attribute.")}
        return cls(name=meta.pop("name"), user_attributes=attributes, meta=meta, **splits, **arrays)


def prepare_dataset(raw: RawFiles, data: DataConfig, prepare: PrepareConfig) -> Dataset:
    """Turn raw atomic files into the train/valid/test examples every later stage reads."""
    columns = data.columns
    ratings, items, raw_counts = _read_ratings(raw, data)
    if prepare.max_users > 0:
        kept_users = _id_order(ratings["user"])[:prepare.max_users]
        ratings = ratings[ratings["user"].isin(kept_users)]
    positives, positive_counts = _positives(ratings, prepare)

    user_ids = _id_order(positives["user"])
    item_ids = _id_order(positives["item"])
    user_index = pd.Series(np.arange(1, len(user_ids) + 1), index=user_ids)
    item_index = pd.Series(np.arange(1, len(item_ids) + 1), index=item_ids)
    positives = positives.assign(u=user_index[positives["user"]].to_numpy(), i=item_index[positives["item"]].to_numpy())
    # Chronological order; ties in timestamp broken by ascending item id (fixed, documented rule).
    positives = positives.sort_values(["u", "time", "i"], kind="stable")
    sequence_start = _starts(positives["u"].to_numpy(), len(user_ids))
    sequence_items = positives["i"].to_numpy(np.int32)
    sequence_times = positives["time"].to_numpy(np.int64)

    seen = ratings[ratings["user"].isin(user_index.index) & ratings["item"].isin(item_index.index)]
    seen = pd.DataFrame({"u": user_index[seen["user"]].to_numpy(), "i": item_index[seen["item"]].to_numpy()})
    seen = seen.drop_duplicates().sort_values(["u", "i"])
    seen_start = _starts(seen["u"].to_numpy(), len(user_ids))
    seen_items = seen["i"].to_numpy(np.int32)

    train, valid, test = leave_last_out(sequence_start, sequence_items, prepare.history_len)
    rng = np.random.default_rng(prepare.seed)
    for split in (valid, test):
        split.negatives = sample_negatives(split.user, seen_start, seen_items, len(item_ids), prepare.eval_negatives, rng)
    item_categories, category_names, titles = _item_table(raw, items, item_ids, columns)

    return Dataset(
        name=data.name,
        user_ids=np.concatenate([[""], user_ids]).astype(str),
        item_ids=np.concatenate([[""], item_ids]).astype(str),
        item_titles=np.concatenate([[""], titles.fillna("").to_numpy(str)]).astype(str),
        item_categories=item_categories,
        category_names=category_names.astype(str),
        user_attributes=_user_attributes(raw, data, user_ids),
        sequence_start=sequence_start, sequence_items=sequence_items, sequence_times=sequence_times,
        seen_start=seen_start, seen_items=seen_items,
        train=train, valid=valid, test=test,
        meta={"raw": raw_counts, "positives": positive_counts, "min_rating": prepare.min_rating,
              "k_core": prepare.k_core, "history_len": prepare.history_len, "seed": prepare.seed},
    )


def _read_ratings(raw: RawFiles, data: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The ratings (user, item, rating, time), the item table, and the raw counts."""
    columns = data.columns
    inter = read_atomic(raw.inter)
    _require_columns(inter, raw.inter, {"user": columns.user, "item": columns.item, "rating": columns.rating, "time": columns.time})
    items = read_atomic(raw.item)
    _require_columns(items, raw.item, {"item": columns.item, "category": columns.category})
    raw_counts = {"users": int(inter[columns.user].nunique()), "items": int(inter[columns.item].nunique()), "interactions": len(inter)}
    ratings = pd.DataFrame({
        "user": inter[columns.user],
        "item": inter[columns.item],
        "rating": pd.to_numeric(inter[columns.rating]),
        "time": pd.to_numeric(inter[columns.time]),
    })
    return ratings, items, raw_counts


def _positives(ratings: pd.DataFrame, prepare: PrepareConfig) -> tuple[pd.DataFrame, dict]:
    """The positive ratings after the k-core, and their counts before it; a DataError when too few remain."""
    positives = ratings[ratings["rating"] >= prepare.min_rating]
    positive_counts = {"users": int(positives["user"].nunique()), "items": int(positives["item"].nunique()), "interactions": len(positives)}
    positives = k_core(positives, prepare.k_core)
    if positives.empty or positives["user"].nunique() == 0:
        raise DataError(
            f"prepare.k_core = {prepare.k_core} leaves no users (with prepare.min_rating = {prepare.min_rating}"
            f"{f' and prepare.max_users = {prepare.max_users}' if prepare.max_users else ''}); lower prepare.k_core."
        )
    if positives.groupby("user").size().min() < 3:
        raise DataError(
            f"prepare.k_core = {prepare.k_core} keeps users with fewer than 3 positives, too few for a "
            "train/validation/test split; set prepare.k_core to at least 3."
        )
    return positives, positive_counts


def _item_table(raw: RawFiles, items: pd.DataFrame, item_ids: np.ndarray, columns) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Multi-hot categories [I + 1, C] (row 0: padding), the category names, and the titles of the kept items."""
    item_table = items.drop_duplicates(columns.item).set_index(columns.item).reindex(item_ids)
    if item_table[columns.category].isna().any():
        missing = item_table.index[item_table[columns.category].isna()][:5].tolist()
        raise DataError(f"{raw.item} has no '{columns.category}' row for items {missing}: every item needs its categories.")
    category_lists = item_table[columns.category].str.split()
    category_names = np.array(sorted({name for names in category_lists for name in names}))
    if len(category_names) == 0:
        raise DataError(f"{raw.item}: column '{columns.category}' is empty for every item; the diversity objective needs item categories.")
    category_column = {name: position for position, name in enumerate(category_names)}
    item_categories = np.zeros((len(item_ids) + 1, len(category_names)), dtype=np.uint8)
    for row, names in enumerate(category_lists, start=1):
        item_categories[row, [category_column[name] for name in names]] = 1
    titles = item_table[columns.title] if columns.title in item_table else pd.Series(item_ids, index=item_ids)
    return item_categories, category_names, titles


def _require_columns(frame: pd.DataFrame, path: Path, wanted: dict[str, str]) -> None:
    for key, column in wanted.items():
        if column not in frame.columns:
            raise DataError(
                f"{path} has no column '{column}' (params key data.columns.{key}); its columns are "
                f"{', '.join(frame.columns)}. Set data.columns.{key} to the right one."
            )


def _id_order(tokens: pd.Series) -> np.ndarray:
    """Sorted unique ids: numerically when every id is a number, else as text."""
    unique = tokens.unique()
    if all(token.isdigit() for token in unique):
        return np.array(sorted(unique, key=int))
    return np.array(sorted(unique))


def k_core(interactions: pd.DataFrame, k: int) -> pd.DataFrame:
    """Repeatedly drop users and items with fewer than k interactions until none is left."""
    while True:
        user_counts = interactions.groupby("user")["item"].transform("size")
        item_counts = interactions.groupby("item")["user"].transform("size")
        keep = (user_counts >= k) & (item_counts >= k)
        if keep.all():
            return interactions
        interactions = interactions[keep]


def _starts(sorted_users: np.ndarray, n_users: int) -> np.ndarray:
    """CSR offsets for users 1..n_users (index 0, padding, is empty)."""
    counts = np.bincount(sorted_users, minlength=n_users + 1)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def leave_last_out(start: np.ndarray, items: np.ndarray, history_len: int) -> tuple[Split, Split, Split]:
    """Last positive of each user for test, second last for validation, the rest for training."""
    users = np.arange(1, len(start) - 1)
    lengths = start[2:] - start[1:-1]
    test_positions = start[1:-1] + lengths - 1
    valid_positions = test_positions - 1
    # Training targets: every position after a user's first item, before the validation item.
    train_users = np.repeat(users, lengths - 3)
    train_positions = np.concatenate([np.arange(s + 1, s + n - 2) for s, n in zip(start[1:-1], lengths)])

    def split(user_of, positions):
        offsets = positions[:, None] - history_len + np.arange(history_len)
        first = start[user_of][:, None]
        history = np.where(offsets >= first, items[np.clip(offsets, 0, None)], 0).astype(np.int32)
        return Split(user_of.astype(np.int32), history, items[positions].astype(np.int32))

    return split(train_users, train_positions), split(users, valid_positions), split(users, test_positions)


def sample_negatives(users: np.ndarray, seen_start: np.ndarray, seen_items: np.ndarray, n_items: int,
                     count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct items per user, uniformly among those the user never rated."""
    seen_counts = seen_start[users + 1] - seen_start[users]
    room = n_items - seen_counts
    if room.min() < 1:
        raise DataError(f"user {int(users[room.argmin()])} rated every one of the {n_items} items, so no negatives "
                        "can be sampled for prepare.eval_negatives; remove that user from the raw data.")
    if count > room.min():
        worst = int(users[room.argmin()])
        raise DataError(
            f"prepare.eval_negatives = {count} is larger than the {int(room.min())} unrated items user {worst} "
            f"has in a catalogue of {n_items} items; the largest value that works is {int(room.min())}: "
            f"set prepare.eval_negatives to at most {int(room.min())} in the params file."
        )
    # Random keys per (user, item); seen items and padding get +inf, the `count` smallest keys win.
    keys = rng.random((len(users), n_items + 1))
    keys[:, 0] = np.inf
    rows = np.repeat(np.arange(len(users)), seen_counts)
    columns = np.concatenate([seen_items[seen_start[u]:seen_start[u + 1]] for u in users])
    keys[rows, columns] = np.inf
    chosen = np.argpartition(keys, count - 1, axis=1)[:, :count]
    order = np.take_along_axis(keys, chosen, axis=1).argsort(axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1).astype(np.int32)


def _user_attributes(raw: RawFiles, data: DataConfig, user_ids: np.ndarray) -> dict[str, np.ndarray]:
    if not data.user_attributes:
        return {}
    if raw.user is None:
        raise DataError(
            f"data.user_attributes = {data.user_attributes} but {raw.inter.parent} has no .user file; "
            "add one or set data.user_attributes: []."
        )
    users = read_atomic(raw.user)
    _require_columns(users, raw.user, {"user": data.columns.user})
    _require_columns(users, raw.user, {f"user_attributes ({name})": name for name in data.user_attributes})
    table = users.drop_duplicates(data.columns.user).set_index(data.columns.user).reindex(user_ids)
    return {name: np.concatenate([[""], table[name].fillna("").to_numpy(str)]).astype(str) for name in data.user_attributes}
