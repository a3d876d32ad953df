"""The per-rank wrapper: ``python -m ezpz_core.rankio -- CMD ...``.

Launchers such as MPICH/Hydra and torchrun cut a rank's output at every read, so
a line written in two pieces can arrive split, or mixed with another rank's. This
wrapper runs on each rank in front of the user's command, reads the command's
stdout and stderr, and writes only whole records, each with one ``write`` small
enough to be atomic on a pipe, prefixed with a label of its own::

    @ezpz:<rank>:<kind>|<bytes>\\n

``kind`` is ``o``/``e`` for the end of a stdout/stderr line, ``O``/``E`` for a
piece of a longer (or long-unfinished) line that continues in the next record,
and ``x`` for the final record, whose text is the command's exit status: a
number, or ``-N`` for death by signal N. The wrapper then exits the same way.
A bare ``\\r`` (a progress bar) ends a line like ``\\n`` does.

Records are batched: as many whole records as fit go out in one ``write`` of at
most ``PIPE_BUF`` bytes, so a chatty rank costs one system call per few dozen
lines, not one per line, and every write is still atomic on the pipe.

When the run asks for it (``EZPZ_RUN_DIR`` set, ``EZPZ_STATS`` not ``0``), a
daemon thread samples the command's process tree into the run directory
(``ezpz_core.procstats``); nothing on the exit path waits for it. Its one possible
message (the stats file cannot be written) goes out through the stderr pump, only
between whole lines, so it never splits a line the command left unfinished.

Stdlib only, and small: it starts on every rank of every job.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from ezpz_core.rankenv import rank_from_env

PIPE_BUF = 4096  # POSIX: writes up to this size are atomic on a pipe
PIECE = 4000  # payload bytes per record: label + piece + "\n" < PIPE_BUF
HOLD_S = 0.5  # an unfinished line is sent as a piece after this long
DRAIN_S = 2.0  # how long to keep reading after the command exited
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_records(fd: int, records: bytes) -> None:
    """Whole records, in writes of at most ``PIPE_BUF`` bytes cut between records."""
    start, size = 0, len(records)
    while size - start > PIPE_BUF:
        cut = records.rfind(b"\n", start, start + PIPE_BUF) + 1
        _write_all(fd, records[start:cut])
        start = cut
    if start < size:
        _write_all(fd, records[start:] if start else records)


class _Pump:
    """Copies one pipe of the command to one of our fds as labelled records."""

    def __init__(self, rank: int, src: int, dst: int, kind: str) -> None:
        self.src, self.dst = src, dst
        self.stop = threading.Event()
        self.end = f"@ezpz:{rank}:{kind}|".encode()
        self.more = f"@ezpz:{rank}:{kind.upper()}|".encode()
        self.buffer = b""
        self.skip_lf = False
        self.open = False  # pieces of the current line went out; its end has not
        self.notes: list[bytes] = []  # our own lines, sent when no line is open

    def note(self, text: str) -> None:
        """Send one line of ours on this stream at the next line boundary (any
        thread: ``list.append`` is atomic; only the pump thread writes)."""
        self.notes.append(text.encode("utf-8", "replace")[:PIECE])

    def _send_notes(self) -> None:
        while self.notes:
            _write_all(self.dst, self.end + self.notes.pop(0) + b"\n")

    def emit(self, payload: bytes, final: bool) -> None:
        while len(payload) > PIECE:
            _write_all(self.dst, self.more + payload[:PIECE] + b"\n")
            payload = payload[PIECE:]
        _write_all(self.dst, (self.end if final else self.more) + payload + b"\n")
        self.open = not final

    def feed(self, data: bytes) -> None:
        if not self.skip_lf and b"\r" not in data:
            data, self.buffer = self.buffer + data, b""
            end = data.rfind(b"\n")
            lines = data[:end].split(b"\n") if end >= 0 else []
            if lines and max(map(len, lines)) <= PIECE:  # the common case, in C
                sep = b"\n" + self.end
                _write_records(self.dst, self.end + sep.join(lines) + b"\n")
                self.open = False
                self._keep(data[end + 1 :])
                return
        self._feed(data)

    def _keep(self, rest: bytes) -> None:
        while len(rest) > PIECE:
            _write_all(self.dst, self.more + rest[:PIECE] + b"\n")
            rest = rest[PIECE:]
            self.open = True
        self.buffer = rest

    def _feed(self, data: bytes) -> None:
        if self.skip_lf and data.startswith(b"\n"):
            data = data[1:]
        self.skip_lf = False
        data = self.buffer + data
        start = 0
        while True:
            cr = data.find(b"\r", start)
            lf = data.find(b"\n", start)
            if cr < 0 and lf < 0:
                break
            if lf < 0 or (0 <= cr < lf):
                end, nxt = cr, cr + 1
                if nxt < len(data) and data[nxt : nxt + 1] == b"\n":
                    nxt += 1
                elif nxt == len(data):
                    self.skip_lf = True
            else:
                end, nxt = lf, lf + 1
            self.emit(data[start:end], final=True)
            start = nxt
        self._keep(data[start:])

    def run(self) -> None:
        while not self.stop.is_set():
            if self.notes and not self.open:
                self._send_notes()
            ready, _, _ = select.select([self.src], [], [], HOLD_S)
            if not ready:
                if self.buffer:  # keep the line live: send what we have as a piece
                    self.emit(self.buffer, final=False)
                    self.buffer = b""
                continue
            chunk = os.read(self.src, 65536)
            if not chunk:
                break
            self.feed(chunk)
        if self.buffer:
            self.emit(self.buffer, final=True)
            self.buffer = b""
        if self.notes and not self.open:
            self._send_notes()
        os.close(self.src)


DUMP_SIGNAL = signal.SIGUSR1  # the one signal mpirun, Hydra and srun all forward
DUMP_DEBOUNCE_S = 2.0  # one request reaches a rank once, however many paths it took


def _catches(pid: int, signum: int) -> bool:
    """Whether ``pid`` has a handler of its own for ``signum`` (``SigCgt``)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"
PR_SET_PTRACER = 0x59616D61  # <linux/prctl.h>: let this pid (and its children) trace me


def _tracer_allowed(wrapper: int, scope_path: str = YAMA_SCOPE) -> Callable[[], None] | None:
    """Where Yama allows tracing only by ancestors (``ptrace_scope`` 1), py-spy,
    a child of the wrapper, is no ancestor of the wrapper's command: the command
    names the wrapper as its tracer (``PR_SET_PTRACER``) before it execs.
    None where nothing is needed (no Yama, or scope 0) or nothing can help (2, 3)."""
    try:
        with open(scope_path) as handle:
            scope = handle.read().strip()
    except OSError:
        return None
    if scope != "1":
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def allow() -> None:  # in the child, between fork and exec: no Python objects shared
        libc.prctl(PR_SET_PTRACER, wrapper, 0, 0, 0)

    return allow


class _Dumper:
    """The hang doctor's wrapper half: on ``DUMP_SIGNAL`` dump the command's
    stacks (py-spy, else its faulthandler; ``ezpz_core.hang.collect``) on a thread
    and send them back as records of kind ``s`` (pieces ``S``), which no launcher
    splits or mixes. A command that handles the signal itself (Lightning's
    requeue on SIGUSR1) still gets it; one that does not ignores it (it inherits
    SIG_IGN), so a launcher that signals the process group kills no rank. Such a
    launcher (Hydra) also reaches a command's own handler directly: it then runs
    twice, once from the launcher and once from us (see docs/doctor.md)."""

    def __init__(self, rank: int, proc: subprocess.Popen[bytes], run_dir: str | None) -> None:
        self.rank, self.proc, self.run_dir = rank, proc, run_dir
        self.last = float("-inf")

    def asked(self, signum: int, _frame: object) -> None:
        if _catches(self.proc.pid, signum):
            self.proc.send_signal(signum)
        now = time.monotonic()
        if now - self.last < DUMP_DEBOUNCE_S:
            return
        self.last = now
        threading.Thread(target=self.dump, daemon=True).start()

    def dump(self) -> None:
        import json
        from pathlib import Path

        from ezpz_core.hang.collect import RankProcess, dump_rank, find_py_spy

        run_dir = Path(self.run_dir) if self.run_dir else None
        stack = dump_rank(
            RankProcess(self.rank, self.proc.pid, "wrapper"),
            find_py_spy(os.environ),
            run_dir=run_dir,
        )
        data = json.dumps(stack.to_json(), separators=(",", ":")).encode()
        head, last = f"@ezpz:{self.rank}:S|".encode(), f"@ezpz:{self.rank}:s|".encode()
        pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)] or [b""]
        records = b"".join(head + p + b"\n" for p in pieces[:-1]) + last + pieces[-1] + b"\n"
        _write_records(1, records)  # whole records, each write atomic: safe beside the pump


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env: Mapping[str, str] = os.environ
    if args[:1] == ["--run-dir"] and len(args) > 1:  # where resource stats go
        env = {**os.environ, "EZPZ_RUN_DIR": args[1]}
        args = args[2:]
    stacks = args[:1] == ["--stacks"]  # SIGUSR1 dumps the command's stacks (see _Dumper)
    if stacks:
        args = args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    rank = rank_from_env(os.environ).rank
    if not args:
        sys.stderr.write(
            "usage: python -m ezpz_core.rankio [--run-dir DIR] [--stacks] -- COMMAND [ARGS...]\n"
        )
        return 2
    started = time.monotonic()
    if stacks:
        # the command inherits "ignore SIGUSR1" unless it sets a handler of its own:
        # launchers that signal the whole process group (Hydra) must not kill it
        signal.signal(DUMP_SIGNAL, signal.SIG_IGN)
    preexec = _tracer_allowed(os.getpid()) if stacks else None
    try:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec
        )
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        message = f"ezpz rankio: cannot run {args[0]!r}: {exc.strerror or exc}".encode()
        _write_all(2, f"@ezpz:{rank}:e|".encode() + message + b"\n")
        _write_all(1, f"@ezpz:{rank}:x|{code}\n".encode())
        return code
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
    if stacks:
        dumper = _Dumper(rank, proc, env.get("EZPZ_RUN_DIR"))
        signal.signal(DUMP_SIGNAL, dumper.asked)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        _Pump(rank, proc.stdout.fileno(), 1, "o"),
        _Pump(rank, proc.stderr.fileno(), 2, "e"),
    ]
    threads = [threading.Thread(target=p.run, daemon=True) for p in pumps]
    for thread in threads:
        thread.start()
    # Imported here, after the command started, so it never delays that start.
    from ezpz_core.procstats import start_sampler

    sampler = start_sampler(env, rank, proc.pid, started, pumps[1].note)
    code = proc.wait()
    if sampler is not None:
        sampler.stop.set()  # nothing waits for it: a daemon thread
    # A process the command left behind (setsid, a daemon) may hold the pipes open
    # for ever: after a grace, stop reading, send what was read, and report.
    deadline = time.monotonic() + DRAIN_S
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    for pump in pumps:
        pump.stop.set()
    for thread in threads:
        thread.join(timeout=2 * HOLD_S)
    _write_all(1, f"@ezpz:{rank}:x|{code}\n".encode())
    if code < 0:  # die of the same signal, so the launcher reports it the same way
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main())
