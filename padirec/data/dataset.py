"""Raw data in the RecBole atomic-file format, and its preparation for sequential recommendation.

The steps follow the ReChorus protocol the authors used (PAPER.md):
ratings >= `prepare.min_rating` are positives; iterative k-core on users and items; each user's
positives in chronological order, ties in timestamp broken by ascending item id; leave-last-out
split (last positive for test, second last for validation, every earlier position a training
example) with the `prepare.history_len` most recent items as history; `prepare.eval_negatives`
negatives per evaluation user, sampled by seed among items the user never rated at any rating.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from padirec.pipeline.config import DataConfig, PrepareConfig
from padirec.pipeline.io import load_npz, save_npz, sha256_of


class DataError(ValueError):
    """The raw data or the preparation settings cannot produce a data set."""


@dataclass(frozen=True)
class WheelSource:
    """A data set shipped inside a PyPI wheel, fetched with `pip download --no-deps`."""

    requirement: str
    wheel: str
    wheel_sha256: str
    member_dir: str
    file_sha256: dict[str, str]


# MovieLens-100K as RecBole 1.2.1 ships it; checksums taken from that wheel.
BUILTIN_SOURCES = {
    "ml-100k": WheelSource(
        requirement="recbole==1.2.1",
        wheel="recbole-1.2.1-py3-none-any.whl",
        wheel_sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        member_dir="recbole/dataset_example/ml-100k/",
        file_sha256={
            "inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            "item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            "user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
        },
    )
}


@dataclass(frozen=True)
class RawFiles:
    inter: Path
    item: Path
    user: Path | None
    how: str  # one sentence on where the files came from, for the notebook to show


# ---------------------------------------------------------------------------------------------
# Fetching


def fetch_raw(config: DataConfig, raw_dir: Path) -> RawFiles:
    """Locate (and for built-in sources download, verify and extract) the atomic files."""
    folder = raw_dir / config.name
    source = BUILTIN_SOURCES.get(config.name)
    if source is None:
        return _local_files(config.name, folder)
    files = {kind: folder / f"{config.name}.{kind}" for kind in source.file_sha256}
    if all(path.exists() for path in files.values()):
        for kind, path in files.items():
            _verify(path, source.file_sha256[kind], f"delete {folder} to extract it again from the wheel")
        return RawFiles(files["inter"], files["item"], files["user"], f"using the files already extracted in {folder}")
    wheel = raw_dir / source.wheel
    if wheel.exists():
        how = f"used the wheel found at {wheel} (no download)"
    else:
        _download_wheel(source, raw_dir)
        how = f"downloaded {source.requirement} with pip into {wheel}"
    _verify(wheel, source.wheel_sha256, f"delete {wheel} and re-run to download it again")
    _extract(wheel, source, config.name, folder)
    return RawFiles(files["inter"], files["item"], files["user"], f"{how}; extracted {config.name} to {folder}")


def _local_files(name: str, folder: Path) -> RawFiles:
    inter, item, user = (folder / f"{name}.{kind}" for kind in ("inter", "item", "user"))
    if not folder.exists():
        raise DataError(
            f"unknown data set data.name = '{name}': the built-in ones are {', '.join(BUILTIN_SOURCES)}; "
            f"for your own data set put {name}.inter and {name}.item (RecBole atomic format) in {folder}/."
        )
    for required in (inter, item):
        if not required.exists():
            raise FileNotFoundError(f"{required} is missing: data set '{name}' needs {inter.name} and {item.name} in {folder}/.")
    return RawFiles(inter, item, user if user.exists() else None, f"using the local files in {folder}")


def _verify(path: Path, expected: str, fix: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(f"checksum mismatch for {path}: sha256 {actual}, expected {expected}. The file is corrupt or not the expected release; {fix}.")


def _download_wheel(source: WheelSource, raw_dir: Path) -> None:
    raw_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw_dir, prefix=".download-") as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", scratch, source.requirement]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        downloaded = Path(scratch) / source.wheel
        if result.returncode != 0 or not downloaded.exists():
            raise DataError(
                f"could not download {source.requirement} from the package index "
                f"({result.stderr.strip()[-400:] or 'no wheel produced'}). Without registry access, fetch "
                f"{source.wheel} on another machine (`pip download --no-deps {source.requirement}`) and put it in {raw_dir}/; "
                "the stage then uses it without downloading."
            )
        shutil.move(downloaded, raw_dir / source.wheel)


def _extract(wheel: Path, source: WheelSource, name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for kind, expected in source.file_sha256.items():
            target = folder / f"{name}.{kind}"
            temporary = target.with_name(f".{target.name}.tmp")
            with archive.open(f"{source.member_dir}{name}.{kind}") as member, open(temporary, "wb") as out:
                shutil.copyfileobj(member, out)
            _verify(temporary, expected, f"the wheel {wheel} is damaged; delete it and re-run")
            temporary.replace(target)


# ---------------------------------------------------------------------------------------------
# Reading atomic files


def read_atomic(path: Path) -> pd.DataFrame:
    """A RecBole atomic file as strings, with the `:type` suffixes stripped from the header."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


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


# ---------------------------------------------------------------------------------------------
# The prepared data set


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
    if prepare.max_users > 0:
        kept_users = _id_order(ratings["user"])[:prepare.max_users]
        ratings = ratings[ratings["user"].isin(kept_users)]
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


# ---------------------------------------------------------------------------------------------
# Statistics


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
