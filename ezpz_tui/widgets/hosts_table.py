"""The hosts table: one row per host, drawn only where it is visible.

Aurora jobs reach 10,624 hosts. The table keeps the rows as data and renders the
visible lines with the Line API, so opening, scrolling and searching cost the
screen's height, not the job's size.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from textual.binding import BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ezpz_tui.hostsearch import HostRow
from ezpz_tui.widgets.moves import LIST_MOVES
from ezpz_tui.widgets.styles import css_beside

SLOTS_W = 6
ACC_W = 6


def header_line(host_width: int) -> str:
    return f"{'host':<{host_width}} {'slots':>{SLOTS_W}} {'accel':>{ACC_W}}  used"


def row_line(row: HostRow, host_width: int) -> str:
    used = "yes" if row.used else ""
    return f"{row.host:<{host_width}} {row.slots:>{SLOTS_W}} {row.accelerators:>{ACC_W}}  {used}"


class HostsTable(ScrollView, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {"hosts-table--cursor", "hosts-table--unused"}
    BINDINGS: ClassVar[list[BindingType]] = LIST_MOVES

    cursor: reactive[int] = reactive(0)

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[HostRow] = []
        self.host_width = 4

    def set_rows(self, rows: list[HostRow]) -> None:
        self.rows = rows
        # the widest of the first rows is enough: names in a job share one shape
        self.host_width = max([4, *(len(r.host) for r in rows[:2000])])
        width = self.host_width + SLOTS_W + ACC_W + 8
        self.virtual_size = Size(width, len(rows))
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        style = self.rich_style
        if index == self.cursor and self.has_focus:
            style = style + self.get_component_rich_style("hosts-table--cursor")
        elif not row.used:
            style = style + self.get_component_rich_style("hosts-table--unused")
        strip = Strip([Segment(row_line(row, self.host_width), style)])
        return strip.crop_extend(self.scroll_offset.x, self.scroll_offset.x + width, style)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif height and new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 1))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor = where if where >= 0 else len(self.rows) - 1

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
