"""Progress bars reach the stage runner's terminal through a file, and never a notebook's output."""
from __future__ import annotations

from padirec.pipeline import progress


def test_bars_are_off_without_a_progress_channel(monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_FILE, raising=False)
    assert list(progress.bar(range(3), desc="steps")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_bars_write_stage_task_count_and_timing_to_the_channel(monkeypatch, tmp_path, capsys):
    channel = tmp_path / "progress.log"
    monkeypatch.setenv(progress.PROGRESS_FILE, str(channel))
    monkeypatch.setenv(progress.STAGE_NAME, "sweep")
    assert sum(progress.bar(range(4), desc="sasrec seed 0: epochs")) == 6
    written = channel.read_text()
    assert "sweep | sasrec seed 0: epochs" in written and "4/4" in written and "00:00<00:00" in written
    assert capsys.readouterr().err == ""
    # A nested loop can stay silent while its parent reports.
    list(progress.bar(range(2), desc="inner", show=False))
    assert "inner" not in channel.read_text()
