"""The run bar: which run, its state, and the counts that say where to look."""

from __future__ import annotations

from textual.widgets import Static

from ezpz_core.run.rundir import RunStatus
from ezpz_tui.report import duration_text
from ezpz_tui.watch.run import RunWatch
from ezpz_tui.widgets.styles import css_beside


def state_text(watch: RunWatch, now: float) -> str:
    """``running 1m02s (pid 4242 on host)`` / ``finished: exit 0 in 12s`` / ``gone``."""
    info = watch.info
    if info is None:
        return "reading…"
    start = watch.started_at or info.start
    if info.status is RunStatus.RUNNING:
        took = duration_text(now - start) if start else ""
        where = f" (pid {info.pid} on {info.host})" if info.pid else ""
        return f"running {took}{where}"
    if info.status is RunStatus.FINISHED:
        summary = watch.summary or {}
        code = info.exit_code if info.exit_code is not None else summary.get("exit_code")
        reason = info.reason or summary.get("reason") or ""
        took = summary.get("duration_s")
        took_text = f" in {duration_text(float(took))}" if isinstance(took, int | float) else ""
        why = f" ({reason})" if reason else ""
        return f"finished: exit {code}{why}{took_text}"
    if info.status is RunStatus.GONE:
        if info.reason:  # a submitted job that ended in the queue, or was refused
            return f"ended without running: {info.reason}"
        return "owner gone without a summary (killed or its host went down)"
    if info.status is RunStatus.QUEUED:
        return "in the queue" + (f": {info.reason}" if info.reason else "")
    return "starting…"


def run_summary(watch: RunWatch, now: float, job_line: str = "") -> str:
    """The bar's text, two lines: run and state (and, for a submitted run,
    what its queue says in place of the run's own state until it runs); ranks
    and lines."""
    board = watch.board
    counts = board.summary(watch.now(), watch.running)
    info = watch.info
    queued = info is not None and info.status in (RunStatus.QUEUED, RunStatus.GONE)
    state = job_line if job_line and queued else state_text(watch, now)
    first = f" {watch.path.name} · {state}"
    if job_line and not queued:
        first += f" · {job_line}"
    if info is not None and info.status is RunStatus.QUEUED and not watch.ranks_of:
        return first + "\n the job's lines show here once it starts · ctrl+k cancels it"
    parts = [f"{counts.ranks:,} ranks"]
    for label, n in (
        ("running", counts.running),
        ("done", counts.exited_ok),
        ("failed", counts.failed),
        ("silent", counts.silent),
        ("never printed", counts.never_printed),
        ("lagging", counts.lagging),
    ):
        if n:
            parts.append(f"{n:,} {label}")
    lines = len(watch.ranks_of)
    parts.append(f"{lines:,} lines")
    if watch.behind:
        parts.append(f"reading {watch.behind / 1e6:,.0f} MB more")
    if watch.hidden:
        parts.append(f"{watch.hidden:,} hidden" + ("" if watch.flow.noise else " (shown)"))
    return first + "\n " + " · ".join(parts)


class RunBar(Static):
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self) -> None:
        super().__init__("", markup=False)

    def show(self, watch: RunWatch | None, now: float | None = None, job_line: str = "") -> None:
        if watch is None:
            self.update(" no run attached · f6 lists the runs, f2 starts one")
            self.set_classes("")
            return
        with watch.lock:
            text = run_summary(watch, watch.clock() if now is None else now, job_line)
            info = watch.info
        self.update(text)
        status = info.status.value if info is not None else "starting"
        failed = watch.summary is not None and (watch.summary.get("exit_code") or 0) != 0
        self.set_classes(f"-{status}" + (" -failed" if failed else ""))
