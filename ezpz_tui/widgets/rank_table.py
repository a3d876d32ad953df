"""The rank table: one row per rank, drawn only where it is visible.

A job of 20,000 ranks is one table. The run view hands the table a page
function (``RankBoard.rows`` sliced) and a row count; the table asks only for the
rows on screen, so a redraw costs the screen's height. Enter opens the rank's
pane, space marks ranks for the side-by-side grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.segment import Segment
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ezpz_core.run.rankstats import Usage, usage_text
from ezpz_tui.widgets.moves import LIST_MOVES
from ezpz_tui.widgets.styles import css_beside

Fetch = Callable[[int, int], list[Any]]  # (start, stop) -> RankRow list


def age_text(age: float | None) -> str:
    if age is None:
        return "-"
    if age < 60:
        return f"{age:.0f}s"
    if age < 3600:
        return f"{age / 60:.0f}m"
    return f"{age / 3600:.1f}h"


def header_line(host_width: int, usage: bool = False) -> str:
    figures = f" {'cpu':>6} {'rss':>6} {'gpu':>9}" if usage else ""
    return (
        f"  {'rank':>6} {'host':<{host_width}} {'lines':>9} {'age':>5}{figures}  "
        f"{'status':<16} first error"
    )


def row_line(row: Any, host_width: int, marked: bool, usage: Usage | bool | None = False) -> str:
    """One row; ``usage`` is the rank's latest sample (None: none yet), or False when
    the run has no resource figures at all (the columns are left out)."""
    mark = "●" if marked else " "
    host = (row.host or "-")[:host_width]
    error = row.first_error or ""
    figures = ""
    if usage is not False:
        cpu, rss, gpu = usage_text(usage if isinstance(usage, Usage) else None)
        figures = f" {cpu:>6} {rss:>6} {gpu:>9}"
    return (
        f"{mark} {row.rank:>6} {host:<{host_width}} {row.lines:>9,} {age_text(row.age_s):>5}"
        f"{figures}  {row.status:<16} {error}"
    )


class RankTable(ScrollView, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rank-table--cursor",
        "rank-table--header",
        "rank-table--bad",
        "rank-table--silent",
        "rank-table--done",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *LIST_MOVES,
        Binding("enter", "open", "Open rank", tooltip="Show this rank's own log"),
        Binding("space", "mark", "Mark", tooltip="Mark ranks for the side-by-side grid (g)"),
        Binding("s", "sort", "Sort", tooltip="Sort by rank, silence, lines, status"),
    ]
    SORTS = ("rank", "silence", "lines", "status")

    cursor: reactive[int] = reactive(0)
    sort: reactive[str] = reactive("rank")

    class Opened(Message):
        def __init__(self, rank: int) -> None:
            super().__init__()
            self.rank = rank

    class SortChanged(Message):
        def __init__(self, sort: str) -> None:
            super().__init__()
            self.sort = sort

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.total = 0
        self.fetch: Fetch = lambda start, stop: []
        self.marked: set[int] = set()
        self.host_width = 4
        self.usage: dict[int, Usage] | None = None  # latest sample per rank, if any
        self._page: tuple[int, int, list[Any]] = (0, 0, [])

    def set_rows(
        self,
        fetch: Fetch,
        total: int,
        host_width: int = 4,
        usage: dict[int, Usage] | None = None,
    ) -> None:
        self.fetch = fetch
        self.total = total
        self.host_width = max(4, min(24, host_width))
        self.usage = usage or None
        self._page = (0, 0, [])
        header = header_line(self.host_width, self.usage is not None)
        self.virtual_size = Size(len(header) + 40, total + 1)
        self.cursor = min(self.cursor, max(0, total - 1))
        self.refresh()

    def _rows(self, start: int, stop: int) -> list[Any]:
        first, last, rows = self._page
        if start >= first and stop <= last:
            return rows[start - first : stop - first]
        height = max(1, self.scrollable_content_region.height)
        first, last = max(0, start - height), min(self.total, stop + height)
        rows = self.fetch(first, last)
        self._page = (first, first + len(rows), rows)
        return rows[start - first : stop - first]

    def row_at(self, index: int) -> Any | None:
        rows = self._rows(index, index + 1)
        return rows[0] if rows else None

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("rank-table--header")
            strip = Strip([Segment(header_line(self.host_width, self.usage is not None), style)])
            return strip.crop_extend(self.scroll_offset.x, self.scroll_offset.x + width, style)
        index = y - 1 + self.scroll_offset.y
        if index >= self.total:
            return Strip.blank(width, base)
        row = self.row_at(index)
        if row is None:
            return Strip.blank(width, base)
        style = base
        if index == self.cursor and self.has_focus:
            style = base + self.get_component_rich_style("rank-table--cursor")
        elif row.silent or row.status.startswith("never"):
            style = base + self.get_component_rich_style("rank-table--silent")
        elif row.code not in (None, 0):
            style = base + self.get_component_rich_style("rank-table--bad")
        elif row.code == 0:
            style = base + self.get_component_rich_style("rank-table--done")
        usage = False if self.usage is None else self.usage.get(row.rank)
        text = row_line(row, self.host_width, row.rank in self.marked, usage)
        strip = Strip([Segment(text, style)])
        return strip.crop_extend(self.scroll_offset.x, self.scroll_offset.x + width, style)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        top = self.scroll_offset.y
        height = max(1, self.scrollable_content_region.height - 1)  # the header row
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False, immediate=True)

    def action_move(self, step: int) -> None:
        if self.total:
            self.cursor = max(0, min(self.total - 1, self.cursor + step))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, where: int) -> None:
        if self.total:
            self.cursor = where if where >= 0 else self.total - 1

    def current_rank(self) -> int | None:
        row = self.row_at(self.cursor) if self.total else None
        return row.rank if row is not None else None

    def action_open(self) -> None:
        rank = self.current_rank()
        if rank is not None:
            self.post_message(self.Opened(rank))

    def action_mark(self) -> None:
        rank = self.current_rank()
        if rank is None:
            return
        self.marked.symmetric_difference_update({rank})
        self.action_move(1)
        self.refresh()

    def action_sort(self) -> None:
        # by cpu and gpu (least first: the starved rank) once a rank has figures
        sorts = self.SORTS + (("cpu", "gpu") if self.usage is not None else ())
        index = sorts.index(self.sort) if self.sort in sorts else -1
        self.sort = sorts[(index + 1) % len(sorts)]
        self.post_message(self.SortChanged(self.sort))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
