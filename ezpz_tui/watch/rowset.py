"""Which lines of a file are rows of a view, in about 1.5 bits per line.

A log pane rarely shows every line of its file as a row: identical lines from
many ranks collapse into one row, noise lines hide, a filter keeps only its
matches. For 10,000,000 lines a list of row line numbers would cost 80 MB
(or 280 MB as Python ints); a ``RowSet`` keeps one bit per line (``bytearray``)
and, per block of 64 lines, the number of rows before it (``array('I')``), so
row -> line and line -> row are a bisect plus one 64-bit popcount.

Lines are appended in order with ``extend`` (the flags a collapser or filter
returns for a batch), packed eight to a byte at C level: nothing per line runs
in Python.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Sequence

BLOCK = 64  # lines per prefix count (one 64-bit word of the bitmap)
_ASCII01 = bytes([0x30] + [0x31] * 255)  # any true byte -> "1", 0 -> "0"


class RowSet:
    """A growing bitmap of "this line is a row", with row <-> line lookups."""

    __slots__ = ("_bits", "_lines", "_prefix", "_rows")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every line (the file was truncated or replaced)."""
        self._bits = bytearray()  # bit (i & 7) of byte i >> 3: line i is a row
        self._lines = 0
        self._rows = 0
        self._prefix = array("I", [0])  # rows before line BLOCK * b, b = 0 .. lines // BLOCK

    @property
    def rows(self) -> int:
        """How many of the lines are rows."""
        return self._rows

    @property
    def lines_count(self) -> int:
        """How many lines were appended."""
        return self._lines

    @property
    def nbytes(self) -> int:
        """Memory held by the bitmap and the counts (for the benchmarks)."""
        return len(self._bits) + self._prefix.itemsize * len(self._prefix)

    def extend(self, flags: Sequence[bool] | bytes) -> None:
        """Append the next lines: ``flags[j]`` true when line ``lines_count + j`` is a row.

        ``bytes`` are taken as they are (a zero byte is not a row), so a batch of
        all rows is ``extend(b"\\x01" * n)``."""
        ascii01 = bytes(flags).translate(_ASCII01)  # "0"/"1" per line, C-level
        m = len(ascii01)
        if not m:
            return
        n = self._lines
        bits = self._bits
        head = (-n) % 8  # lines that still fit in the last, partly used byte
        if head:
            byte = bits[-1]
            for i, flag in enumerate(ascii01[:head]):
                if flag == 0x31:
                    byte |= 1 << ((n + i) & 7)
            bits[-1] = byte
        rest = ascii01[head:]
        if rest:  # byte-aligned: one int built from the reversed "0"/"1" string
            bits += int(rest[::-1], 2).to_bytes((len(rest) + 7) // 8, "little")
        # rows before each block boundary the new lines cross
        prefix = self._prefix
        boundary = (n // BLOCK + 1) * BLOCK
        if boundary <= n + m:
            total = self._rows + ascii01.count(b"1", 0, boundary - n)
            prefix.append(total)
            j = boundary - n
            while j + BLOCK <= m:
                total += ascii01.count(b"1", j, j + BLOCK)
                prefix.append(total)
                j += BLOCK
        self._rows += ascii01.count(b"1")
        self._lines = n + m

    def _word(self, block: int) -> int:
        """The 64 row bits of lines ``BLOCK * block`` onwards, as an int."""
        return int.from_bytes(self._bits[block * 8 : block * 8 + 8], "little")

    def is_row(self, line: int) -> bool:
        """Whether ``line`` is a row (False beyond the appended lines)."""
        if not 0 <= line < self._lines:
            return False
        return bool(self._bits[line >> 3] >> (line & 7) & 1)

    def line_of(self, row: int) -> int:
        """The line of row ``row`` (0-based); IndexError past the last row."""
        if not 0 <= row < self._rows:
            raise IndexError(f"row {row} of {self._rows}")
        b = bisect_right(self._prefix, row) - 1
        word = self._word(b)
        for _ in range(row - self._prefix[b]):
            word &= word - 1  # drop the lowest row bit
        return b * BLOCK + (word & -word).bit_length() - 1

    def row_of(self, line: int) -> int:
        """The row at or before ``line`` (lines past the end count as the last
        line); -1 when no line up to ``line`` is a row."""
        if line >= self._lines:
            line = self._lines - 1
        if line < 0:
            return -1
        b = line // BLOCK
        word = self._word(b) & ((2 << (line % BLOCK)) - 1)
        return self._prefix[b] + word.bit_count() - 1

    def lines_of(self, start: int, stop: int) -> list[int]:
        """The lines of rows ``start`` to ``stop`` (exclusive, clamped): a screen's worth."""
        start = max(0, start)
        stop = min(stop, self._rows)
        if start >= stop:
            return []
        line = self.line_of(start)
        b = line // BLOCK
        word = self._word(b) >> (line % BLOCK) << (line % BLOCK)
        out: list[int] = []
        want = stop - start
        while True:
            while word:
                low = word & -word
                out.append(b * BLOCK + low.bit_length() - 1)
                if len(out) == want:
                    return out
                word ^= low
            b += 1
            word = self._word(b)
