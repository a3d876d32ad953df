"""The interactive console. For now: the detected job and the launch plan.

The console issue replaces this with the job view, command editor and log panes;
the plan it shows is the same ``LaunchPlan`` that ``--dry-run`` prints.
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from ezpz_core.launch.plan import LaunchPlan
from ezpz_tui.report import plan_lines


class EzpzApp(App[None]):
    """Shows one plan: job facts, warnings and the exact command."""

    CSS_PATH = "app.tcss"
    TITLE = "ezpz-tui"
    BINDINGS: ClassVar[list[Binding]] = [Binding("q", "quit", "Quit", priority=True)]

    def __init__(self, plan: LaunchPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="plan"):
            yield DataTable(id="facts", show_cursor=False, zebra_stripes=True)
            if self.plan.warnings:
                text = "\n".join(f"! {w}" for w in self.plan.warnings)
                yield Static(text, id="warnings", markup=False)
            yield Static("command", classes="heading")
            yield Static(shlex.join(self.plan.argv), id="argv", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "launch plan"
        table = self.query_one("#facts", DataTable)
        table.add_columns("fact", "value")
        for key, value in plan_lines(self.plan):
            table.add_row(key, value)
