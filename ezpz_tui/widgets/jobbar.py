"""The job bar: where this console is and what the plan would start, always on top.

It turns to the warning colour when the plan has warnings, to the error colour
when there is no plan (a field is wrong, or discovery failed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from ezpz_tui.form import FIELD_SPECS
from ezpz_tui.widgets.styles import css_beside

if TYPE_CHECKING:
    from ezpz_core.job import Job
    from ezpz_tui.preview import Preview

LEVELS = ("-ok", "-warning", "-error", "-pending")
LABELS = {spec.name: spec.label for spec in FIELD_SPECS}


def job_summary(job: Job | None, preview: Preview | None, error: str | None) -> tuple[str, str]:
    """The bar's text and its level: ok, warning, error or pending."""
    if error:
        return f"discovery failed: {error}", "error"
    if job is None:
        return "detecting the job...", "pending"
    acc = job.accelerators
    where = f"job {job.job_id}" if job.in_job else "not in a job"
    nhosts = job.allocation.nhosts or 1
    per = f"{acc.count} {acc.kind or 'accelerators'}" if acc.count else "cpu only"
    words = [job.scheduler.value, job.machine.name, where, f"{nhosts} host(s) x {per}"]
    level = "ok"
    if preview is not None:
        plan = preview.plan
        if plan is None:
            at_fault = ", ".join(LABELS.get(name, name) for name in preview.errors)
            words.append(f"no plan: check {at_fault}" if at_fault else "no plan: see the preview")
            level = "error"
        else:
            if plan.topology:
                words.append(f"world {plan.topology.world_size}")
            words.append(f"rank I/O {plan.rank_io.value}")
            if plan.warnings:
                words.append(f"{len(plan.warnings)} warning(s)")
                level = "warning"
    # break lines only between phrases: "rank I/O label" stays whole
    return " · ".join(w.replace(" ", "\u00a0") for w in words), level


class JobBar(Static):
    DEFAULT_CSS = css_beside(__file__)

    def __init__(self) -> None:
        super().__init__("detecting the job...", markup=False, classes="-pending")

    def show(self, job: Job | None, preview: Preview | None, error: str | None) -> None:
        text, level = job_summary(job, preview, error)
        self.update(text)
        for name in LEVELS:
            self.set_class(name == f"-{level}", name)
