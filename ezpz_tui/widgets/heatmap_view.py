"""The activity heatmap: one row per rank (per host or block when they do not fit),
time across, shaded by lines per second. Enter on a cell opens that rank's log at
that time: the quiet cell of one rank among busy peers is where to look.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ezpz_tui.watch.run import RunWatch
from ezpz_tui.widgets.styles import css_beside

SHADES = " ░░▒▒▓▓██"  # level 0..8
LABEL_W = 18
CAPTIONS = {"lines": "lines per second", "cpu": "CPU use", "gpu": "GPU use"}


class HeatmapView(Widget, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {"heatmap--cell", "heatmap--cursor", "heatmap--label"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(0,-1)", "Up", show=False),
        Binding("down,j", "move(0,1)", "Down", show=False),
        Binding("left,h", "move(-1,0)", "Earlier", show=False),
        Binding("right,l", "move(1,0)", "Later", show=False),
        Binding("enter", "choose", "Open", tooltip="This rank's log at this time"),
    ]

    row: reactive[int] = reactive(0)
    col: reactive[int] = reactive(-1)  # -1: the newest column

    class CellChosen(Message):
        def __init__(self, rank: int, t0: float) -> None:
            super().__init__()
            self.rank = rank
            self.t0 = t0

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.grid: Any = None
        self.watch_ref: RunWatch | None = None
        self.metric = "lines"  # what a cell's shade says: lines/s, or CPU or GPU use

    def show(self, watch: RunWatch) -> None:
        self.watch_ref = watch
        height = max(1, self.size.height - 1)
        width = max(1, self.size.width - LABEL_W - 1)
        with watch.lock:
            activity = {"cpu": watch.usage.cpu, "gpu": watch.usage.gpu}.get(
                self.metric, watch.activity
            )
            self.grid = activity.grid(height, width, watch.board.host_of, max(watch.board.size, 1))
        self.row = min(self.row, max(0, self.grid.rows - 1))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        grid = self.grid
        if grid is None or grid.rows == 0:
            text = f" no {CAPTIONS[self.metric]} yet" if y == 0 else ""
            return Strip([Segment(text, base)]).crop_extend(0, width, base)
        if y == grid.rows:
            span = grid.span_text() if hasattr(grid, "span_text") else ""
            caption = f"{CAPTIONS[self.metric]:<{LABEL_W}} {span}"
            return Strip([Segment(caption, base)]).crop_extend(0, width, base)
        if y > grid.rows:
            return Strip.blank(width, base)
        label_style = base + self.get_component_rich_style("heatmap--label")
        cell_style = base + self.get_component_rich_style("heatmap--cell")
        cursor_style = base + self.get_component_rich_style("heatmap--cursor")
        segments = [Segment(f"{grid.label(y)[:LABEL_W]:<{LABEL_W}} ", label_style)]
        col = self.col if self.col >= 0 else grid.cols - 1
        for c in range(grid.cols):
            level = grid.level(y, c)
            style = cursor_style if (y == self.row and c == col and self.has_focus) else cell_style
            segments.append(Segment(SHADES[max(0, min(8, level))], style))
        return Strip(segments).crop_extend(0, width, base)

    def action_move(self, dx: int, dy: int) -> None:
        grid = self.grid
        if grid is None or not grid.rows:
            return
        self.row = max(0, min(grid.rows - 1, self.row + dy))
        col = self.col if self.col >= 0 else grid.cols - 1
        self.col = max(0, min(grid.cols - 1, col + dx))
        self.refresh()

    def action_choose(self) -> None:
        grid = self.grid
        if grid is None or not grid.rows:
            return
        col = self.col if self.col >= 0 else grid.cols - 1
        cell = grid.cell(self.row, col)
        ranks = list(cell.ranks)
        if ranks:
            self.post_message(self.CellChosen(ranks[0], cell.t0))

    def on_resize(self) -> None:
        if self.watch_ref is not None:
            self.show(self.watch_ref)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
