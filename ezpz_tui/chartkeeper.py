"""The app's charts: the run (or history file) charted, the runs overlaid, one poller.

One thread polls every charted run about once a second (continuously while a
big file is read whole behind its preview) and posts ``ChartsChanged`` when a
chart's data moved; a second message waits until the app took the first. Each
run keeps the colour slot it was given when it was added, whatever is added or
removed after it: "did this change help?" reads the same colours all along.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ezpz_tui.messages import ChartsChanged

if TYPE_CHECKING:
    from textual.app import App

    from ezpz_tui.charts.sources import RunMetrics

POLL_S = 1.0  # charts redraw about once a second
CATCH_UP_PAUSE_S = 0.02  # between polls while a file is read whole
PROGRESS_S = 0.5  # how often the reading progress of a big file is shown
SLOTS = 6  # colours; the primary run is slot 0


@dataclass(frozen=True)
class Charted:
    """One run on the charts and its colour slot."""

    metrics: RunMetrics
    slot: int
    path: Path


class ChartKeeper:
    def __init__(self, app: App[None]) -> None:
        self.app = app
        self.primary: Charted | None = None
        self.overlays: list[Charted] = []
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._wake = threading.Event()
        self._undelivered = threading.Event()
        self._idle = threading.Event()

    # -- what is charted ------------------------------------------------------------
    def charted(self) -> list[Charted]:
        with self._lock:
            primary = [self.primary] if self.primary is not None else []
            return [*primary, *self.overlays]

    def show_run(self, run_dir: Path) -> None:
        """Chart ``run_dir`` (the run attached); overlays stay."""
        from ezpz_tui.charts.sources import RunMetrics

        if self.primary is not None and self.primary.path == Path(run_dir):
            return
        self._set_primary(Charted(RunMetrics.for_run(Path(run_dir)), 0, Path(run_dir)))

    def show_history(self, path: Path) -> None:
        from ezpz_tui.charts.sources import RunMetrics

        self._set_primary(Charted(RunMetrics.for_history(Path(path)), 0, Path(path)))

    def _set_primary(self, charted: Charted) -> None:
        with self._lock:
            self.primary = charted
            self.overlays = [o for o in self.overlays if o.path != charted.path]
        self._start()
        self.kick()

    def toggle_overlay(self, run_dir: Path) -> bool | None:
        """Overlay ``run_dir`` on the charts, or take it off again: True when added,
        False when removed, None when nothing changed (it is the run charted, or
        every colour is taken)."""
        from ezpz_tui.charts.sources import RunMetrics

        path = Path(run_dir)
        with self._lock:
            if self.primary is not None and self.primary.path == path:
                return None
            for overlay in self.overlays:
                if overlay.path == path:
                    self.overlays.remove(overlay)
                    added = False
                    break
            else:
                taken = {o.slot for o in self.overlays}
                free = [slot for slot in range(1, SLOTS) if slot not in taken]
                if not free:
                    return None
                self.overlays.append(Charted(RunMetrics.for_run(path), free[0], path))
                added = True
        self._start()
        self.kick()
        return added

    # -- the poller -----------------------------------------------------------------
    def kick(self) -> None:
        self._idle.clear()  # not settled until the poller has looked again
        self._wake.set()

    def delivered(self) -> None:
        self._undelivered.clear()

    def settled(self) -> bool:
        """Everything charted has been read and shown (tests wait for this)."""
        return (
            self._idle.is_set()
            and not self._undelivered.is_set()
            and all(c.metrics.behind == 0 for c in self.charted())
        )

    def _start(self) -> None:
        if self._stop is not None:
            return
        stop = self._stop = threading.Event()
        self.app.run_worker(
            lambda: self._loop(stop),
            thread=True,
            group="charts",
            exclusive=True,
            exit_on_error=False,
            description="charts poller",
        )

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._wake.set()
        self._stop = None

    def _loop(self, stop: threading.Event) -> None:
        dirty, progress_at = False, 0.0
        while not stop.is_set():
            self._idle.clear()
            started = time.monotonic()
            for charted in self.charted():
                dirty |= charted.metrics.poll()
            behind = any(c.metrics.behind for c in self.charted())
            if behind and started - progress_at >= PROGRESS_S:  # "reading 45%"
                dirty, progress_at = True, started
            if dirty and not self._undelivered.is_set():
                self._undelivered.set()
                self.app.post_message(ChartsChanged())
                dirty = False
            if behind:
                stop.wait(CATCH_UP_PAUSE_S)
                continue
            if not dirty:
                self._idle.set()
            self._wake.wait(max(0.0, POLL_S - (time.monotonic() - started)))
            self._wake.clear()
