"""Log metrics parsed beside the run, in a process of their own, once a lane is busy.

A chatty job's rank 0 prints a step line at every step, and every one of them
counts (the summaries need every value). Parsed on the event loop's thread, they
would take a good part of the time that thread needs to keep up with the
launcher; in a child process (``python -m ezpz_core.run.metricproc``) the same
``BlockParser`` runs on another core. So a lane is parsed in process until it
has seen ``OFFLOAD_BYTES``; then the parser (its series and the shape it
learned) is handed to a child, and the blocks follow through a pipe, written by a
``BackgroundWriter`` thread: bounded like every other consumer, so a child that
lags holds the job back instead of queueing. When the run ends the child sends
the parser back. If the child cannot start or dies, ``OffloadedParser.lost`` is
set and the caller parses the rank files again (they hold every line).

Stdlib and ``ezpz_core.logmetrics`` only: the child starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
import struct
import subprocess
import sys
from typing import BinaryIO

from ezpz_core.logmetrics import BlockParser
from ezpz_core.run.writer import BackgroundWriter

OFFLOAD_BYTES = 2 * 1024 * 1024  # a lane's bytes parsed in process before a child takes over
QUEUE_LIMIT = 8 * 1024 * 1024  # blocks waiting for the child before the job is held back
FINISH_TIMEOUT_S = 120.0
_HEADER = struct.Struct("<Q")


class OffloadedParser:
    """A ``BlockParser`` that moves to a child process once its lane is busy."""

    def __init__(self, parser: BlockParser, offload_after: int | None = OFFLOAD_BYTES) -> None:
        self.parser = parser
        self.offload_after = offload_after  # None: never
        self.fed = 0
        self.lost = False  # a child failed: some blocks were never parsed
        self._child: subprocess.Popen[bytes] | None = None
        self.writer: BackgroundWriter | None = None

    def feed(self, block: bytes) -> None:
        if self.writer is not None and not self.lost:
            self.writer.submit(lambda: self._send(block), len(block))
            return
        self.parser.feed(block)
        self.fed += len(block)
        if (
            self.offload_after is not None
            and self.fed >= self.offload_after
            and self._child is None
            and not self.lost
        ):
            self._start()

    async def room(self) -> None:
        if self.writer is not None:
            await self.writer.room()

    def _start(self) -> None:
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "ezpz_core.run.metricproc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl+C is for the job; our EOF ends the child
            )
        except OSError:
            self.offload_after = None  # parse in process, as before
            return
        assert child.stdin is not None
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(child.stdin.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[attr-defined]
        self._child = child
        self.writer = BackgroundWriter("ezpz-metrics", limit=QUEUE_LIMIT)
        state = pickle.dumps(self.parser, protocol=pickle.HIGHEST_PROTOCOL)
        self.writer.submit(lambda: self._send(state), len(state))

    def _send(self, data: bytes) -> None:
        """On the writer thread: one frame to the child; a dead child is noted."""
        child = self._child
        if child is None or child.stdin is None or self.lost:
            return
        try:
            _write_all(child.stdin.fileno(), _HEADER.pack(len(data)))
            _write_all(child.stdin.fileno(), data)
        except OSError:
            self.lost = True

    def finish(self) -> BlockParser:
        """The parser with every block in it (from the child, if one took over)."""
        child, writer = self._child, self.writer
        if child is None or writer is None:
            return self.parser
        writer.close()
        self.writer = None
        out = b""
        try:
            out, _ = child.communicate(timeout=FINISH_TIMEOUT_S)  # closes its stdin: EOF
        except (subprocess.TimeoutExpired, OSError):
            child.kill()
            child.wait()
        self._child = None
        if self.lost or child.returncode != 0 or not out:
            self.lost = True
            return self.parser
        try:
            parser = pickle.loads(out)  # our own child's answer
        except Exception:
            self.lost = True
            return self.parser
        self.parser = parser
        return parser


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("metrics child: a frame was cut short")
    return data


def main() -> int:
    """The child: a pickled parser, then blocks; at EOF, the parser back."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(5)  # the launcher and our reader come first; this catches up in the gaps
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = _read_frame(stdin)
    if first is None:
        return 1
    parser: BlockParser = pickle.loads(first)  # from our parent
    while (block := _read_frame(stdin)) is not None:
        parser.feed(block)
    stdout.write(pickle.dumps(parser, protocol=pickle.HIGHEST_PROTOCOL))
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
