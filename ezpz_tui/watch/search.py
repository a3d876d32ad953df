"""Search and filter over a log's lines: hits by line number, counts per rank.

A search may run over all 10,000,000 lines of a finished run and then follow
the live ones, so it is fed batches of lines (the same batches the line index
returns) and keeps only what it finds: the hit line numbers in an
``array('I')`` (4 bytes a hit) and a count per rank.

Lines are bytes, so the pattern is encoded (UTF-8) and matched as bytes; case
folding is ASCII's (``re.IGNORECASE`` on bytes, ``bytes.lower``). A line
matches when the pattern occurs anywhere in it (plain text: a substring).

Most batches hold no hit at all, and most hits are rare, so a batch is first
searched as one joined block: ``bytes.count`` of the plain text (of the lowered
block when case does not matter) or one ``re.search`` over the block. No hit
there: done, at C speed. Few plain hits: each is walked to its line. Many: the
lines are searched one by one with a C-level ``map``. A regex searched as one
block may match across a newline (``\\s``, ``[^x]``): that only sends the batch
to the per-line pass. Constructs whose meaning changes next to a newline
(``\\A``, ``\\Z``, lookarounds, possessive and atomic groups) skip the block
test, so no line is ever missed.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

SPARSE = 8  # plain hits rarer than one per this many lines are walked in the block
_BLOCK_UNSAFE = (r"\A", r"\Z", "(?<", "(?=", "(?!", "(?>", "*+", "++", "?+", "}+")
_MAX_I = 0xFFFFFFFF


@dataclass(frozen=True)
class SearchSpec:
    """What to look for, as the find bar says it."""

    text: str
    regex: bool = False
    case: bool = False  # True: case matters
    invert: bool = False  # filter mode: keep the lines that do not match

    def compile(self) -> re.Pattern[bytes]:
        """The pattern over a line's bytes; ValueError with a message for the user
        when ``text`` is not a valid regular expression."""
        source = self.text.encode("utf-8", "surrogateescape")
        if not self.regex:
            source = re.escape(source)
        flags = re.MULTILINE | (0 if self.case else re.IGNORECASE)
        try:
            return re.compile(source, flags)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            raise ValueError(
                f"not a valid regular expression: {self.text!r} ({exc.msg}{where})"
            ) from None


class Search:
    """Hits of one ``SearchSpec`` over the lines fed so far."""

    def __init__(self, spec: SearchSpec) -> None:
        self.spec = spec
        self.pattern = spec.compile()
        self.hits: array[int] = array("I")  # line numbers, ascending
        self.per_rank: Counter[int] = Counter()  # rank (-1: launcher lane) -> hits
        self._next = 0  # lines before this were fed
        needle = None
        if not spec.regex:
            needle = spec.text.encode("utf-8", "surrogateescape")
            needle = needle if spec.case else needle.lower()
        self._needle = needle
        self._block_test = spec.regex and not any(s in spec.text for s in _BLOCK_UNSAFE)

    @property
    def total(self) -> int:
        """Lines that match."""
        return len(self.hits)

    @property
    def lines(self) -> int:
        """Lines fed so far (the next ``feed`` starts at or after this line)."""
        return self._next

    # -- matching --------------------------------------------------------------
    def _matching(self, texts: Sequence[bytes]) -> list[int]:
        """Indexes of the lines of ``texts`` where the pattern occurs."""
        n = len(texts)
        if n == 0:
            return []
        needle = self._needle
        if needle is not None:
            if not needle:
                return list(range(n))
            if b"\n" in needle:
                return []
            block = b"\n".join(texts)
            if not self.spec.case:
                block = block.lower()
            found = block.count(needle)
            if found == 0:
                return []
            if found * SPARSE < n:
                return _walk(block, needle)
            return list(compress(range(n), map(self.pattern.search, texts)))
        if self._block_test and self.pattern.search(b"\n".join(texts)) is None:
            return []
        return list(compress(range(n), map(self.pattern.search, texts)))

    def matches(self, texts: Sequence[bytes]) -> list[bool]:
        """Per line: shown by a filter of this spec (matches, or not with ``invert``).
        Nothing is recorded."""
        keep = not self.spec.invert
        flags = [not keep] * len(texts)
        for j in self._matching(texts):
            flags[j] = keep
        return flags

    def feed(self, first_line: int, ranks: Sequence[int], texts: Sequence[bytes]) -> int:
        """Record the hits among lines ``first_line`` onwards (``ranks[j]`` is line
        j's rank); returns how many. Batches must not go back: hits stay sorted."""
        if first_line < self._next:
            raise ValueError(
                f"lines must be fed in order: line {first_line} is before line {self._next}"
            )
        if len(ranks) != len(texts):
            raise ValueError(f"{len(ranks)} ranks for {len(texts)} lines")
        found = self._matching(texts)
        self._next = first_line + len(texts)
        if not found:
            return 0
        if self._next - 1 > _MAX_I and self.hits.typecode == "I":
            self.hits = array("Q", self.hits)
        self.hits.extend(map(first_line.__add__, found))
        self.per_rank.update(map(ranks.__getitem__, found))
        return len(found)

    # -- navigation ---------------------------------------------------------------
    def is_hit(self, line: int) -> bool:
        """Whether ``line`` matches."""
        i = bisect_left(self.hits, line)
        return i < len(self.hits) and self.hits[i] == line

    def count_before(self, line: int) -> int:
        """Hits before ``line`` (``count_before(hit) + 1`` is "hit k of total")."""
        return bisect_left(self.hits, line)

    def next(self, line: int) -> int | None:
        """The first hit after ``line``, wrapping to the first; None with no hits."""
        if not self.hits:
            return None
        i = bisect_right(self.hits, line)
        return self.hits[i] if i < len(self.hits) else self.hits[0]

    def prev(self, line: int) -> int | None:
        """The last hit before ``line``, wrapping to the last; None with no hits."""
        if not self.hits:
            return None
        i = bisect_left(self.hits, line)
        return self.hits[i - 1] if i > 0 else self.hits[-1]


def _walk(block: bytes, needle: bytes) -> list[int]:
    """Line indexes of ``block`` (lines joined by newlines) holding ``needle``
    (which has no newline): one ``find`` per hit line, newlines counted between."""
    out: list[int] = []
    find, count = block.find, block.count
    line = 0
    last = 0  # start of the line after the previous hit
    pos = find(needle)
    while pos >= 0:
        line += count(b"\n", last, pos)
        out.append(line)
        end = find(b"\n", pos)
        if end < 0:
            break
        last = end + 1
        line += 1
        pos = find(needle, last)
    return out
