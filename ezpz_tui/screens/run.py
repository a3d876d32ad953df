"""The run view: every rank of one run, live or finished.

It draws the app's ``RunWatch`` (the attached run directory, polled by the app's
watcher thread) and redraws when the app says the watch changed. Panes: the
merged stream (all ranks, identical lines collapsed), one rank, or a grid of
marked ranks side by side. Below them the rank table or the activity heatmap.
Search counts hits per rank and steps through them; the filter shows only
matching lines. Nothing here reads a file in a handler beyond the visible rows.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import ContentSwitcher, Input, Static

from ezpz_core.run.events import LAUNCHER
from ezpz_tui.screens.base import ConsoleScreen
from ezpz_tui.watch.panes import MergedSource, PaneSource, RankSource
from ezpz_tui.watch.run import RunWatch
from ezpz_tui.watch.search import SearchSpec
from ezpz_tui.widgets.heatmap_view import HeatmapView
from ezpz_tui.widgets.hosts_usage import HostsUsage
from ezpz_tui.widgets.keybar import KeyBar
from ezpz_tui.widgets.log_pane import LogPane
from ezpz_tui.widgets.rank_table import RankTable
from ezpz_tui.widgets.runbar import RunBar

GRID_MAX = 6  # rank panes side by side, at most


def parse_query(text: str) -> tuple[str, bool]:
    """``!text`` inverts a filter; returns (text, inverted)."""
    if text.startswith("!"):
        return text[1:], True
    return text, False


def hits_text(watch: RunWatch, limit: int = 6) -> str:
    search = watch.search
    if search is None:
        return ""
    per_rank = sorted(search.per_rank.items(), key=lambda kv: (-kv[1], kv[0]))
    ranks = ", ".join(
        f"{'launcher' if rank == LAUNCHER else 'r' + str(rank)}: {n:,}"
        for rank, n in per_rank[:limit]
    )
    more = f", +{len(per_rank) - limit} ranks" if len(per_rank) > limit else ""
    return f"{search.total:,} hits in {len(per_rank):,} ranks" + (
        f" ({ranks}{more})" if ranks else ""
    )


class RunScreen(ConsoleScreen):
    CSS_PATH = "run.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "merged", "Merged", tooltip="All ranks in arrival order"),
        Binding(
            "enter", "open_line", "Open", tooltip="The rank of the line under the cursor, there"
        ),
        Binding("left_square_bracket", "step_rank(-1)", "Prev rank", show=False),
        Binding("right_square_bracket", "step_rank(1)", "Next rank", show=False),
        Binding(
            "g", "grid", "Grid", tooltip="Marked ranks side by side (space marks in the table)"
        ),
        Binding("t", "table", "Ranks", tooltip="The rank table (s sorts, / in it filters)"),
        Binding("w", "which_ranks", "Which", tooltip="Filter the rank table: 0-3, a host, silent"),
        Binding("a", "activity", "Activity", tooltip="Lines per second of each rank over time"),
        Binding(
            "u", "usage_shade", "Shade", show=False, tooltip="Heatmap of lines/s, CPU or GPU use"
        ),
        Binding("H", "hosts", "Hosts", show=False, tooltip="CPU, memory and GPU use per host"),
        Binding("slash", "search", "Search", tooltip="Search every rank (n/N: next/previous)"),
        Binding("f", "filter", "Filter", tooltip="Only matching lines (!text: only the others)"),
        Binding("n", "hit(1)", "Next hit", show=False),
        Binding("N", "hit(-1)", "Previous hit", show=False),
        Binding("e", "error(1)", "Error", tooltip="Next error line (E: previous)"),
        Binding("E", "error(-1)", "Previous error", show=False),
        Binding("z", "noise", "Noise", tooltip="Show or hide the machine's noise lines"),
        Binding("c", "collapse", "Collapse", tooltip="Collapse identical lines across ranks"),
        Binding(
            "ctrl+k",
            "stop",
            "Stop",
            tooltip="Stop the job (SIGINT; again to escalate; a batch job: scancel / qdel)",
        ),
        Binding(
            "d",
            "stacks",
            "Stacks",
            tooltip="Every rank's live stack, grouped, the suspect named (py-spy)",
        ),
        Binding("escape", "close_find", "Close", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.find_mode = ""  # "search" | "filter" while the find bar is open
        self.regex = False
        self.case = False
        self.rank_filter = ""
        self._run: RunWatch | None = None
        self._pane_ranks: list[int] = []  # ranks of the rank panes shown ([] = merged)
        self._notices_seen = 0
        self._attached_at = 0.0

    def compose(self) -> ComposeResult:
        yield RunBar()
        with Horizontal(id="panes"):
            yield LogPane(_EmptySource(), id="pane-0")
        with Horizontal(id="find-bar"):
            yield Static("", id="find-label")
            yield Input(placeholder="text (ctrl+r regex, ctrl+l case)", id="find", compact=True)
        yield Static("", id="find-status", markup=False)
        with ContentSwitcher(initial="ranks", id="bottom"):
            yield RankTable(id="ranks")
            yield HeatmapView(id="activity")
            yield HostsUsage(id="hosts")
        yield KeyBar()

    def on_mount(self) -> None:
        self.watch(self.console, "run_generation", self._changed, init=False)
        self.query_one("#find-bar").display = False
        self._follow(self.console.run_watch)

    def on_screen_resume(self) -> None:
        if self.console.run_watch is not self._run:
            self._follow(self.console.run_watch)
        else:
            self._changed(0)

    # -- following the watch ---------------------------------------------------------
    def _follow(self, watch: RunWatch | None) -> None:
        self._run = watch
        self._notices_seen = 0
        self._attached_at = watch.clock() if watch is not None else 0.0
        self._pane_ranks = []
        self.query_one(RankTable).marked.clear()
        self._show_sources([MergedSource(watch)] if watch is not None else [_EmptySource()])
        self._changed(0)

    def _changed(self, _generation: int) -> None:
        watch = self._run
        if watch is None or watch is not self.console.run_watch:
            if self.console.run_watch is not watch:
                self._follow(self.console.run_watch)
            return
        self.query_one(RunBar).show(watch, job_line=self.console.runs.job_line)
        self._dump_when_silent(watch)
        self._tell_notices(watch)
        for pane in self.query(LogPane):
            pane.refresh_rows()
        self._fill_table()
        switcher = self.query_one("#bottom", ContentSwitcher)
        if switcher.current == "activity":
            self.query_one(HeatmapView).show(watch)
        elif switcher.current == "hosts":
            self.query_one(HostsUsage).show(watch)
        self._find_status()

    def _tell_notices(self, watch: RunWatch) -> None:
        """What the owner says as it happens (signals sent, the watchdog, retries)
        pops up; notices from before the console attached are in events.jsonl."""
        with watch.lock:
            fresh = watch.notices[self._notices_seen :]
        self._notices_seen += len(fresh)
        severity = {"error": "error", "warning": "warning"}
        for notice in fresh:
            if notice.t >= self._attached_at - 2.0:
                self.notify(
                    notice.text,
                    title="the run says",
                    severity=severity.get(notice.level, "information"),  # type: ignore[arg-type]
                    timeout=6,
                )

    def _fill_table(self) -> None:
        watch = self._run
        table = self.query_one(RankTable)
        if watch is None:
            table.set_rows(lambda start, stop: [], 0)
            return
        now = watch.now()
        board = watch.board
        sort = table.sort
        reverse = sort in ("silence", "lines")
        flt = self.rank_filter
        with watch.lock:
            total = board.count(flt, now=now, running=watch.running)

        def fetch(start: int, stop: int) -> list[object]:
            with watch.lock:
                return list(
                    board.rows(
                        sort=sort,
                        reverse=reverse,
                        filter=flt,
                        now=now,
                        running=watch.running,
                        start=start,
                        stop=stop,
                    )
                )

        with watch.lock:
            usage = dict(watch.usage.latest) if watch.usage.latest else None
        table.set_rows(fetch, total, board.host_width(), usage)

    # -- panes -----------------------------------------------------------------------
    def _show_sources(self, sources: list[PaneSource]) -> None:
        container = self.query_one("#panes", Horizontal)
        # a pane being removed is not displayed (removal finishes later)
        panes = [pane for pane in container.query(LogPane) if pane.display]
        shown = {source.rank for source in sources if isinstance(source, RankSource)}
        for old in panes:
            source = old.source
            # a rank shown again shares its index with the new source: keep it open
            if isinstance(source, RankSource) and source.rank not in shown:
                source.close()
        # panes are reused in place and only the extra ones come and go: a removed
        # pane keeps its id until it is pruned, so a new "pane-0" would collide
        for pane, source in zip(panes, sources, strict=False):
            pane.set_source(source)
        with self.app.batch_update():
            for pane in panes[len(sources) :]:
                pane.remove()
            new = [LogPane(source) for source in sources[len(panes) :]]
            if new:
                container.mount_all(new)
        if new:
            self.call_after_refresh(lambda: [pane.refresh_rows() for pane in new])

    @property
    def focused_pane(self) -> LogPane:
        focused = self.focused
        if isinstance(focused, LogPane):
            return focused
        return self.query(LogPane).first()

    def action_merged(self) -> None:
        if self._run is None:
            return
        self._pane_ranks = []
        self._show_sources([MergedSource(self._run)])
        self.query(LogPane).first().focus()

    def open_rank(self, rank: int, merged_line: int | None = None) -> None:
        """One rank's own log; at ``merged_line``'s place in it when given."""
        watch = self._run
        if watch is None:
            return
        self._pane_ranks = [rank]
        self._show_sources([RankSource(watch, rank)])
        pane = self.query(LogPane).first()
        pane.focus()
        if merged_line is not None:
            with watch.lock:
                own = watch.rank_line_at(rank, merged_line)
            pane.refresh_rows()
            pane.go_to_row(own)

    def action_open_line(self) -> None:
        pane = self.focused_pane
        if not isinstance(pane.source, MergedSource):
            return
        line = pane.current_line()
        if line is None or line.line < 0:
            return
        self.open_rank(line.rank, line.line)

    @on(RankTable.Opened)
    def rank_opened(self, event: RankTable.Opened) -> None:
        self.open_rank(event.rank)

    @on(RankTable.SortChanged)
    def sort_changed(self, _event: RankTable.SortChanged) -> None:
        self._fill_table()
        self.notify(f"ranks sorted by {self.query_one(RankTable).sort}", timeout=2)

    @on(HeatmapView.CellChosen)
    def cell_chosen(self, event: HeatmapView.CellChosen) -> None:
        watch = self._run
        if watch is None:
            return
        with watch.lock:
            line = watch.merged_line_at(event.t0)
        self.open_rank(event.rank, line)

    def action_step_rank(self, step: int) -> None:
        watch = self._run
        if watch is None:
            return
        world = watch.board.size or 1
        current = self._pane_ranks[0] if len(self._pane_ranks) == 1 else (-step if step > 0 else 0)
        self.open_rank((current + step) % world)

    def action_grid(self) -> None:
        watch = self._run
        if watch is None:
            return
        marked = sorted(self.query_one(RankTable).marked)
        if not marked:
            rank = self.query_one(RankTable).current_rank()
            marked = [rank] if rank is not None else []
        if not marked:
            self.notify("mark ranks in the rank table with space first", timeout=3)
            return
        if len(marked) > GRID_MAX:
            self.notify(f"showing the first {GRID_MAX} of {len(marked)} marked ranks", timeout=3)
            marked = marked[:GRID_MAX]
        self._pane_ranks = marked
        self._show_sources([RankSource(watch, rank) for rank in marked])

    def action_table(self) -> None:
        self.query_one("#bottom", ContentSwitcher).current = "ranks"
        self.query_one(RankTable).focus()

    def action_usage_shade(self) -> None:
        """Cycle the heatmap's shade: lines/s, CPU, GPU (when a rank reports one)."""
        heatmap = self.query_one(HeatmapView)
        watch = self._run
        order = ["lines", "cpu"] + (["gpu"] if watch is not None and watch.usage.gpus else [])
        heatmap.metric = order[(order.index(heatmap.metric) + 1) % len(order)]
        switcher = self.query_one("#bottom", ContentSwitcher)
        switcher.current = "activity"
        if watch is not None:
            heatmap.show(watch)
            if heatmap.metric != "lines" and watch.usage.source is None:
                self.notify(watch.usage.note, timeout=5)
        heatmap.focus()

    def action_hosts(self) -> None:
        self._toggle_bottom("hosts", self.query_one(HostsUsage))

    def action_activity(self) -> None:
        self._toggle_bottom("activity", self.query_one(HeatmapView))

    def _toggle_bottom(self, name: str, view: HeatmapView | HostsUsage) -> None:
        """Show ``view`` under the panes instead of the rank table (again: back)."""
        switcher = self.query_one("#bottom", ContentSwitcher)
        if switcher.current == name:
            switcher.current = "ranks"
            return
        switcher.current = name
        if self._run is not None:
            view.show(self._run)
        view.focus()

    # -- search and filter ----------------------------------------------------------------
    def _open_find(self, mode: str) -> None:
        self.find_mode = mode
        bar = self.query_one("#find-bar")
        bar.display = True
        find = self.query_one("#find", Input)
        spec = None
        if self._run is not None:
            holder = self._run.search if mode == "search" else self._run.filter
            spec = holder.spec if holder is not None else None
        find.value = ("!" if spec is not None and spec.invert else "") + (spec.text if spec else "")
        self._find_label()
        find.focus()

    def _find_label(self) -> None:
        flags = f"{'regex' if self.regex else 'text'}, {'case' if self.case else 'any case'}"
        label = (
            "ranks (0-3,7 · host · silent · failed)"
            if self.find_mode == "ranks"
            else (f"{self.find_mode} ({flags})")
        )
        self.query_one("#find-label", Static).update(f" {label}: ")

    def action_which_ranks(self) -> None:
        self.query_one("#bottom", ContentSwitcher).current = "ranks"
        self._open_find("ranks")
        self.query_one("#find", Input).value = self.rank_filter

    def action_search(self) -> None:
        self._open_find("search")

    def action_filter(self) -> None:
        self._open_find("filter")

    def action_close_find(self) -> None:
        bar = self.query_one("#find-bar")
        if bar.display:
            bar.display = False
            self.focused_pane.focus()

    def on_key(self, event: events.Key) -> None:
        """ctrl+r (regex) and ctrl+l (case) switch the find field's mode in place."""
        if self.focused is not self.query_one("#find", Input):
            return
        if event.key in ("ctrl+r", "ctrl+l"):
            if event.key == "ctrl+r":
                self.regex = not self.regex
            else:
                self.case = not self.case
            self._find_label()
            event.stop()
            event.prevent_default()

    @on(Input.Submitted, "#find")
    def find_submitted(self, event: Input.Submitted) -> None:
        watch = self._run
        if watch is None:
            return
        if self.find_mode == "ranks":
            self.rank_filter = event.value.strip()
            self.query_one("#find-bar").display = False
            self._fill_table()
            self.query_one(RankTable).focus()
            return
        text, invert = parse_query(event.value)
        spec = SearchSpec(text, regex=self.regex, case=self.case, invert=invert) if text else None
        if spec is not None:
            try:
                spec.compile()
            except ValueError as exc:
                self.notify(str(exc), severity="error", timeout=6)
                return
        if self.find_mode == "filter":
            watch.set_filter(spec)
            self._pane_ranks = []
            self._show_sources([MergedSource(watch)])
        else:
            if spec is not None and invert:
                spec = SearchSpec(text, regex=self.regex, case=self.case)
            watch.set_search(spec)
        self.query_one("#find-bar").display = False
        self.console.kick_watch()
        self.focused_pane.focus()
        self._changed(0)

    def _find_status(self) -> None:
        watch = self._run
        status = self.query_one("#find-status", Static)
        if watch is None:
            status.display = False
            return
        parts = []
        with watch.lock:
            if watch.search is not None:
                parts.append(f"search {watch.search.spec.text!r}: {hits_text(watch)}")
            if watch.filter is not None:
                spec = watch.filter.spec
                which = "not matching" if spec.invert else "matching"
                parts.append(f"filter: only lines {which} {spec.text!r} ({watch.rows().rows:,})")
        status.update(" " + " · ".join(parts))
        status.display = bool(parts)

    def action_hit(self, step: int) -> None:
        watch = self._run
        pane = self.focused_pane
        if watch is None or watch.search is None:
            self.notify("no search: press / first", timeout=3)
            return
        if not isinstance(pane.source, MergedSource):
            self.action_merged()
            pane = self.focused_pane
        self._jump(pane, watch.search.next if step > 0 else watch.search.prev, "no match")

    def action_error(self, step: int) -> None:
        watch = self._run
        if watch is None:
            return
        pane = self.focused_pane
        if not isinstance(pane.source, MergedSource):
            self.action_merged()
            pane = self.focused_pane
        errors = watch.errors

        def find(line: int) -> int | None:
            from bisect import bisect_left, bisect_right

            if not errors:
                return None
            if step > 0:
                i = bisect_right(errors, line)
                return errors[i] if i < len(errors) else errors[0]
            i = bisect_left(errors, line) - 1
            return errors[i] if i >= 0 else errors[-1]

        self._jump(pane, find, "no error line")

    def _jump(self, pane: LogPane, find: object, empty: str) -> None:
        watch = self._run
        assert watch is not None
        with watch.lock:
            rows = watch.rows()
            here = rows.line_of(pane.current_row()) if pane.rows and pane.cursor >= 0 else -1
            line = find(here)  # type: ignore[operator]
            row = rows.row_of(line) if line is not None else None
        if row is None:
            self.notify(empty, timeout=3)
            return
        pane.go_to_row(row)

    # -- switches -------------------------------------------------------------------------------
    def action_noise(self) -> None:
        watch = self._run
        if watch is None:
            return
        watch.flow.noise = not watch.flow.noise
        state = "hidden" if watch.flow.noise else "shown"
        self.notify(f"noise lines {state} ({watch.hidden:,})", timeout=2)
        self._reflow()

    def action_collapse(self) -> None:
        watch = self._run
        if watch is None:
            return
        watch.flow.collapse = not watch.flow.collapse
        self.notify(
            "identical lines across ranks "
            + ("collapsed" if watch.flow.collapse else "shown apart"),
            timeout=2,
        )
        self._reflow()

    def _reflow(self) -> None:
        watch = self._run
        assert watch is not None
        watch.generation += 1
        for pane in self.query(LogPane):
            if isinstance(pane.source, MergedSource):
                pane.set_source(pane.source)
        self._changed(0)

    def _dump_when_silent(self, watch: RunWatch) -> None:
        """The first time ranks go silent in a live run: one dump, saved, the
        suspect said (the stacks of the moment the hang began are the useful ones)."""
        if watch.path in self.console.auto_dumped or not watch.running:
            return
        with watch.lock:
            silent = watch.board.summary(watch.now(), True).silent
        if silent:
            self.console.auto_dumped.add(watch.path)
            self.console.dump_stacks_quietly(watch.path, silent)

    def action_stacks(self) -> None:
        self.console.action_dump_stacks()

    def action_stop(self) -> None:
        self.console.stop_run()


class _EmptySource:
    """What a pane shows before a run is attached."""

    title = "no run attached"

    def __init__(self) -> None:
        import threading

        self.lock = threading.RLock()

    def count(self) -> int:
        return 0

    def line(self, row: int) -> object:
        raise IndexError(row)

    def members(self, row: int) -> list[object]:
        return []

    def row_of_line(self, line: int) -> int:
        return 0
