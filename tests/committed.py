"""The files of the last commit, for the tests that hold committed results against each other.

Those tests (dvc.lock against the committed outputs, the README's blocks against the committed
tables) read `git archive HEAD`, not the working tree: a user's own `dvc repro` on another CPU
may write other floats into the working tree, and that must never turn `make test` red (compare
such a run with `dvc metrics diff` instead).
"""
from __future__ import annotations

import atexit
import functools
import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from padirec.pipeline import paths

ROOT = paths.repo_root(__file__)


@functools.cache
def committed_root() -> Path | None:
    """A temporary copy of HEAD's tree, or None outside a git checkout."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    folder = Path(tempfile.mkdtemp(prefix="padirec-committed-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder
