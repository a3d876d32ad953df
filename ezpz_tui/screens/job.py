"""The job view: the hosts, the hostfile in use, every check, and the launcher env.

It follows the app's current preview (the launch form's plan), so a hostfile
typed in the form shows here at once. Checks run in a worker (they look up
programs on ``PATH``); ``r`` re-detects the job and runs them again.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from ezpz_core.doctor import Check, Status
from ezpz_core.job import Job
from ezpz_tui.envview import launcher_env
from ezpz_tui.hostsearch import HostRow, filter_hosts, host_rows
from ezpz_tui.preview import Planner, Preview
from ezpz_tui.report import STATUS_MARK, totals_line
from ezpz_tui.screens.base import ConsoleScreen
from ezpz_tui.widgets.hosts_table import HostsTable, header_line
from ezpz_tui.widgets.jobbar import JobBar
from ezpz_tui.widgets.keybar import KeyBar

COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.ERROR: "red"}


def hostfile_line(job: Job, preview: Preview | None) -> str:
    """Which hostfile the launch uses and who chose it."""
    alloc = job.allocation
    plan = preview.plan if preview else None
    typed = preview.form.hostfile.strip() if preview else ""
    if typed:
        return f"hostfile: {typed} (from the launch form)"
    if plan is not None and plan.hostfile:
        return f"hostfile: {plan.hostfile} (from {alloc.source or 'the job'})"
    if job.in_job and alloc.nodelist:
        return f"no hostfile: the launcher reads the job's {alloc.source}={alloc.nodelist}"
    if job.in_job:
        return f"no hostfile: hosts from {alloc.source or 'the job'}"
    return f"no hostfile: not in a job, ranks start on this host ({job.hostname})"


def checks_text(checks: list[Check]) -> Text:
    width = max((len(c.name) for c in checks), default=4)
    text = Text()
    for check in checks:
        text.append(f"{STATUS_MARK[check.status]:<5} ", style=f"bold {COLOURS[check.status]}")
        text.append(f"{check.name:<{width}}  ", style="bold")
        text.append(check.detail + "\n")
        if check.remedy and check.status is not Status.OK:
            text.append(f"{'':<5} {'':<{width}}  fix: {check.remedy}\n", style="italic")
    text.append(f"{totals_line(checks)} · r re-runs the checks")
    return text


class JobScreen(ConsoleScreen):
    CSS_PATH = "job.tcss"
    AUTO_FOCUS = "#hosts-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "recheck", "Re-check", tooltip="Detect the job again and re-run checks"),
        Binding("slash", "search", "Search hosts", tooltip="Filter by name or hostlist"),
        Binding("h", "tab('hosts')", "Hosts", show=False),
        Binding("c", "tab('checks')", "Checks", show=False),
        Binding("e", "tab('env')", "Env", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[HostRow] = []
        self._stale = False  # a preview arrived while another view was shown

    def compose(self) -> ComposeResult:
        yield JobBar()
        with TabbedContent(initial="hosts"):
            with TabPane("Hosts", id="hosts"), Vertical():
                yield Static("", id="hostfile", markup=False)
                yield Input(
                    placeholder="/ search: part of a name, or a hostlist like nid[001-004]",
                    id="host-search",
                    compact=True,
                )
                yield Static("", id="hosts-header", markup=False)
                yield HostsTable(id="hosts-table")
                yield Static("", id="hosts-count", markup=False)
            with TabPane("Checks", id="checks"), VerticalScroll(id="checks-scroll"):
                yield Static("running the checks...", id="checks-text")
            with TabPane("Environment", id="env"):
                yield DataTable(id="env-table", show_cursor=False, zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#env-table", DataTable).add_columns("variable", "value")
        self.watch(self.app, "planner", self._planner_changed)
        self.watch(self.app, "preview", self._preview_changed)

    def _planner_changed(self, planner: Planner | None) -> None:
        if planner is None:
            return
        table = self.query_one("#env-table", DataTable)
        table.clear()
        for name, value in launcher_env(planner.env):
            table.add_row(name, value)
        if table.row_count == 0:
            table.add_row("(none)", "no PBS_*, SLURM_*, OMPI_*, PMI_*, MASTER_* ... variables")

    def _preview_changed(self, preview: Preview | None) -> None:
        # Keystrokes in the launch view change the preview; the hosts, hostfile and
        # checks are redrawn when this view is shown, not on every keystroke.
        if not self.is_current:
            self._stale = True
            return
        self._stale = False
        planner = self.console.planner
        if planner is None or preview is None:
            return
        self.query_one(JobBar).show(planner.job, preview, None)
        self.query_one("#hostfile", Static).update(hostfile_line(planner.job, preview))
        self.rows = host_rows(planner.job, preview.plan, preview.user_hostfile)
        self.apply_search()
        self.run_checks(planner, preview)

    def on_screen_resume(self) -> None:
        if self._stale:
            self._preview_changed(self.console.preview)

    @on(Input.Changed, "#host-search")
    def apply_search(self) -> None:
        query = self.query_one("#host-search", Input).value
        shown, error = filter_hosts(self.rows, query)
        table = self.query_one(HostsTable)
        table.set_rows(shown)
        self.query_one("#hosts-header", Static).update(header_line(table.host_width))
        count = f"{len(shown)} of {len(self.rows)} host(s)"
        self.query_one("#hosts-count", Static).update(f"{count}: {error}" if error else count)

    @on(Input.Submitted, "#host-search")
    def search_done(self) -> None:
        self.query_one(HostsTable).focus()

    @work(thread=True, exclusive=True, group="checks", exit_on_error=False, description="checks")
    def run_checks(self, planner: Planner, preview: Preview) -> None:
        text = checks_text(planner.checks(preview))
        self.app.call_from_thread(self.query_one("#checks-text", Static).update, text)

    def action_recheck(self) -> None:
        self.query_one("#checks-text", Static).update("running the checks...")
        self.console.action_detect()  # a new planner -> a new preview -> the checks

    def action_search(self) -> None:
        self.query_one(TabbedContent).active = "hosts"
        self.query_one("#host-search", Input).focus()

    def action_tab(self, tab: str) -> None:
        # Drop the focus first: a focused widget in the pane being hidden would hand
        # it to another widget of that pane, and TabbedContent follows the focus back.
        self.set_focus(None)
        self.query_one(TabbedContent).active = tab
        target = {"hosts": "#hosts-table", "checks": "#checks-scroll", "env": "#env-table"}[tab]
        self.call_after_refresh(self.query_one(target).focus)
