"""Where a result was computed: CPU model and ISA flags, library versions, threads and device.

Floating point depends on all of these (which kernels torch picks, how work splits over threads),
so every metrics file records them beside its numbers.
"""
from __future__ import annotations

import platform
import re
from pathlib import Path

import numpy as np
import torch

from padirec.pipeline.runtime import available_cores, describe

# CPU features that change which kernels torch runs, and so the last bits of floating-point results.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module reports."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", info.read_text(), re.MULTILINE)
        if found:
            return found.group(1).strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The ISA_FLAGS this CPU has (Linux; empty elsewhere)."""
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return []
    found = re.search(r"^flags\s*:\s*(.+)$", info.read_text(), re.MULTILINE)
    present = set(found.group(1).split()) if found else set()
    return [flag for flag in ISA_FLAGS if flag in present]


def record(device: torch.device) -> dict:
    """Where a result was computed: CPU model and ISA flags, library versions, threads and device."""
    return {"cpu": cpu_model(), "cpu_flags": cpu_flags(), "cores_available": available_cores(),
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), **describe(device)}
