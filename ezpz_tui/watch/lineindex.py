"""A sparse line index over a log file that may still be growing.

A finished run can leave a 600 MB ``combined.log`` of 10,000,000 lines, and the
console must show it within a second and stay under 250 MB. So the file is never
loaded: the index keeps the byte offset of every ``STRIDE``-th line start (one
8-byte offset per 64 lines: 1.25 MB for 10M lines), and the text of a line is
read with ``os.pread`` only when a view asks for it, one stride block at a time,
through a small LRU cache of split blocks.

``update`` reads only the bytes written since the last call, and only whole
lines: a partial last line waits until its newline arrives (``final=True``
takes it as it is, for a file whose writer has ended). A file that is shorter
than what was indexed, or that no longer ends a line where the index ended, or
whose path now names another file (rotated, replaced), is indexed again from
the start: ``resets`` counts those, and the next ``update`` returns lines from 0.

A big finished file is indexed in steps: each ``update(max_bytes)`` call does a
bounded amount of work, and returns the new lines so the other models (collapse,
search, rank counts) are fed from the same read. To show the newest screen
before the index reaches it, read the tail on its own with ``tail`` (or
``scan_from`` a byte offset): those read whole lines without touching the index.

Lines are bytes without their ``\\n`` (invalid UTF-8 kept; decoding is the
view's business). ``update`` runs on the watcher thread while views call
``lines``: the index's state is changed and read under a lock, and the large
read of ``update`` happens outside it.
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

STRIDE = 64  # one stored offset per this many lines
CACHE_BLOCKS = 256  # blocks of STRIDE lines kept split in memory (about 1-2 MB of text)
CACHE_BYTES = 16 << 20  # and at most this much text in them (long lines make big blocks)
UPDATE_BYTES = 8 << 20  # default bound on the bytes one update reads
TAIL_BYTES = 1 << 16  # first window a tail read tries (doubles until it has enough lines)


@dataclass(frozen=True)
class Chunk:
    """Whole lines read from a byte range: ``lines`` cover bytes ``start`` to ``end``."""

    start: int
    end: int
    lines: list[bytes]


def _pread(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (fewer only at the end of the file)."""
    data = os.pread(fd, size, offset)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = os.pread(fd, size - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _split_block(data: bytes) -> list[bytes]:
    """The lines of a block of whole lines (the last may lack its newline: ``final``)."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines


class LineIndex:
    """Line numbers -> bytes of a growing file, with one stored offset per ``STRIDE`` lines."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        cache_blocks: int = CACHE_BLOCKS,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.path = Path(path)
        self.resets = 0  # times the file was truncated or replaced and indexed again
        self._cache_blocks = max(1, cache_blocks)
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._clear()

    def _clear(self) -> None:
        self._starts = array("Q")  # byte offset of line k * STRIDE
        self._count = 0  # whole lines indexed
        self._end = 0  # byte just past the last indexed line
        self._open_tail = False  # the last line was taken without its newline (final=True)
        # block -> (its lines, its bytes); the most recently used last
        self._cache: OrderedDict[int, tuple[list[bytes], int]] = OrderedDict()
        self._cached_bytes = 0

    # -- what is indexed ----------------------------------------------------------
    @property
    def count(self) -> int:
        """Lines indexed so far."""
        return self._count

    @property
    def end(self) -> int:
        """The byte just past the last indexed line (where the next ``update`` reads)."""
        return self._end

    @property
    def nbytes(self) -> int:
        """Memory of the stored offsets (the cached blocks come on top: ``CACHE_BLOCKS``)."""
        return self._starts.itemsize * len(self._starts)

    def __len__(self) -> int:
        return self._count

    # -- reading new lines ----------------------------------------------------------
    def _reopen(self) -> int | None:
        """The open file, reopened when the path names another one; resets on
        truncation. Called under the lock. None while the file does not exist."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) != self._ident:
            if self._fd is not None:  # replaced: a new file at the same path
                os.close(self._fd)
                self._fd = None
                self._reset()
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
            fst = os.fstat(fd)
            self._fd, self._ident = fd, (fst.st_dev, fst.st_ino)
        return self._fd  # a deleted file still open keeps being read

    def _reset(self) -> None:
        self._clear()
        self.resets += 1

    def _check_size(self, fd: int) -> int:
        """The file's size, after resetting the index if the file no longer holds it."""
        size = os.fstat(fd).st_size
        end = self._end
        if end == 0:
            return size
        if size < end or (self._open_tail and size > end):
            self._reset()
        elif not self._open_tail and os.pread(fd, 1, end - 1) != b"\n":
            self._reset()  # truncated and written again past our end
        return size

    def update(
        self, max_bytes: int = UPDATE_BYTES, *, final: bool = False
    ) -> tuple[int, list[bytes]]:
        """Index the whole lines written since the last call, reading at most about
        ``max_bytes`` (more only for one line longer than that).

        Returns the number of the first new line and the new lines. After a reset
        (see ``resets``) the first new line is 0. ``final``: the writer is done, so
        a last line without its newline is taken as it is."""
        with self._lock:
            fd = self._reopen()
            if fd is None:
                return self._count, []
            size = self._check_size(fd)
            start = self._end
            count = self._count
        if size <= start:
            return count, []
        step = max(1, min(max_bytes, size - start))
        data = _pread(fd, step, start)
        cut = data.rfind(b"\n")
        while cut < 0 and start + len(data) < size:  # one line longer than max_bytes
            more = _pread(fd, min(step, size - start - len(data)), start + len(data))
            if not more:
                break
            found = more.find(b"\n")
            if found >= 0:
                cut = len(data) + found
            data += more
        if final and start + len(data) >= size and data and not data.endswith(b"\n"):
            cut = len(data) - 1  # the writer is done: its last line has no newline
            open_tail = True
            lines = data.split(b"\n")
        elif cut < 0:
            return count, []
        else:
            open_tail = False
            if cut + 1 == len(data):
                lines = data.split(b"\n")
                lines.pop()  # the b"" after the last newline
            else:
                lines = data[:cut].split(b"\n")  # a partial line follows: it waits
        new_starts = self._stride_starts(count, start, lines)
        with self._lock:
            if self._end != start or self._count != count:
                return self._count, []  # reset by another caller meanwhile
            self._starts.extend(new_starts)
            self._count = count + len(lines)
            self._end = start + cut + 1
            self._open_tail = open_tail
        return count, lines

    @staticmethod
    def _stride_starts(count: int, start: int, lines: list[bytes]) -> array[int]:
        """Offsets of the new lines whose number is a multiple of ``STRIDE``: one
        C-level ``sum(map(len, ...))`` per block of lines, nothing per line."""
        j = (-count) % STRIDE
        out = array("Q")
        n = len(lines)
        if j >= n:
            return out
        pos = start + sum(map(len, lines[:j])) + j
        out.append(pos)
        j += STRIDE
        while j < n:
            pos += sum(map(len, lines[j - STRIDE : j])) + STRIDE
            out.append(pos)
            j += STRIDE
        return out

    # -- reading indexed lines ------------------------------------------------------------
    def _block(self, b: int) -> list[bytes]:
        """The lines of block ``b`` (lines ``b*STRIDE`` onwards), from the cache or
        one ``pread``. Called under the lock."""
        expected = min(STRIDE, self._count - b * STRIDE)
        cache = self._cache
        cached = cache.get(b)
        if cached is not None:
            if len(cached[0]) == expected:
                cache.move_to_end(b)
                return cached[0]
            del cache[b]  # the last block, grown since
            self._cached_bytes -= cached[1]
        start = self._starts[b]
        stop = self._starts[b + 1] if b + 1 < len(self._starts) else self._end
        fd = self._fd
        if fd is None:
            return [b""] * expected
        lines = _split_block(_pread(fd, stop - start, start))
        if len(lines) != expected:  # changed under us: the next update resets
            return (lines + [b""] * expected)[:expected]
        cache[b] = (lines, stop - start)
        self._cached_bytes += stop - start
        while len(cache) > 1 and (
            len(cache) > self._cache_blocks or self._cached_bytes > self._cache_bytes
        ):
            self._cached_bytes -= cache.popitem(last=False)[1][1]
        return lines

    def lines(self, start: int, stop: int) -> list[bytes]:
        """Lines ``start`` to ``stop`` (exclusive), clamped to what is indexed."""
        with self._lock:
            start = max(0, start)
            stop = min(stop, self._count)
            if start >= stop:
                return []
            first, last = start // STRIDE, (stop - 1) // STRIDE
            if first == last:
                base = first * STRIDE
                return self._block(first)[start - base : stop - base]
            out: list[bytes] = []
            for b in range(first, last + 1):
                base = b * STRIDE
                out.extend(self._block(b)[max(0, start - base) : stop - base])
            return out

    def line(self, i: int) -> bytes:
        """Line ``i``; IndexError when it is not indexed."""
        if not 0 <= i < self._count:
            raise IndexError(f"line {i} of {self.path} is not indexed ({self._count} lines)")
        return self.lines(i, i + 1)[0]

    def offset_of(self, i: int) -> int:
        """The byte where line ``i`` starts (``end`` for ``i == count``)."""
        with self._lock:
            if i == self._count:
                return self._end
            if not 0 <= i < self._count:
                raise IndexError(f"line {i} of {self.path} is not indexed ({self._count} lines)")
            b, k = divmod(i, STRIDE)
            block = self._block(b)
            return self._starts[b] + sum(map(len, block[:k])) + k

    def line_at_offset(self, offset: int) -> int:
        """The line holding byte ``offset`` (``count`` at or past ``end``, 0 before 0)."""
        with self._lock:
            if offset >= self._end:
                return self._count
            if offset <= 0:
                return 0
            b = bisect_right(self._starts, offset) - 1
            pos = self._starts[b]
            for k, text in enumerate(self._block(b)):
                pos += len(text) + 1
                if offset < pos:
                    return b * STRIDE + k
            return min(self._count, (b + 1) * STRIDE)  # not reached for a consistent file

    # -- reading without the index ------------------------------------------------------------
    def scan_from(self, offset: int, max_bytes: int = UPDATE_BYTES) -> Chunk:
        """Whole lines from the first line start at or after ``offset``, about
        ``max_bytes`` of them, read straight from the file (the index is not
        touched): for the newest screen of a big file before the index gets there."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return Chunk(offset, offset, [])
        try:
            size = os.fstat(fd).st_size
            offset = max(0, min(offset, size))
            if offset > 0 and os.pread(fd, 1, offset - 1) != b"\n":
                # mid-line: skip to the next line start
                pos = offset
                while pos < size:
                    piece = os.pread(fd, 1 << 16, pos)
                    nl = piece.find(b"\n")
                    if nl >= 0:
                        pos += nl + 1
                        break
                    pos += len(piece)
                offset = min(pos, size)
            data = _pread(fd, max(1, min(max_bytes, size - offset)), offset)
            cut = data.rfind(b"\n")
            if cut < 0:
                return Chunk(offset, offset, [])
            lines = data[:cut].split(b"\n")
            return Chunk(offset, offset + cut + 1, lines)
        finally:
            os.close(fd)

    def tail(self, n: int) -> Chunk:
        """The last ``n`` whole lines of the file, read backwards from its end."""
        if n <= 0:
            return Chunk(0, 0, [])
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return Chunk(0, 0, [])
        window = TAIL_BYTES
        while True:
            chunk = self.scan_from(max(0, size - window), max_bytes=window)
            if len(chunk.lines) >= n or chunk.start == 0:
                lines = chunk.lines[-n:]
                start = chunk.end - sum(map(len, lines)) - len(lines)
                return Chunk(start, chunk.end, lines)
            window *= 2

    # -- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        """Close the file (after the watcher thread stopped calling ``update``)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self._ident = None
            self._cache.clear()
            self._cached_bytes = 0

    def __enter__(self) -> LineIndex:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
