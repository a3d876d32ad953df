"""The runs browser: every run under the output directory, newest first.

Status comes from each run directory alone (summary, owner record), so runs
started by batch scripts on other hosts show too. Enter attaches the run view.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from ezpz_core.run.rundir import RunInfo, list_runs
from ezpz_tui.report import duration_text
from ezpz_tui.screens.base import ConsoleScreen
from ezpz_tui.widgets.keybar import KeyBar
from ezpz_tui.widgets.metric_chart import PALETTE

COLUMNS = ("chart", "status", "started", "took", "exit", "ranks", "command", "run directory")


def run_row(info: RunInfo, now: float) -> tuple[str, ...]:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.start)) if info.start else "-"
    end = info.end if info.end is not None else (now if info.status.value == "running" else None)
    took = duration_text(end - info.start) if info.start and end else "-"
    code = "-" if info.exit_code is None else str(info.exit_code)
    ranks = "-" if info.ranks is None else f"{info.ranks:,}"
    command = " ".join(info.command) or "(reference workload)"
    return (info.status.value, started, took, code, ranks, command[:60], info.path.name)


class RunsScreen(ConsoleScreen):
    CSS_PATH = "runs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", tooltip="Read the output directory again"),
        Binding(
            "o", "overlay", "Overlay", tooltip="Overlay the run on the charts (F5); o again: off"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[RunInfo] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-title", markup=False)
        table: DataTable[str] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield KeyBar()

    @property
    def outdir(self) -> Path:
        s = self.surroundings
        path = Path(s.outdir)
        return path if path.is_absolute() else Path(s.cwd) / path

    def on_mount(self) -> None:
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#runs-title", Static).update(f" runs in {self.outdir} (reading…)")
        self.load(self.outdir)

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False, description="list runs")
    def load(self, outdir: Path) -> None:
        now = self.surroundings.clock()  # the console's clock: "running" is judged by it
        infos = list_runs(outdir, now)
        self.app.call_from_thread(self._show, outdir, infos, now)

    def _show(self, outdir: Path, infos: list[RunInfo], now: float) -> None:
        self.infos = infos
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        for i, info in enumerate(infos):
            table.add_row(self._marker(info.path), *run_row(info, now), key=str(i))
        title = self.query_one("#runs-title", Static)
        if infos:
            title.update(f" {len(infos)} runs in {outdir} · enter attaches · o overlays on charts")
        else:
            title.update(f" no runs in {outdir} yet · F2 starts one")
        table.focus()

    @on(DataTable.RowSelected, "#runs-table")
    def chosen(self, event: DataTable.RowSelected) -> None:
        index = int(event.row_key.value or 0)
        if 0 <= index < len(self.infos):
            self.console.attach(self.infos[index].path)

    def _marker(self, path: Path) -> Text:
        """A square in the run's chart colour, for the runs on the charts."""
        for charted in self.console.charts.charted():
            if charted.path == path:
                return Text("■", style=PALETTE[charted.slot % len(PALETTE)])
        return Text("")

    def action_overlay(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        index = table.cursor_row
        if not 0 <= index < len(self.infos):
            return
        info = self.infos[index]
        added = self.console.charts.toggle_overlay(info.path)
        if added is None:
            self.notify("that run is charted already, or every colour is taken", timeout=4)
            return
        table.update_cell_at(Coordinate(index, 0), self._marker(info.path))
        self.notify(
            f"{info.path.name} {'overlaid on' if added else 'taken off'} the charts (F5)", timeout=4
        )
