"""What a log pane shows, whichever file it is: the merged stream or one rank's log.

A pane asks its source for a row count and for single rows (only the visible
ones); the sources answer from the ``RunWatch``'s indexes, so drawing costs the
pane's height, not the log's length.
"""

from __future__ import annotations

from typing import Any, Protocol

from ezpz_core.run.events import LAUNCHER
from ezpz_tui.watch.run import PaneLine, RunWatch


class PaneSource(Protocol):
    title: str
    lock: Any  # held while drawing: the watcher thread appends under it

    def count(self) -> int: ...
    def line(self, row: int) -> PaneLine: ...
    def members(self, row: int) -> list[PaneLine]: ...
    def row_of_line(self, line: int) -> int: ...


class MergedSource:
    """All ranks in arrival order (``combined.log``), collapsed and filtered."""

    def __init__(self, watch: RunWatch) -> None:
        self.watch = watch
        self.lock = watch.lock

    @property
    def title(self) -> str:  # type: ignore[override]
        watch = self.watch
        if watch.previewing:
            size = watch.combined.path.stat().st_size if watch.combined.path.exists() else 0
            done = 100 * watch.combined.end // max(1, size)
            return f"all ranks · newest lines while indexing ({done}%)"
        return "all ranks"

    def count(self) -> int:
        if self.watch.previewing:
            return len(self.watch.preview)
        return self.watch.rows().rows

    def line(self, row: int) -> PaneLine:
        if self.watch.previewing:
            return self.watch.preview[row]
        return self.watch.merged_line(row)

    def members(self, row: int) -> list[PaneLine]:
        watch = self.watch
        if not watch.flow.collapse or watch.filter is not None or watch.previewing:
            return []
        return self.watch.members(self.watch.rows().line_of(row))

    def row_of_line(self, line: int) -> int:
        return self.watch.rows().row_of(line)


class RankSource:
    """One rank's own log (``ranks/rank-N.log``)."""

    def __init__(self, watch: RunWatch, rank: int) -> None:
        self.watch = watch
        self.lock = watch.lock
        self.rank = rank
        self.title = "launcher" if rank == LAUNCHER else f"rank {rank}"
        watch.open_rank(rank)

    def count(self) -> int:
        index = self.watch.rank_panes.get(self.rank)
        return index.count if index is not None else 0

    def line(self, row: int) -> PaneLine:
        return self.watch.rank_line(self.rank, row)

    def members(self, row: int) -> list[PaneLine]:
        return []

    def row_of_line(self, line: int) -> int:
        return line

    def close(self) -> None:
        self.watch.close_rank(self.rank)
