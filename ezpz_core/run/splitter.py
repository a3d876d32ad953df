"""Bytes from a pipe -> text lines.

Lines end at ``\\n`` and at a bare ``\\r`` (progress bars); ``\\r\\n`` is one end.
Invalid UTF-8 is replaced, never fatal. A line longer than ``MAX_LINE`` is cut
into pieces of that size, so memory stays bounded whatever a job prints. What is
left without a final newline comes out of ``flush()``.
"""

from __future__ import annotations

import re

MAX_LINE = 1024 * 1024
_ENDS = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._rest = b""
        self._skip_lf = False

    def feed(self, data: bytes) -> list[str]:
        """Whole lines completed by ``data`` (a partial last line is kept)."""
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if self._rest:
            data = self._rest + data
        if b"\r" in data:
            if data.endswith(b"\r"):
                self._skip_lf = True  # a "\n" in the next chunk belongs to this "\r"
            parts = _ENDS.split(data)
        else:
            parts = data.split(b"\n")
        rest = parts.pop()
        if len(rest) > self.max_line:
            cut = len(rest) - len(rest) % self.max_line
            parts.extend(rest[i : i + self.max_line] for i in range(0, cut, self.max_line))
            rest = rest[cut:]
        self._rest = rest
        if any(len(p) > self.max_line for p in parts):
            parts = [piece for p in parts for piece in self._cut(p)]
        return b"\n".join(parts).decode("utf-8", "replace").split("\n") if parts else []

    def _cut(self, line: bytes) -> list[bytes]:
        if len(line) <= self.max_line:
            return [line]
        return [line[i : i + self.max_line] for i in range(0, len(line), self.max_line)]

    def flush(self) -> list[str]:
        """The unterminated rest, as a last line (or nothing)."""
        rest, self._rest = self._rest, b""
        return [rest.decode("utf-8", "replace")] if rest else []
