"""New whole lines of a file that another process appends to, read by offset.

Every reader of a run's growing files (history rows, resource samples, rank logs
for metrics) needs the same care, so it lives here once: read only the bytes
added since the last call, and never more than ``chunk`` of them; keep a torn
last line until its newline arrives (or, with ``final``, take it as it is);
start over from the beginning when the file is truncated, replaced (a new inode:
``os.replace``) or rewritten in place (its first bytes changed), counting
``restarts``; drop a line longer than ``max_line`` instead of holding it in
memory, counting it in ``overlong``. A file that does not exist (yet, or any
more) reads as nothing new. Stdlib only (the rank wrapper's side imports it).
"""

from __future__ import annotations

import os
from pathlib import Path

HEAD_BYTES = 64  # a file whose first bytes changed was rewritten in place


class LineTail:
    def __init__(
        self, path: str | os.PathLike[str], chunk: int = 1 << 20, max_line: int | None = None
    ) -> None:
        self.path = Path(path)
        self.chunk = max(1, chunk)
        self.max_line = max_line
        self.offset = 0  # bytes consumed, a torn last line included
        self.size = 0  # the file's size at the last read
        self.restarts = 0
        self.overlong = 0  # lines dropped for being longer than ``max_line``
        self._partial = b""
        self._skipping = False  # inside an overlong line: drop it up to its newline
        self._ident: tuple[int, int] | None = None
        self._head = b""

    @property
    def behind(self) -> int:
        """Bytes of the file not read yet (as of the last read)."""
        return max(0, self.size - self.offset)

    def unchanged(self) -> bool:
        """Nothing to read, known from one ``stat`` (the common case of a poll)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return (st.st_dev, st.st_ino) == self._ident and st.st_size == self.offset

    def _restart(self) -> None:
        self.offset = 0
        self._partial = b""
        self._skipping = False
        self._head = b""
        self.restarts += 1

    def read(self, budget: int | None = None, final: bool = False) -> list[bytes]:
        """The whole lines (without their newline) added since the last call, from
        at most ``min(chunk, budget)`` new bytes. ``final`` (the writer is gone): an
        unterminated last line is returned too."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return []
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if self._ident is not None and (ident != self._ident or st.st_size < self.offset):
                self._restart()
            elif self._head and os.pread(fd, len(self._head), 0) != self._head:
                self._restart()  # rewritten in place, and already longer than before
            self._ident = ident
            self.size = st.st_size
            limit = self.chunk if budget is None else max(0, min(self.chunk, budget))
            size = min(st.st_size, self.offset + limit)
            data = os.pread(fd, size - self.offset, self.offset) if size > self.offset else b""
            if len(self._head) < HEAD_BYTES and (data or self.offset):
                self._head = os.pread(fd, HEAD_BYTES, 0)
        except OSError:
            return []
        finally:
            os.close(fd)
        self.offset += len(data)
        return self._lines(data, final)

    def _lines(self, data: bytes, final: bool) -> list[bytes]:
        if self._skipping:
            cut = data.find(b"\n")
            if cut < 0:
                return []
            data, self._skipping = data[cut + 1 :], False
        lines = (self._partial + data).split(b"\n") if self._partial else data.split(b"\n")
        self._partial = lines.pop()
        if self.max_line is not None and len(self._partial) > self.max_line:
            self._partial, self._skipping = b"", True
            self.overlong += 1
        if final and self._partial.strip():
            lines.append(self._partial)
            self._partial = b""
        return lines
