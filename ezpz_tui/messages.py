"""Messages that cross the console's screens: discovery and planning results.

Workers post these (``post_message`` is the thread-safe way in); handlers on the
app and screens turn them into state. Widget-local messages live in their widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from ezpz_core.hang.groups import Report
    from ezpz_core.job import Job
    from ezpz_tui.preview import Planner, Preview


@dataclass
class JobDetected(Message):
    job: Job
    planner: Planner


@dataclass
class DetectFailed(Message):
    error: str


@dataclass
class PreviewReady(Message):
    preview: Preview
    generation: int  # the form state it answers; older ones are dropped


class RunChanged(Message):
    """The attached run has news (posted by the watcher thread, one at a time)."""


class ChartsChanged(Message):
    """A charted run has news (posted by the charts poller, one at a time)."""


@dataclass
class JobSubmitted(Message):
    """The Submit worker's answer: the job's id and run directory, or why not."""

    run_dir: Path | None
    job_id: str | None
    message: str


@dataclass
class JobCancelled(Message):
    """``scancel`` / ``qdel`` answered (``ok`` False: its message says why not)."""

    job_id: str
    ok: bool
    message: str


@dataclass
class StacksReady(Message):
    """A stack dump of the attached run (``report`` None: ``error`` says why)."""

    report: Report | None
    compared: str
    saved: str
    error: str = ""
