"""Live progress of long loops, shown in the terminal that runs `dvc repro`, never in a notebook.

A stage's notebook runs in a Jupyter kernel whose output papermill stores in the executed
notebook. Progress bars there would fill committed notebooks with pages of redraws, so bars go
to the file named by the environment variable PADIREC_PROGRESS instead; the stage runner
(`padirec.pipeline.stage`) sets it and copies the file to its terminal as it grows. Without it (nbval,
tests, an interactive notebook) the bars are off.
"""
from __future__ import annotations

import os
from typing import Iterable, TextIO

from tqdm import tqdm

PROGRESS_FILE = "PADIREC_PROGRESS"
STAGE_NAME = "PADIREC_STAGE"

_channel: TextIO | None = None


def _open_channel() -> TextIO | None:
    global _channel
    path = os.environ.get(PROGRESS_FILE)
    if not path:
        return None
    if _channel is None or _channel.name != path:
        _channel = open(path, "a", buffering=1, encoding="utf-8")
    return _channel


def bar(iterable: Iterable | None = None, desc: str = "", total: int | None = None, show: bool = True) -> tqdm:
    """A tqdm bar prefixed with the stage name, written to the progress channel (off without one).

    `show=False` silences loops nested inside another bar, so one line tracks one piece of work.
    """
    channel = _open_channel() if show else None
    stage = os.environ.get(STAGE_NAME, "")
    label = f"{stage} | {desc}" if stage else desc
    return tqdm(iterable, desc=label, total=total, disable=channel is None, file=channel,
                mininterval=1.0, ncols=110, ascii=False, dynamic_ncols=False)
