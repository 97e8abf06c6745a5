"""padirec.data.statistics: the long tail (hand-computed cases, arithmetic in the comments), then the
real MovieLens slice for user groups."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from padirec.data import dataset as data, statistics
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import config


# ----------------------------------------------------------------------------- long tail


def test_long_tail_with_the_default_head_share():
    # 5 items (index 0 padding), head = ceil(0.2 * 5) = 1 item: item 1 (10 interactions).
    counts = np.array([0, 10, 1, 5, 0, 3])
    assert statistics.long_tail_items(counts).tolist() == [False, False, True, True, True, True]
    assert statistics.long_tail_items(counts, 0.2).tolist() == [False, False, True, True, True, True]


def test_long_tail_with_a_larger_head_and_ties():
    counts = np.array([0, 10, 1, 5, 0, 3])
    # head = ceil(0.4 * 5) = 2: items 1 (10) and 3 (5) -> tail items 2, 4, 5.
    assert statistics.long_tail_items(counts, 0.4).tolist() == [False, False, True, False, True, True]
    # head = ceil(0.3 * 5) = ceil(1.5) = 2: the same two items.
    assert statistics.long_tail_items(counts, 0.3).tolist() == [False, False, True, False, True, True]
    # Ties go to the lower id; the padding count never makes a head item:
    # counts 5, 2, 2, 2 for items 1..4, head ceil(0.5 * 4) = 2 -> items 1 and 2 (lowest of the tied).
    tied = np.array([100, 5, 2, 2, 2])
    assert statistics.long_tail_items(tied, 0.5).tolist() == [False, False, False, True, True]


# ----------------------------------------------------------------------------- the real MovieLens slice


@pytest.fixture(scope="module")
def small(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=120))


def test_gender_groups_put_the_smaller_group_first(small):
    groups = statistics.user_groups(small, "gender")
    gender = small.user_attributes["gender"]
    assert groups.shape == (small.n_users + 1,) and groups[0] == 1
    counts = np.bincount(groups[1:], minlength=2)
    assert counts[0] < counts[1] and counts.sum() == small.n_users
    # MovieLens-100K has fewer women than men: group 0 is exactly the women.
    assert np.array_equal(groups[1:] == 0, gender[1:] == "F")
    test = evaluation.EvaluationSet.from_split(small, small.test, "gender")
    assert np.array_equal(test.user_group.numpy(), groups[small.test.user])


def test_activity_groups_are_the_most_active_fifth(small):
    groups = statistics.user_groups(small, "activity")
    # ceil(0.2 * 120) = 24 users in group 0, each with at least as many training examples as any other user.
    assert small.n_users == 120 and (groups[1:] == 0).sum() == 24
    examples = np.bincount(small.train.user, minlength=small.n_users + 1)
    assert examples[groups == 0].min() >= examples[1:][groups[1:] == 1].max()


def test_unknown_or_unavailable_grouping_is_rejected(small):
    with pytest.raises(ValueError, match=r"unknown user grouping 'age'.*known: gender, activity"):
        statistics.user_groups(small, "age")
    no_gender = dataclasses.replace(small, user_attributes={})
    with pytest.raises(ValueError, match="need the .user attribute gender.*groups: activity"):
        statistics.user_groups(no_gender, "gender")
