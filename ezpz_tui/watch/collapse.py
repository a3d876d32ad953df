"""Collapse identical lines printed by many ranks into one row of the merged pane.

When 1,024 ranks print the same ``Loading checkpoint...``, the merged pane shows
it once, labelled ``\u00d71,024 ranks 0-1023`` (a multiplication sign), and can
expand it in place. The rule, applied line by line in arrival order:

* a rank's line whose text (exact bytes) equals the text of a row that began at
  most ``window_lines`` lines earlier, printed by other ranks, joins that row:
  the line is not a row of its own, and the row's count and rank set grow;
* a rank that is already in that row's group (it printed the text again) starts
  a new row, which later ranks then join;
* the launcher lane (rank -1, and any negative rank) never collapses: its lines
  neither join a row nor are joined.

The window is measured from the row's first line, so a group never spans more
than ``window_lines + 1`` lines and every structure is bounded: texts seen in
the window (a dict, swept as the window moves; texts over ``KEY_BYTES`` are
kept as a digest), the groups still open to joins
(Python objects, at most one per line of the window), and the ranks of the last
window's lines (a ring). A group whose window has passed is frozen into flat
arrays: per group its first line and where its members start, per member its
offset from the group's first line and its rank (2 + 2 bytes, wider only for
windows over 65,535 lines or ranks over 65,535). So 1,024 ranks each printing
10,000 lines identical across ranks cost about 40 MB, never an object per line.

``feed`` takes batches in order and returns, per line, whether it starts a row
(``RowSet.extend`` takes that list as it is). Batches whose texts are all new
(the usual ``step=... rank 7`` lines differ by rank) are handled with C-level
set and dict operations; only batches with repeats go through the per-line loop.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ezpz_core.run.events import LAUNCHER

WINDOW_LINES = 4096
KEY_BYTES = 512  # longer texts are remembered by a digest: the window's memory stays bounded
CHUNK = 1024  # lines tested at once for the all-new fast path
TIMES = "\u00d7"  # the multiplication sign of "\u00d71,024 ranks"
LABEL_RANKS_CHARS = 60  # longest rank list in a label before it is cut with "…"


def rank_spans(ranks: Iterable[int], limit: int | None = None) -> str:
    """Ranks as compact ranges: ``0-3,7``; ``limit`` cuts the text at about that
    many characters with ``,…``."""
    ordered = sorted(set(ranks))
    parts: list[str] = []
    size = 0
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        part = str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}"
        if limit is not None and parts and size + len(part) + 1 > limit:
            parts.append("…")
            break
        parts.append(part)
        size += len(part) + 1
        i = j + 1
    return ",".join(parts)


@dataclass(frozen=True)
class Group:
    """A collapsed row: the line it starts at and the ranks whose lines it stands for."""

    line: int
    ranks: tuple[int, ...]  # sorted; one line per rank

    @property
    def count(self) -> int:
        """Lines the row stands for (one per rank)."""
        return len(self.ranks)

    def label(self, limit: int | None = LABEL_RANKS_CHARS) -> str:
        """``\u00d71,024 ranks 0-1023``; empty for a row of one line."""
        if self.count < 2:
            return ""
        return f"{TIMES}{self.count:,} ranks {rank_spans(self.ranks, limit)}"


class _Open:
    """A group that later lines may still join (its first line is within the window)."""

    __slots__ = ("head", "offsets", "rank_set", "ranks")

    def __init__(self, head: int, head_rank: int) -> None:
        self.head = head
        self.offsets = [0]
        self.ranks = [head_rank]
        self.rank_set = {head_rank}


Key = bytes | tuple[int, bytes]  # a text, or (length, digest) of a long one


def _keys(texts: Sequence[bytes]) -> Sequence[Key]:
    """The texts as they are remembered: long ones by their length and a 16-byte
    digest (a tuple never equals a text). One C-level ``max`` when none is long."""
    if not texts or max(map(len, texts)) <= KEY_BYTES:
        return texts
    return [
        t if len(t) <= KEY_BYTES else (len(t), hashlib.blake2b(t, digest_size=16).digest())
        for t in texts
    ]


def _ring_size(window: int) -> int:
    size = 1
    while size <= window:
        size <<= 1
    return size


class Collapser:
    """Which lines join an earlier identical row from other ranks; the groups formed."""

    def __init__(self, window_lines: int = WINDOW_LINES) -> None:
        if window_lines < 1:
            raise ValueError(f"window_lines must be >= 1, not {window_lines}")
        self.window_lines = window_lines
        self._ring_mask = _ring_size(window_lines) - 1
        self.clear()

    def clear(self) -> None:
        """Forget everything (the file was truncated or replaced)."""
        self._next = 0  # the next line feed expects
        self._recent: dict[Key, int] = {}  # text -> the line of its newest row (if in window)
        self._open: dict[int, _Open] = {}  # first line -> open group
        self._ring = array("i", bytes(4 * (self._ring_mask + 1)))  # ranks of recent lines
        self._swept = 0  # line at the last sweep
        # frozen groups, in order of their first line
        self._heads = array("I")
        self._starts = array("I")  # where each group's members start in the two arrays below
        self._offsets = array("H" if self.window_lines <= 0xFFFF else "I")
        self._ranks = array("H")  # widened to "I" when a rank needs it

    @property
    def lines(self) -> int:
        """Lines fed so far."""
        return self._next

    @property
    def nbytes(self) -> int:
        """Memory of the frozen groups' arrays (for the benchmarks)."""
        arrays = (self._heads, self._starts, self._offsets, self._ranks, self._ring)
        return sum(a.itemsize * len(a) for a in arrays)

    # -- feeding -------------------------------------------------------------------
    def feed(self, first_line: int, ranks: Sequence[int], texts: Sequence[bytes]) -> list[bool]:
        """Lines ``first_line`` onwards: per line True when it starts a row, False
        when it joined an earlier row. Batches must follow each other."""
        if first_line != self._next:
            raise ValueError(
                f"lines must be fed in order: expected line {self._next}, got {first_line}"
            )
        n = len(texts)
        if len(ranks) != n:
            raise ValueError(f"{len(ranks)} ranks for {n} lines")
        flags = [True] * n
        if n == 0:
            return flags
        recent = self._recent
        window = self.window_lines
        keys = _keys(texts)
        if self._all_new(ranks, keys):
            # no line of the batch can join anything: remember the last window's keys
            keep = max(0, n - window - 1)
            recent.update(zip(keys[keep:], range(first_line + keep, first_line + n), strict=True))
        else:
            for a in range(0, n, CHUNK):
                b = min(n, a + CHUNK)
                if self._all_new(ranks[a:b], keys[a:b]):
                    recent.update(
                        zip(keys[a:b], range(first_line + a, first_line + b), strict=True)
                    )
                else:
                    self._slow(first_line, a, b, ranks, keys, flags)
        self._next = first_line + n
        self._remember_ranks(first_line, ranks)
        if self._next - self._swept >= window:
            self._sweep()
        return flags

    def _all_new(self, ranks: Sequence[int], texts: Sequence[Key]) -> bool:
        """No launcher line, no text twice, none seen in the window: nothing joins."""
        if not texts or min(ranks) <= LAUNCHER:
            return not texts
        distinct = set(texts)
        return len(distinct) == len(texts) and distinct.isdisjoint(self._recent)

    def _slow(
        self,
        first: int,
        a: int,
        b: int,
        ranks: Sequence[int],
        texts: Sequence[Key],
        flags: list[bool],
    ) -> None:
        """The rule, line by line, for lines ``a`` to ``b`` of the batch."""
        recent = self._recent
        get = recent.get
        groups = self._open
        ring, mask = self._ring, self._ring_mask
        window = self.window_lines
        line = first + a
        for j in range(a, b):
            rank = ranks[j]
            if rank < 0:  # the launcher lane: a row, never remembered
                line += 1
                continue
            text = texts[j]
            head = get(text)
            if head is None or line - head > window:
                recent[text] = line
            else:
                group = groups.get(head)
                if group is None:
                    head_rank = ranks[head - first] if head >= first else ring[head & mask]
                    if head_rank == rank:
                        recent[text] = line  # the same rank again: a new row
                    else:
                        group = groups[head] = _Open(head, head_rank)
                        group.offsets.append(line - head)
                        group.ranks.append(rank)
                        group.rank_set.add(rank)
                        flags[j] = False
                elif rank in group.rank_set:
                    recent[text] = line  # this rank is already in the group: a new row
                else:
                    group.offsets.append(line - head)
                    group.ranks.append(rank)
                    group.rank_set.add(rank)
                    flags[j] = False
            line += 1

    def _remember_ranks(self, first: int, ranks: Sequence[int]) -> None:
        """Keep the ranks of the last ring's worth of lines (for heads of later joins)."""
        ring, size = self._ring, self._ring_mask + 1
        n = len(ranks)
        j = max(0, n - size)
        while j < n:
            pos = (first + j) & self._ring_mask
            take = min(n - j, size - pos)
            ring[pos : pos + take] = array("i", ranks[j : j + take])
            j += take

    def _sweep(self) -> None:
        """Forget texts whose rows left the window; freeze the groups that did."""
        cutoff = self._next - self.window_lines
        self._swept = self._next
        self._recent = {t: h for t, h in self._recent.items() if h >= cutoff}
        closed = sorted(h for h in self._open if h < cutoff)
        for head in closed:
            group = self._open.pop(head)
            self._freeze(group)

    def _freeze(self, group: _Open) -> None:
        self._heads.append(group.head)
        self._starts.append(len(self._offsets))
        self._offsets.extend(group.offsets)
        try:
            self._ranks.extend(group.ranks)
        except OverflowError:  # a rank past 65,535: widen once
            self._ranks = array("I", self._ranks)
            del self._ranks[self._starts[-1] :]
            self._ranks.extend(group.ranks)

    # -- what the views ask ---------------------------------------------------------
    def _members(self, line: int) -> tuple[list[int], list[int]] | None:
        """(offsets, ranks) of the group that starts at ``line``, or None."""
        group = self._open.get(line)
        if group is not None:
            return group.offsets, group.ranks
        i = bisect_left(self._heads, line)
        if i == len(self._heads) or self._heads[i] != line:
            return None
        start = self._starts[i]
        stop = self._starts[i + 1] if i + 1 < len(self._starts) else len(self._offsets)
        return self._offsets[start:stop].tolist(), self._ranks[start:stop].tolist()

    def group(self, line: int) -> Group | None:
        """The group a row starting at ``line`` stands for; None for a row of one
        line (and for lines that joined another row)."""
        found = self._members(line)
        if found is None:
            return None
        return Group(line, tuple(sorted(found[1])))

    def members(self, line: int) -> list[tuple[int, int]]:
        """(rank, line) of every line the row at ``line`` stands for, itself first
        and then in order; empty when it is a row of one line."""
        found = self._members(line)
        if found is None:
            return []
        offsets, ranks = found
        return [(rank, line + offset) for offset, rank in zip(offsets, ranks, strict=True)]
