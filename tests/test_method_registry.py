"""The registry of methods (padirec.methods.registry): its order, the objectives each serves, labels, timing."""
from __future__ import annotations

import numpy as np

from padirec.methods import registry


def test_every_registered_method_has_a_place_in_the_tables_and_retrain_comes_first():
    assert set(registry.TABLE_ORDER) == set(registry.METHODS)
    order = list(registry.METHODS)
    assert order[0] == "retrain"  # the reference, tuned (and timed) before the others
    assert order.index("padirec") < order.index("nearest_noise")  # Nearest + noise reads PaDiRec's sample spread
    assert all(name == method.name for name, method in registry.METHODS.items())


def test_methods_for_leaves_out_what_a_study_cannot_use():
    two = [method.name for method in registry.methods_for(("acc", "div"))]
    three = [method.name for method in registry.methods_for(["acc", "div", "tail"])]
    assert two == list(registry.METHODS)  # registry order, every method
    assert "mmr" in two and "mmr" not in three  # MMR trades accuracy against diversity only
    assert three == [name for name in two if name != "mmr"]


def test_labels_name_methods_in_tables_and_sentences():
    assert registry.label("nearest_noise") == "Nearest + noise"
    assert registry.label("padirec") == "PaDiRec"
    assert registry.label("something_else") == "something_else"


def test_requirement_seconds_times_each_requirement_alone_after_a_warm_up():
    calls = []
    seconds = registry.requirement_seconds(lambda w: calls.append(w.copy()), np.array([[0.0, 1.0], [0.5, 0.5]]))
    # One warm-up on the first requirement, then each requirement once, as a [1, K] slice.
    assert [c.tolist() for c in calls] == [[[0.0, 1.0]], [[0.0, 1.0]], [[0.5, 0.5]]]
    assert seconds >= 0.0
