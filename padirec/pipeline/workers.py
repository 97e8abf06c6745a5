"""Independent units of a stage side by side, each computed on one thread.

Why one thread: torch cuts an elementwise kernel's tensor into one chunk per thread, and each
chunk computes its last partial vector of floats through another code path than the full
vectors, so where the chunks end (which depends on the thread count) changes the last bit of a
few elements; measured here on `torch.sigmoid` of the diversity loss in the epoch's partial
batch, where one bit in epoch 7 grew into the fourth decimal of a metric. On one thread every
operation runs the same way every time, so a unit's result depends only on its inputs. Every
computation of the pipeline therefore runs single-threaded (`single_threaded`), and a stage uses
the machine's cores by running its independent units (a backbone, one seed of one backbone, a
stack of generators) in `runtime.workers` processes at once. The units and their order come from
params.yaml alone, never from the worker count, so 1 worker and 16 give the same bytes.

It is not faster than two threads were: stacked tuning used both threads well, so a pipeline run
takes about as long as before, with every core now doing work rather than waiting.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import torch

from padirec.pipeline import progress
from padirec.pipeline.progress import bar as progress_bar
from padirec.pipeline.runtime import resolve_workers

if TYPE_CHECKING:
    import pandas as pd

# Set for the stage's kernel and every worker it starts, before numpy or torch load their libraries.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def single_threaded() -> None:
    """Run this process's torch (and the BLAS libraries below numpy) on one thread."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    torch.set_num_threads(1)


def _start_worker() -> None:
    single_threaded()
    # Only the stage's own bar over the units reports: bars of several processes would garble one terminal.
    os.environ.pop(progress.PROGRESS_FILE, None)


def _timed(function: Callable, arguments: tuple) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*arguments)
    return time.perf_counter() - started, result


def _call(job: bytes) -> bytes:
    # Plain pickles both ways: torch would otherwise pass tensors through shared-memory handles.
    function, arguments = pickle.loads(job)
    return pickle.dumps(_timed(function, arguments), protocol=pickle.HIGHEST_PROTOCOL)


# Every unit run in this process so far: (phase, unit, seconds); a stage saves it with its timings.
_unit_log: list[dict] = []


def unit_seconds() -> "pd.DataFrame":
    """The wall time of every unit `run_units` ran in this process, by phase (its `desc`), in order."""
    import pandas as pd

    return pd.DataFrame(_unit_log, columns=["phase", "unit", "seconds"])


def makespan(seconds: Sequence[float], workers: int) -> float:
    """How long units of these durations take on `workers` processes when, as in `run_units`, each unit in
    turn goes to the first worker that is free."""
    free = [0.0] * max(1, workers)
    for duration in seconds:
        first = free.index(min(free))
        free[first] += duration
    return max(free)


# One pool per worker count, kept for the life of the process: a stage's phases share its workers, which
# import torch once. A unit's result does not depend on which worker ran it or what ran there before.
_pools: dict[int, ProcessPoolExecutor] = {}


def start(workers: int = 0) -> None:
    """Start the pool that `run_units` will use, so that its processes load torch while this one loads data."""
    count = resolve_workers(workers)
    if count > 1:
        pool = _pool(count)
        for _ in range(count):
            pool.submit(int)


def _pool(count: int) -> ProcessPoolExecutor:
    if count not in _pools:
        _pools[count] = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker)
    return _pools[count]


def run_units(function: Callable, units: Iterable[Sequence], workers: int = 1, desc: str = "") -> list:
    """[function(*unit) for unit in units], in the units' order, on up to `workers` processes.

    With one worker (or one unit) the units run here, one after the other; otherwise in
    single-threaded processes (spawned, so no thread pool or lock of this process is inherited),
    kept for the next call. `function` must be importable (a module-level function of padirec), its
    arguments and results picklable. `desc` labels a progress bar over the units (padirec.pipeline.progress).
    """
    units = [tuple(unit) for unit in units]
    count = resolve_workers(workers)
    shown = min(count, len(units))
    phase = desc or function.__name__
    with progress_bar(total=len(units), desc=f"{desc} ({shown} worker(s))", show=bool(desc)) as bar:
        def counted(index: int, timed: tuple[float, object]):
            _unit_log.append({"phase": phase, "unit": index, "seconds": timed[0]})
            bar.update()
            return timed[1]

        if shown <= 1:
            single_threaded()
            return [counted(index, _timed(function, unit)) for index, unit in enumerate(units)]
        jobs = [pickle.dumps((function, unit), protocol=pickle.HIGHEST_PROTOCOL) for unit in units]
        try:
            return [counted(index, pickle.loads(result)) for index, result in enumerate(_pool(count).map(_call, jobs))]
        except BrokenProcessPool:  # a worker died (killed, out of memory): the next call starts a new pool
            _pools.pop(count, None)
            raise
