"""An interrupted write never leaves a half-written artifact under its final name."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from padirec.pipeline import io

WRITER = """
import sys, numpy as np
from padirec.pipeline import io
print("writing", flush=True)
io.save_npz(sys.argv[1], {"values": np.random.default_rng(0).random((6000, 6000))})
print("done", flush=True)
"""


def test_killed_writer_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "dataset.npz"
    io.save_npz(target, {"values": np.arange(5)})
    before = target.read_bytes()
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    time.sleep(1.0)  # mid-way through compressing ~290 MB
    process.kill()
    process.wait()
    assert target.read_bytes() == before
    assert np.array_equal(io.load_npz(target, made_by="prepare")["values"], np.arange(5))
    # A re-run after the interruption writes the file completely.
    io.save_npz(target, {"values": np.arange(7)})
    assert np.array_equal(io.load_npz(target, made_by="prepare")["values"], np.arange(7))


def test_failed_json_write_keeps_the_old_metrics(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json(target, {"ndcg@10": 0.3})
    try:
        io.write_json(target, {"bad": object()})
    except TypeError:
        pass
    assert target.read_text() == '{\n  "ndcg@10": 0.3\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
