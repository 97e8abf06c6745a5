"""Where the work runs: the torch device and the number of worker processes (params.yaml `runtime`).

`device: auto` takes CUDA when a GPU is visible, else the CPU; `workers: 0` runs one worker process
per core this process may use. Every computation is single-threaded (padirec.pipeline.workers says why), so
neither setting changes what a stage computes, only where and how fast: no stage lists `runtime`
among its DVC params, and switching a laptop's run to more cores does not invalidate the results.
Random draws stay on CPU generators and move to the device, so a seed means the same batches
everywhere; floating point still differs between devices and CPU families (see the README).
"""
from __future__ import annotations

import os
import re

import torch

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which a container or `taskset` can narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def device_problem(name: str) -> str | None:
    """Why `name` cannot be used as the device on this machine, or None."""
    if not DEVICE_PATTERN.fullmatch(name):
        return "give auto, cpu, cuda, cuda:N or mps."
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            return "no CUDA device is visible to torch here; use auto (CUDA when present, else CPU) or cpu."
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return f"this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0."
    if name == "mps" and not torch.backends.mps.is_available():
        return "the Apple MPS device is not available here; use auto or cpu."
    return None


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device that `name` (params.yaml `runtime.device`) means on this machine."""
    problem = device_problem(name)
    if problem is not None:
        raise ValueError(f"runtime.device = {name!r}: {problem}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_workers(workers: int = 0) -> int:
    """Worker processes for a stage's independent units: `workers`, or one per available core when it is 0."""
    if workers < 0:
        raise ValueError(f"runtime.workers = {workers}: give 0 (one per core) or a positive number.")
    return workers or available_cores()


def setup(config, start_workers: bool = False) -> torch.device:
    """Make this process single-threaded (padirec.pipeline.workers) and return the RuntimeConfig's device; stages and
    the command line call this first. `start_workers` starts the stage's worker processes now, so that they
    load their libraries while this process loads its data."""
    from padirec.pipeline import workers

    workers.single_threaded()
    device = resolve_device(config.device)
    if start_workers:
        workers.start(config.workers)
    return device


def describe(device: torch.device) -> dict:
    """The device and threads in words, for benchmarks and metrics files."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"device": device.type, "device_name": name, "threads": torch.get_num_threads()}
