"""What every rank of a run is using: CPU, memory, threads, its GPU.

Two sources. With ``--rank-io wrapper`` each rank's wrapper samples its own
command's process tree every 2 s into ``stats/rank-<N>.jsonl`` in the run
directory (``ezpz_core.procstats``), on every host: that is read here. In label
mode no process of ours runs beside the ranks, so the console samples the ranks
it can see itself, on this host only (descendants of the ``--run`` session when
that session runs here), and says that other hosts need the wrapper.

Samples also feed two heatmaps (``Activity`` fed CPU and GPU percent per sample
instead of line counts), so the activity view can show who is starved.
"""

from __future__ import annotations

import math
import socket
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from ezpz_core.run.rankstats import StatsTail, Usage
from ezpz_tui.watch.heatmap import Activity

if TYPE_CHECKING:
    from ezpz_tui.watch.localusage import LocalSampler

LOCAL_EVERY_S = 2.0  # the console samples this host as often as a wrapper would
USAGE_BUCKET_S = 2.0


class UsageFeed:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        # the heatmaps keep the history (bounded buckets): no per-rank deques here
        self.tail = StatsTail(self.run_dir, history_len=0)
        self.latest: dict[int, Usage] = {}
        self.source: str | None = None  # "wrapper" or "local" once samples came
        self.note = ""  # what the view says about where the figures come from
        self.cpu = Activity(bucket_s=USAGE_BUCKET_S)
        self.gpu = Activity(bucket_s=USAGE_BUCKET_S)
        self.gpus = False  # any rank reported a GPU
        self.version = 0  # +1 with every batch of new samples
        self._local: LocalSampler | None = None
        self._local_for: tuple[str, int] | None = None
        self._local_at = 0.0

    def poll(
        self, now: float, rank_io: str | None, host: str | None, pid: int | None, running: bool
    ) -> list[Usage]:
        """Read new samples; returns them ([]: the figures did not change)."""
        samples = self.tail.poll()
        if not samples and not self.tail.seen and rank_io != "wrapper":
            samples = self._sample_here(now, host, pid, running)
        if not samples:
            if self.source is None:
                self.note = self._waiting(rank_io, host)
            return []
        self.source = samples[-1].source
        self.version += 1
        for sample in samples:
            self.latest[sample.rank] = sample
        self._feed(samples)
        self.note = self._described(host)
        return samples

    def _sample_here(
        self, now: float, host: str | None, pid: int | None, running: bool
    ) -> list[Usage]:
        if not running or pid is None or host != socket.gethostname():
            return []
        if now - self._local_at < LOCAL_EVERY_S:
            return []
        self._local_at = now
        if self._local is None or self._local_for != (host, pid):
            from ezpz_tui.watch.localusage import LocalSampler  # psutil, when needed

            self._local, self._local_for = LocalSampler(pid, host), (host, pid)
        return self._local.sample(now)

    def _feed(self, samples: list[Usage]) -> None:
        by_time: dict[float, tuple[Counter[int], Counter[int]]] = {}
        for s in samples:
            t = math.floor(s.t / USAGE_BUCKET_S) * USAGE_BUCKET_S  # one add per period
            cpu, gpu = by_time.setdefault(t, (Counter(), Counter()))
            if s.cpu is not None:
                cpu[s.rank] += max(1, round(s.cpu))
            if s.gpu is not None:
                self.gpus = True
                gpu[s.rank] += max(1, round(s.gpu))
        for t, (cpu, gpu) in sorted(by_time.items()):
            self.cpu.add_counts(cpu, t)
            self.gpu.add_counts(gpu, t)

    def _waiting(self, rank_io: str | None, host: str | None) -> str:
        if rank_io == "wrapper":
            return "resource use: waiting for the ranks' first samples"
        if host is not None and host != socket.gethostname():
            return f"resource use: the run is on {host}; sampling it needs --rank-io wrapper"
        return "resource use: none yet"

    def _described(self, host: str | None) -> str:
        if self.source == "local":
            return (
                f"resource use of {host or 'this host'} only (sampled by the console); "
                "other hosts need --rank-io wrapper"
            )
        return "resource use from each rank's wrapper, every 2 s"
