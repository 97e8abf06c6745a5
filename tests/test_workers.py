"""Units of work in worker processes: the order kept, one thread each, errors passed on."""
from __future__ import annotations

import pytest
import torch

from padirec.pipeline import workers


def threads_and_square(value: int) -> tuple[int, int]:
    return torch.get_num_threads(), value * value


def fail_on_two(value: int) -> int:
    if value == 2:
        raise ValueError("unit 2 failed")
    return value


def test_units_come_back_in_their_order_each_computed_on_one_thread():
    results = workers.run_units(threads_and_square, [(value,) for value in range(5)], workers=2)
    assert results == [(1, value * value) for value in range(5)]


def test_one_worker_runs_the_units_here_on_one_thread():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert workers.run_units(threads_and_square, [(3,), (4,)], workers=1) == [(1, 9), (1, 16)]
    finally:
        torch.set_num_threads(before)


def test_a_failing_unit_raises_its_own_error():
    with pytest.raises(ValueError, match="unit 2 failed"):
        workers.run_units(fail_on_two, [(1,), (2,), (3,)], workers=2)


def test_a_negative_worker_count_is_refused():
    with pytest.raises(ValueError, match="runtime.workers = -1"):
        workers.run_units(threads_and_square, [(1,), (2,)], workers=-1)


def test_every_unit_is_timed_under_its_phase():
    before = len(workers.unit_seconds())
    workers.run_units(threads_and_square, [(1,), (2,), (3,)], workers=2, desc="squares")
    log = workers.unit_seconds().iloc[before:]
    assert log["phase"].tolist() == ["squares"] * 3 and log["unit"].tolist() == [0, 1, 2]
    assert (log["seconds"] >= 0).all()


def test_makespan_gives_each_unit_to_the_first_free_worker():
    assert workers.makespan([4, 1, 1, 1, 1], workers=2) == 4  # 4 on one worker, the four 1s on the other
    assert workers.makespan([1, 1, 4], workers=2) == 5  # the 4 starts when the first 1 ends
    assert workers.makespan([3, 3, 3], workers=1) == 9
    assert workers.makespan([3, 3, 3], workers=16) == 3


def test_generator_stacks_are_the_fewest_of_at_most_stack_and_near_equal():
    from padirec.training.generators import stack_groups

    assert stack_groups(10, 9) == [range(0, 5), range(5, 10)]
    assert stack_groups(18, 9) == [range(0, 9), range(9, 18)]
    assert stack_groups(10, 20) == [range(0, 10)]
    assert [len(g) for g in stack_groups(7, 3)] == [2, 2, 3]
    assert stack_groups(4, 1) == [range(i, i + 1) for i in range(4)]


def test_a_stage_on_more_workers_keeps_its_serial_part_and_shortens_each_phase():
    import pandas as pd

    from padirec.perf import costmodel

    units = pd.DataFrame({"phase": ["a"] * 4 + ["b"] * 2, "unit": [0, 1, 2, 3, 0, 1], "seconds": [2, 2, 2, 2, 5, 5]})
    # Measured on 2 workers: phase a 4 s, phase b 5 s, so 100 - 9 = 91 s ran outside the units.
    assert costmodel.predicted_stage_seconds(units, 100.0, measured_workers=2, workers=4) == 91 + 2 + 5
    assert costmodel.predicted_stage_seconds(units, 100.0, measured_workers=2, workers=1) == 91 + 8 + 10
