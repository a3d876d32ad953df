"""Bytes from a pipe -> text lines.

Lines end at ``\\n`` and at a bare ``\\r`` (progress bars); ``\\r\\n`` is one end.
Invalid UTF-8 is never fatal: decoded text replaces it (or, with
``errors="surrogateescape"``, keeps it recoverable). A line longer than
``MAX_LINE`` is cut into pieces of that size, so memory stays bounded whatever a job prints. What is
left without a final newline comes out of ``flush()``.

``feed_lines`` is what the runner calls: in the common case (no ``\\r``, no
over-long line) it hands back the chunk's whole lines as the bytes they are,
newlines kept, without decoding or splitting anything; otherwise the decoded
text of ``feed_block``.
"""

from __future__ import annotations

import re

MAX_LINE = 1024 * 1024
_ENDS = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    def __init__(self, max_line: int = MAX_LINE, errors: str = "replace") -> None:
        self.max_line = max_line
        self.errors = errors  # "surrogateescape" keeps invalid UTF-8 recoverable
        self._rest = b""
        self._skip_lf = False
        # Indexes of lines in the last block that are pieces continuing the line
        # before them (index 0: the last line of the previous block). Labels are
        # only at the start of a line, so the runner gives pieces the rank of the
        # line they continue.
        self.continued: list[int] = []
        self._rest_is_piece = False

    def feed(self, data: bytes) -> list[str]:
        """Whole lines completed by ``data`` (a partial last line is kept)."""
        block = self.feed_block(data)
        return [] if block is None else block.split("\n")

    def feed_lines(self, data: bytes) -> bytes | str | None:
        """The whole lines ``data`` completes: bytes ending in ``\\n`` when they
        need no care, else ``feed_block``'s text (pieces listed in ``continued``)."""
        if (
            self._skip_lf
            or self._rest_is_piece
            or b"\r" in data
            or len(data) + len(self._rest) > self.max_line
        ):
            return self.feed_block(data)
        self.continued = []
        end = data.rfind(b"\n")
        if end < 0:
            self._rest += data
            return None
        block, self._rest = self._rest + data[: end + 1], data[end + 1 :]
        return block

    def feed_block(self, data: bytes) -> str | None:
        """Like ``feed``, but the lines joined by ``\\n`` in one string (None: no line).

        The runner parses labels with one regex pass over this block, and the
        common case (no ``\\r``, no giant line) never splits the bytes at all."""
        self.continued = []
        if not data:
            return None
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if self._rest:
            data = self._rest + data
        if b"\r" not in data:
            end = data.rfind(b"\n")
            if end < 0:
                pieces: list[bytes] = []
                self._rest = self._keep(data, pieces)
                return self._decode(pieces)
            block, rest = data[:end], data[end + 1 :]
            if len(block) > self.max_line or len(rest) > self.max_line:
                return self._slow(data)
            if self._rest_is_piece:
                self.continued = [0]
                self._rest_is_piece = False
            self._rest = rest
            return block.decode("utf-8", self.errors)
        return self._slow(data)

    def _slow(self, data: bytes) -> str | None:
        if data.endswith(b"\r"):
            self._skip_lf = True  # a "\n" in the next chunk belongs to this "\r"
        parts = _ENDS.split(data) if b"\r" in data else data.split(b"\n")
        rest = parts.pop()
        out: list[bytes] = []
        first = True
        for part in parts:
            pieces = self._cut(part)
            if first and self._rest_is_piece:
                self.continued.append(0)
            self.continued.extend(range(len(out) + 1, len(out) + len(pieces)))
            out.extend(pieces)
            first = False
            self._rest_is_piece = False
        self._rest = self._keep(rest, out)
        return self._decode(out)

    def _keep(self, rest: bytes, out: list[bytes]) -> bytes:
        """Move full pieces of an over-long unfinished line to ``out``; return the rest.

        A last full piece stays pending: its line end may arrive next, and it must
        not then come out as an extra empty line."""
        if len(rest) <= self.max_line:
            return rest
        cut = len(rest) - len(rest) % self.max_line
        if cut == len(rest):
            cut -= self.max_line
        for i in range(0, cut, self.max_line):
            if i > 0 or self._rest_is_piece:
                self.continued.append(len(out))
            out.append(rest[i : i + self.max_line])
        self._rest_is_piece = True  # what stays is the rest of a line already begun
        return rest[cut:]

    def _decode(self, parts: list[bytes]) -> str | None:
        return b"\n".join(parts).decode("utf-8", self.errors) if parts else None

    def _cut(self, line: bytes) -> list[bytes]:
        if len(line) <= self.max_line:
            return [line]
        return [line[i : i + self.max_line] for i in range(0, len(line), self.max_line)]

    def flush(self) -> list[str]:
        """The unterminated rest, as a last line (or nothing)."""
        rest, self._rest = self._rest, b""
        self.continued = [0] if rest and self._rest_is_piece else []
        self._rest_is_piece = False
        return [rest.decode("utf-8", self.errors)] if rest else []
