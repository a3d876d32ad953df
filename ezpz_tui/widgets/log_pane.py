"""A log pane: a virtual list of log rows, following the end until you scroll up.

Rows are drawn with the Line API from the pane's source (``watch.panes``), only
those on screen. A pane follows new lines while its view is at the end; any move
up pauses it and the border counts "+N new lines" until ``End`` resumes. A
collapsed row (the same text from many ranks) expands in place with ``x``: its
members are drawn under it, each with its own rank.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ezpz_core.run.events import LAUNCHER
from ezpz_tui.watch.panes import PaneSource
from ezpz_tui.watch.run import PaneLine
from ezpz_tui.widgets.styles import css_beside

RANK_COLOURS = (
    "#56B6C2", "#E5C07B", "#98C379", "#C678DD", "#61AFEF", "#E06C75",
    "#2BBAC5", "#D19A66", "#7EC16E", "#B57EDC", "#4F9FEF", "#EF7B84",
)  # fmt: skip


def gutter(rank: int, width: int) -> str:
    label = "L" if rank == LAUNCHER else str(rank)
    return f"{label:>{width}} "


class LogPane(ScrollView, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-pane--cursor",
        "log-pane--group",
        "log-pane--hit",
        "log-pane--error",
        "log-pane--member",
        "log-pane--launcher",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "top", "First line", show=False),
        Binding("end", "follow", "Follow", tooltip="Go to the end and follow new lines"),
        Binding("x", "expand", "Expand", tooltip="Show each rank of a collapsed line"),
        Binding("left,h", "sideways(-8)", "Left", show=False),
        Binding("right,l", "sideways(8)", "Right", show=False),
    ]

    following: reactive[bool] = reactive(True)
    cursor: reactive[int] = reactive(-1)  # display row; -1: none (following the end)

    class Moved(Message):
        """The pane's cursor moved to a row (the run view names its rank)."""

        def __init__(self, pane: LogPane, row: PaneLine | None) -> None:
            super().__init__()
            self.pane = pane
            self.row = row

    def __init__(self, source: PaneSource, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.rows = 0  # source rows
        self.expanded: dict[int, list[PaneLine]] = {}  # source row -> its members
        self.new_lines = 0
        self.rank_width = 1
        self.widest = 0  # cells of the widest line drawn so far
        self._widen_pending = False

    # -- geometry: display rows = source rows + expanded members ----------------
    @property
    def display_count(self) -> int:
        return self.rows + sum(len(m) for m in self.expanded.values())

    def _locate(self, y: int) -> tuple[int, int]:
        """Display row -> (source row, member index or -1)."""
        extra = 0
        for row in sorted(self.expanded):
            members = self.expanded[row]
            top = row + extra
            if y <= top:
                break
            if y <= top + len(members):
                return row, y - top - 1
            extra += len(members)
        return y - extra, -1

    def _display_of(self, row: int) -> int:
        return row + sum(len(m) for r, m in self.expanded.items() if r < row)

    # -- data ----------------------------------------------------------------------
    def set_source(self, source: PaneSource) -> None:
        self.source = source
        self.expanded = {}
        self.rows = 0
        self.widest = 0
        self.new_lines = 0
        self.following = True
        self.cursor = -1
        self.refresh_rows()

    def refresh_rows(self) -> None:
        """The source changed (new lines, other switches): resize, follow, redraw."""
        rows = self.source.count()
        grown = rows - self.rows
        self.rows = rows
        if grown > 0 and not self.following:
            self.new_lines += grown
        elif grown < 0:
            self.expanded = {}
        ranks = getattr(self.source, "watch", None)
        if ranks is not None:
            world = ranks.plan.get("world_size")
            self.rank_width = len(str(max(1, (world or 1) - 1)))
        self.virtual_size = Size(self._width(), self.display_count)
        if self.following:
            # force: before the next layout the scrollbar is not shown yet, and an
            # unforced scroll is then dropped (a first screen that does not follow)
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._title()
        self.refresh()

    def _title(self) -> None:
        self.border_title = self.source.title
        if self.following:
            self.border_subtitle = "following"
        elif self.new_lines:
            self.border_subtitle = f"paused · +{self.new_lines:,} new lines · End follows"
        else:
            self.border_subtitle = "paused · End follows"

    # -- drawing ---------------------------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        with self.source.lock:  # one hold per frame, not per line
            return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        index = y + self.scroll_offset.y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= self.display_count:
            return Strip.blank(width, base)
        row, member = self._locate(index)
        try:
            line = self.source.line(row) if member < 0 else self.expanded[row][member]
        except (IndexError, OSError, KeyError):
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("log-pane--cursor")
        elif line.error:
            style = base + self.get_component_rich_style("log-pane--error")
        elif line.hit:
            style = base + self.get_component_rich_style("log-pane--hit")
        colour = (
            self.get_component_rich_style("log-pane--launcher")
            if line.rank == LAUNCHER
            else Style(color=RANK_COLOURS[line.rank % len(RANK_COLOURS)], bold=True)
        )
        segments = []
        if member >= 0:
            segments.append(
                Segment("  ↳ ", style + self.get_component_rich_style("log-pane--member"))
            )
        segments.append(Segment(gutter(line.rank, self.rank_width), style + colour))
        segments.append(Segment(line.text.replace("\t", "    "), style))
        if line.group:
            mark = " ▾ " if row in self.expanded and member < 0 else " "
            segments.append(
                Segment(
                    f"{mark}{line.group}", style + self.get_component_rich_style("log-pane--group")
                )
            )
        strip = Strip(segments)
        if strip.cell_length > self.widest:
            self.widest = strip.cell_length
            if self.widest > width and not self._widen_pending:
                self._widen_pending = True  # not while drawing: after this frame
                self.call_later(self._widen)
        return strip.crop_extend(self.scroll_offset.x, self.scroll_offset.x + width, style)

    def _width(self) -> int:
        """As wide as the widest line drawn so far (left/right scroll to see it)."""
        return max(self.size.width, self.widest)

    def _widen(self) -> None:
        self._widen_pending = False
        self.virtual_size = Size(self._width(), self.display_count)

    # -- moving ------------------------------------------------------------------------
    def _pause(self) -> None:
        if self.following:
            self.following = False
            self.new_lines = 0
            self._title()

    def action_move(self, step: int) -> None:
        if not self.display_count:
            return
        start = (
            self.cursor
            if self.cursor >= 0
            else self.scroll_offset.y + max(0, self.scrollable_content_region.height - 1)
        )
        target = max(0, min(self.display_count - 1, start + step))
        if step > 0 and target == self.display_count - 1 and start == target:
            return
        self._pause()
        self.cursor = target

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 1))

    def action_top(self) -> None:
        if self.display_count:
            self._pause()
            self.cursor = 0

    def action_sideways(self, columns: int) -> None:
        """Long lines are cut at the pane's edge: left/right scroll along them."""
        x = max(0, min(self.max_scroll_x, self.scroll_x + columns))
        self.scroll_to(x=x, animate=False, immediate=True, force=True)  # overflow-x: hidden

    def action_follow(self) -> None:
        self.following = True
        self.new_lines = 0
        self.cursor = -1
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._title()
        self.refresh()

    def go_to_row(self, row: int) -> None:
        """Put the cursor on source row ``row`` (search hits, errors, jumps)."""
        self._pause()
        self.cursor = self._display_of(max(0, min(row, self.rows - 1)))

    def current_row(self) -> int:
        """The source row under the cursor (or the last one shown)."""
        y = (
            self.cursor
            if self.cursor >= 0
            else self.scroll_offset.y
            + max(0, min(self.display_count, self.scrollable_content_region.height) - 1)
        )
        return self._locate(y)[0]

    def current_line(self) -> PaneLine | None:
        if not self.rows:
            return None
        try:
            return self.source.line(min(self.current_row(), self.rows - 1))
        except (IndexError, OSError):
            return None

    def action_expand(self) -> None:
        if not self.rows:
            return
        row = self.current_row()
        if row in self.expanded:
            del self.expanded[row]
        else:
            members = self.source.members(row)
            if len(members) > 1:
                self.expanded[row] = members
            else:
                self.notify("this line was printed by one rank only", timeout=3)
                return
        self.virtual_size = Size(self._width(), self.display_count)
        self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        if new < 0:
            return
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        if abs(new - old) > 1 and not (top <= new < top + height):
            # a jump (search hit, error, another rank): the lines around it show too
            self.scroll_to(y=max(0, new - height // 2), animate=False, immediate=True)
        elif new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif height and new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False, immediate=True)
        self.post_message(self.Moved(self, self.current_line()))

    def on_mouse_scroll_up(self) -> None:
        self._pause()

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        """The first screen scrolls to the end before the first layout, while the
        scrollbar is hidden: its thumb must show that place once it appears."""
        if shown:
            self.vertical_scrollbar.position = self.scroll_y

    def on_resize(self) -> None:
        self.virtual_size = Size(self._width(), self.display_count)
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
