"""The jobs ``runview.py`` runs: one process writing labelled lines for many ranks.

Two modes, both writing Open MPI ``--tag-output``-labelled lines (``[1,R]<stdout>: ``),
so ``ezpz-tui --run --launcher none`` tells the ranks apart exactly as it does behind
``mpirun``; this is how one process stands in for 1,024 ranks on a 2-core machine:

* flood (default): ``--ranks K --lines N``: N rounds, each one line from every rank
  (rank 0, 1, ..., K-1), about 100 characters a line, one ``write`` per round
  (about 100 KB for 1,024 ranks), as fast as Python can::

    [1,17]<stdout>: [2026-12-01 10:00:00][I][ezpz/data:88] rank 17 record 5 shard 00017 ...

  The round's text is one ``%`` over a template made once, so the job writes
  several million lines a second and the pipeline's pace is what is measured.
  Every rank prints the same banner first (the merged pane collapses it).
* ticker: ``--tick 0.1 --count N``: N lines, one every 0.1 s, each flushed at
  once and stamped with its ``time.time()`` (``tick=K t=1790000000.123456``), the
  rank going round ``--ranks``: how late a line reaches the screen.

``flood_bytes`` gives a flood's exact size without generating it. Stdlib only.
"""

from __future__ import annotations

import argparse
import sys
import time

STAMP = "[2026-12-01 10:00:00][I]"
BANNER = "[ezpz] torch.distributed initialised: backend=gloo world_size=%d"


def label(rank: int) -> str:
    return f"[1,{rank}]<stdout>: "


def _tail(rank: int) -> str:
    return f" shard {rank * 7919 % 100000:05d} read 4096 samples in 0.0441s ok\n"


def template(ranks: int) -> str:
    """One round: a line from every rank, each with a ``%d`` where the round goes."""
    return "".join(
        f"{label(r)}{STAMP}[ezpz/data:88] rank {r} record %d{_tail(r)}" for r in range(ranks)
    )


def banner(ranks: int) -> str:
    return "".join(f"{label(r)}{BANNER % ranks}\n" for r in range(ranks))


def flood_bytes(ranks: int, lines: int) -> int:
    """Bytes of ``--ranks ranks --lines lines`` (banner included)."""
    fixed = len(template(ranks).encode()) - 2 * ranks  # without the %d's
    digits = sum(len(str(i)) for i in range(lines))
    return len(banner(ranks).encode()) + lines * fixed + ranks * digits


def rank_bytes(rank: int, ranks: int, lines: int) -> int:
    """Bytes of one rank's lines as its rank log holds them (no label, banner included)."""
    one = f"{STAMP}[ezpz/data:88] rank {rank} record {_tail(rank)}"
    digits = sum(len(str(i)) for i in range(lines))
    return len(BANNER % ranks) + 1 + lines * len(one.encode()) + digits


def flood(ranks: int, lines: int) -> None:
    write = sys.stdout.write
    write(banner(ranks))
    text = template(ranks)
    for i in range(lines):
        write(text % ((i,) * ranks))
    sys.stdout.flush()


def tick(every: float, count: int, ranks: int) -> None:
    start = time.monotonic()
    for k in range(count):
        delay = start + k * every - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sys.stdout.write(f"{label(k % ranks)}tick={k} t={time.time():.6f}\n")
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=1024)
    parser.add_argument("--lines", type=int, default=1000, help="flood: lines per rank")
    parser.add_argument("--tick", type=float, help="ticker: seconds between lines")
    parser.add_argument("--count", type=int, default=50, help="ticker: lines in all")
    args = parser.parse_args(argv)
    if args.tick is not None:
        tick(args.tick, args.count, args.ranks)
    else:
        flood(args.ranks, args.lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
