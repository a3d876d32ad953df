"""A chatty job for the benchmarks: ``--lines N`` lines of about 100 characters per rank.

Every line is fixed by its rank and index, so a run's output can be checked afterwards
(``rank_text`` yields the same text the job wrote; ``rank_bytes`` its size, without
generating it). Two kinds of line:

* ``--metrics``: ezpz-style step lines, the step counting up from 1 and the values
  varying with rank and index (a period of ``PERIOD`` lines)::

    [2026-12-01 10:00:00][I][ezpz/train:412] step=17 loss=4.181726 dt=0.0441 samples_per_s=562441.2

* plain (default): lines of the same length with no ``step``/``iter`` word in them,
  so the log-metrics parser skips them (one line, wrapped here)::

    [2026-12-01 10:00:00][I][ezpz/data:88] rank 0 record 17 shard 00418 read 4096
    samples in 0.0441s ok

The job writes ``PERIOD`` lines per ``sys.stdout.write`` (about 100 KB), formatted
with one ``%`` over a prepared template, so it forwards millions of lines a second
and the launcher's pace is what a benchmark measures, not the generator's.

``--label openmpi`` prefixes every line with Open MPI's ``--tag-output`` label
(``[1,R]<stdout>: ``) itself, and with ``--ranks K`` one process writes K ranks' lines
interleaved line by line (rank 0, 1, ..., 0, 1, ...): the label-mode pipeline's input
without a launcher (``ezpz-tui --run --launcher none -- python bench/chatty.py --label
openmpi --ranks 2 ...``).

The rank is ``--rank``, else the launcher's environment (``OMPI_COMM_WORLD_RANK``,
``PMIX_RANK``, ``PMI_RANK``, ``RANK``), else 0. Stdlib only.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Iterator

PERIOD = 1000  # lines per write, and the period of the varying values
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "RANK")
_STAMP = "[2026-12-01 10:00:00][I]"


def _tails(rank: int, metrics: bool) -> list[str]:
    """What follows the index on line ``k`` of each period: fixed width, varying values."""
    tails = []
    for k in range(PERIOD):
        h = (k * 2654435761 + rank * 40503 + 12345) % 4294967296
        loss = 1_000_000 + h % 8_999_999  # 1.000000 .. 9.999998
        dt = 100 + (h >> 8) % 900  # 0.0100 .. 0.0999
        sps = 1_000_000 + (h >> 4) % 8_999_999  # 100000.0 .. 999999.8
        if metrics:
            tails.append(
                f" loss={loss // 1_000_000}.{loss % 1_000_000:06d} dt=0.{dt:04d}"
                f" samples_per_s={sps // 10}.{sps % 10}\n"
            )
        else:
            tails.append(f" shard {h % 100000:05d} read 4096 samples in 0.{dt:04d}s ok\n")
    return tails


def _head(rank: int, metrics: bool) -> str:
    if metrics:
        return f"{_STAMP}[ezpz/train:412] step="
    return f"{_STAMP}[ezpz/data:88] rank {rank} record "


def _label(kind: str | None, rank: int) -> str:
    return f"[1,{rank}]<stdout>: " if kind == "openmpi" else ""


def _template(ranks: list[int], metrics: bool, label: str | None, count: int) -> str:
    """``count`` lines per rank, interleaved, each with a ``%d`` where its index goes."""
    heads = {r: _label(label, r) + _head(r, metrics).replace("%", "%%") + "%d" for r in ranks}
    tails = {r: [t.replace("%", "%%") for t in _tails(r, metrics)] for r in ranks}
    return "".join(heads[r] + tails[r][k] for k in range(count) for r in ranks)


def chunks(ranks: list[int], lines: int, metrics: bool, label: str | None = None) -> Iterator[str]:
    """The text the job writes, ``PERIOD`` lines per rank at a time."""
    full = _template(ranks, metrics, label, PERIOD)
    width = len(ranks)
    offset = 1 if metrics else 0  # steps count from 1, records from 0
    start = 0
    while start < lines:
        count = min(PERIOD, lines - start)
        template = full if count == PERIOD else _template(ranks, metrics, label, count)
        first = start + offset
        if width == 1:
            values = tuple(range(first, first + count))
        else:
            values = tuple(
                itertools.chain.from_iterable(
                    zip(*[range(first, first + count)] * width, strict=True)
                )
            )
        yield template % values
        start += count


def rank_text(rank: int, lines: int, metrics: bool) -> Iterator[str]:
    """One rank's lines as its rank log should hold them (no label)."""
    return chunks([rank], lines, metrics)


def first_last(rank: int, lines: int, metrics: bool) -> tuple[str, str]:
    """The first and the last line of a rank (without the newline)."""
    first = next(rank_text(rank, 1, metrics)).rstrip("\n")
    offset = 1 if metrics else 0
    k = (lines - 1) % PERIOD
    last = _head(rank, metrics) + str(lines - 1 + offset) + _tails(rank, metrics)[k]
    return first, last.rstrip("\n")


def _digits_total(lo: int, hi: int) -> int:
    """Sum of ``len(str(i))`` for ``lo <= i < hi`` (non-negative ints)."""
    total, width, start = 0, 1, 0
    while start < hi:
        end = 10**width
        a, b = max(lo, start), min(hi, end)
        if a < b:
            total += (b - a) * width
        start, width = end, width + 1
    return total


def rank_bytes(rank: int, lines: int, metrics: bool, label: str | None = None) -> int:
    """Bytes of a rank's ``lines`` lines (with ``label``'s prefix), without generating them."""
    tails = _tails(rank, metrics)
    fixed = len(_label(label, rank)) + len(_head(rank, metrics))
    full, rest = divmod(lines, PERIOD)
    tail_bytes = full * sum(map(len, tails)) + sum(map(len, tails[:rest]))
    offset = 1 if metrics else 0
    return lines * fixed + tail_bytes + _digits_total(offset, lines + offset)


def _env_rank() -> int:
    for name in _RANK_VARS:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=float, default=1e6, help="lines per rank")
    parser.add_argument("--metrics", action="store_true", help="ezpz step lines with metrics")
    parser.add_argument("--label", choices=["openmpi"], help="prefix lines with this label")
    parser.add_argument("--rank", type=int, help="the rank (default: from the environment)")
    parser.add_argument(
        "--ranks", type=int, default=1, help="with --label: write ranks 0..K-1 interleaved"
    )
    args = parser.parse_args(argv)
    if args.ranks > 1 and not args.label:
        parser.error(
            "--ranks needs --label (unlabelled lines of several ranks can't be told apart)"
        )
    ranks = (
        list(range(args.ranks))
        if args.ranks > 1
        else [_env_rank() if args.rank is None else args.rank]
    )
    write = sys.stdout.write
    for text in chunks(ranks, int(args.lines), args.metrics, args.label):
        write(text)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
