"""Resource use per host: the ranks' latest samples summed (CPU, memory) or
averaged (GPU utilisation) per host, with where the figures come from.

A starved host shows as the row whose CPU or GPU is low beside its peers.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ezpz_core.run.rankstats import by_host, bytes_text, percent_text
from ezpz_tui.watch.run import RunWatch
from ezpz_tui.widgets.rank_table import age_text
from ezpz_tui.widgets.styles import css_beside

COLUMNS = ("host", "ranks", "cpu", "rss", "gpu", "gpu memory", "sampled")


class HostsUsage(Vertical, can_focus=False):
    DEFAULT_CSS = css_beside(__file__)

    def compose(self) -> ComposeResult:
        yield Static("", id="hosts-note", markup=False)
        table: DataTable[str] = DataTable(id="hosts-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table

    def focus(self, scroll_visible: bool = True) -> HostsUsage:
        self.query_one(DataTable).focus(scroll_visible)
        return self

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[int, int, str] | None = None  # (watch, samples version, note)
        self._shown_at = 0.0

    def show(self, watch: RunWatch) -> None:
        """Rebuild the table when new samples came (or its ages are 2 s old): the
        run view calls this on every change, and a job may have thousands of hosts."""
        now = watch.now()
        key = (id(watch), watch.usage.version, watch.usage.note)
        if key == self._shown and now - self._shown_at < 2.0:
            return
        self._shown, self._shown_at = key, now
        with watch.lock:
            latest = dict(watch.usage.latest)
            note = watch.usage.note
            host_of = watch.board.host_of
        hosts = by_host(latest, host_of)
        self.query_one("#hosts-note", Static).update(
            f" {len(hosts):,} host{'s' if len(hosts) != 1 else ''} · {note}"
            if hosts
            else f" {note}"
        )
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        table.add_rows(
            (
                h.host,
                f"{h.ranks:,}",
                percent_text(h.cpu) if h.cpu is not None else "-",
                bytes_text(h.rss) if h.rss is not None else "-",
                percent_text(h.gpu) if h.gpu is not None else "-",
                bytes_text(h.gpu_mem) if h.gpu_mem is not None else "-",
                age_text(max(0.0, now - h.newest)) + " ago",
            )
            for h in hosts
        )
        if hosts:
            table.move_cursor(row=min(cursor, len(hosts) - 1))
