"""One rank's live Python stacks: the records, and parsers for py-spy and faulthandler.

The collection side (py-spy ``dump --json --pid P`` per rank, or the text Python's
``faulthandler`` writes when a rank registered it on a signal) hands its output to
``parse_pyspy_json`` / ``parse_faulthandler`` and wraps the threads in a
``RankStack``; ``ezpz_core.hang.groups`` does the rest. Pure, stdlib only.

Frames and whole stacks are interned as they are parsed (equal values, one object):
a 127,000-rank dump then holds a handful of distinct stacks once each, and
``group_stacks`` can key ranks by the identity of their frame tuple instead of
hashing 30 frames per rank (``Frame.__hash__`` is Python code: ~4 million calls).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

SOURCES = ("py-spy", "faulthandler", "none")  # RankStack.source
MAIN_THREAD = "MainThread"  # threading's name for it, as py-spy reports it
# A program's entry frames, outermost: ``python x.py`` runs ``<module>``, ``python -m x``
# runs runpy's ``_run_module_as_main`` (then ``_run_code``, then ``<module>``).
ENTRY_FRAMES = frozenset({"<module>", "_run_module_as_main"})
# Outermost frames of a thread started by ``threading`` (py-spy 0.4 qualifies the name).
THREAD_BOOTSTRAP = frozenset({"_bootstrap", "Thread._bootstrap"})
INTERN_SIZE = 1 << 16  # distinct frames (and stacks) kept interned; plenty for one job


@dataclass(frozen=True)
class Frame:
    """One Python frame; ``line`` is 0 where the dump did not know it."""

    name: str
    filename: str
    line: int

    @property
    def text(self) -> str:
        """``train_step (train.py:42)``: the file's base name keeps lines short."""
        base = self.filename.rsplit("/", 1)[-1]
        return f"{self.name} ({base}:{self.line})" if self.line > 0 else f"{self.name} ({base})"


@dataclass(frozen=True)
class ThreadStack:
    """One thread's stack. faulthandler names no threads (``name`` is ""), and says
    nothing of activity or the GIL (the defaults)."""

    thread_id: int
    name: str
    frames: tuple[Frame, ...]  # innermost first, as py-spy prints
    active: bool = True
    owns_gil: bool = False


@dataclass(frozen=True)
class RankStack:
    """What one rank's dump gave: its threads, or why there are none."""

    rank: int
    source: str  # "py-spy" | "faulthandler" | "none"
    threads: tuple[ThreadStack, ...] = ()
    host: str = ""
    pid: int | None = None
    error: str = ""  # why there is no stack
    silent_s: float | None = None  # seconds since the rank's last line

    def to_json(self) -> dict[str, Any]:
        """JSON-ready; a frame is ``[name, filename, line]`` (a 127,000-rank report
        holds millions of them)."""
        return {
            "rank": self.rank,
            "source": self.source,
            "threads": [
                {
                    "thread_id": t.thread_id,
                    "name": t.name,
                    "active": t.active,
                    "owns_gil": t.owns_gil,
                    "frames": [[f.name, f.filename, f.line] for f in t.frames],
                }
                for t in self.threads
            ],
            "host": self.host,
            "pid": self.pid,
            "error": self.error,
            "silent_s": self.silent_s,
        }

    @classmethod
    def from_json(cls, data: object) -> RankStack | None:
        """The record ``to_json`` wrote; None for anything else (a report file from
        another version must not take the console down)."""
        try:
            if not isinstance(data, dict):
                return None
            rank, source = data["rank"], data["source"]
            pid, silent = data.get("pid"), data.get("silent_s")
            host, error = data.get("host", ""), data.get("error", "")
            if not _is_int(rank) or not isinstance(source, str):
                return None
            if not (pid is None or _is_int(pid)) or not (silent is None or _is_number(silent)):
                return None
            if not isinstance(host, str) or not isinstance(error, str):
                return None
            threads = tuple(_thread_from_json(t) for t in data.get("threads", ()))
            return cls(
                rank=rank,
                source=source,
                threads=threads,
                host=host,
                pid=pid,
                error=error,
                silent_s=None if silent is None else float(silent),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _thread_from_json(data: object) -> ThreadStack:
    """Raises TypeError/ValueError on anything but ``to_json``'s thread shape."""
    if not isinstance(data, dict):
        raise TypeError("thread is not an object")
    thread_id, name = data["thread_id"], data["name"]
    active, owns_gil = data.get("active", True), data.get("owns_gil", False)
    if not _is_int(thread_id) or not isinstance(name, str):
        raise TypeError("thread_id or name")
    if not isinstance(active, bool) or not isinstance(owns_gil, bool):
        raise TypeError("active or owns_gil")
    frames = []
    for item in data["frames"]:
        if not isinstance(item, list) or len(item) != 3:
            raise TypeError("frame is not [name, filename, line]")
        fname, filename, line = item
        if not isinstance(fname, str) or not isinstance(filename, str) or not _is_int(line):
            raise TypeError("frame fields")
        frames.append(intern_frame(fname, filename, line))
    return ThreadStack(thread_id, name, intern_stack(tuple(frames)), active, owns_gil)


@functools.lru_cache(maxsize=INTERN_SIZE)
def intern_frame(name: str, filename: str, line: int) -> Frame:
    """The one ``Frame`` for these values (see the module's docstring for why)."""
    return Frame(name, filename, line)


@functools.lru_cache(maxsize=INTERN_SIZE)
def intern_stack(frames: tuple[Frame, ...]) -> tuple[Frame, ...]:
    """The one tuple for these frames: equal stacks of different ranks are then the
    same object, which ``group_stacks`` counts on for speed (not for correctness)."""
    return frames


# --- py-spy ---------------------------------------------------------------------------


def parse_pyspy_json(text: str) -> tuple[ThreadStack, ...]:
    """The threads of ``py-spy dump --json --pid P`` (py-spy 0.4.3: a list of
    threads, each with ``thread_id``, ``thread_name``, ``active``, ``owns_gil`` and
    ``frames`` of ``name``/``filename``/``line``; other keys are ignored).

    ``thread_name`` is null when the target never imported ``threading`` (a plain
    single-threaded script): the name is then "". Raises ValueError, naming what
    is wrong, for anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        head = text.strip()[:60]
        raise ValueError(f"py-spy output is not JSON ({exc.msg}): {head!r}") from None
    if not isinstance(data, list):
        raise ValueError(f"py-spy JSON is a {type(data).__name__}, not a list of threads")
    return tuple(_pyspy_thread(i, item) for i, item in enumerate(data))


def _pyspy_thread(index: int, item: object) -> ThreadStack:
    where = f"py-spy JSON thread {index}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} is a {type(item).__name__}, not an object")
    thread_id, name, frames = item.get("thread_id"), item.get("thread_name"), item.get("frames")
    if not _is_int(thread_id):
        raise ValueError(f"{where}: thread_id {thread_id!r} is not an integer")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{where}: thread_name {name!r} is not a string")
    if not isinstance(frames, list):
        raise ValueError(f"{where}: frames is missing or not a list")
    parsed = []
    for j, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise ValueError(f"{where} frame {j} is not an object")
        fname, filename, line = frame.get("name"), frame.get("filename"), frame.get("line", 0)
        if not isinstance(fname, str) or not isinstance(filename, str):
            raise ValueError(f"{where} frame {j}: name and filename must be strings")
        if line is None:
            line = 0
        if not _is_int(line):
            raise ValueError(f"{where} frame {j}: line {line!r} is not an integer")
        parsed.append(intern_frame(fname, filename, line))
    return ThreadStack(
        thread_id=thread_id,
        name=name or "",
        frames=intern_stack(tuple(parsed)),
        active=bool(item.get("active", True)),
        owns_gil=bool(item.get("owns_gil", False)),
    )


# --- faulthandler ---------------------------------------------------------------------

_THREAD_HEADER = re.compile(r"(Current thread|Thread) 0x([0-9a-fA-F]+) \(most recent call first\):")
_STACK_HEADER = "Stack (most recent call first):"  # all_threads=False: one thread, no id
# ``  File "x.py", line 12 in func``; faulthandler writes ??? for an unknown filename,
# line or name. The filename is greedy: one holding ``", line `` still parses.
_FILE_LINE = re.compile(r'  File (?:"(.*)"|\?\?\?), line (\d+|\?\?\?) in (.*)')


def parse_faulthandler(text: str) -> tuple[ThreadStack, ...]:
    """The threads of Python's ``faulthandler.dump_traceback(all_threads=True)`` text
    (3.11: a ``Thread 0x...`` or ``Current thread 0x...`` header, then
    ``  File "x.py", line 12 in func`` lines innermost first, threads separated by a
    blank line), in the order listed. "Current thread" is the one that wrote the
    dump (for a signal handler usually the main thread, listed wherever the
    interpreter keeps it), so the order says nothing about which is main; see
    ``main_thread``. faulthandler gives no thread names (name ""), and unqualified
    function names (``run``, where py-spy says ``Thread.run``).

    Other lines (``Fatal Python error: ...``, ``  <no Python frame>``, ``  ...`` for
    a stack cut at 100 frames, ``Extension modules: ...``) are skipped. Raises
    ValueError when the text holds no thread at all."""
    threads: list[ThreadStack] = []
    thread_id: int | None = None
    frames: list[Frame] = []

    def close() -> None:
        if thread_id is not None:
            threads.append(ThreadStack(thread_id, "", intern_stack(tuple(frames))))

    for raw in text.splitlines():
        line = raw.rstrip("\r")
        header = _THREAD_HEADER.fullmatch(line)
        if header is not None or line == _STACK_HEADER:
            close()
            thread_id = int(header.group(2), 16) if header is not None else 0
            frames = []
            continue
        match = _FILE_LINE.fullmatch(line)
        if match is not None and thread_id is not None:
            filename, number, name = match.groups()
            frames.append(
                intern_frame(name, "???" if filename is None else filename, _line(number))
            )
    close()
    if not threads:
        head = text.strip()[:60]
        raise ValueError(f"faulthandler text holds no 'Thread 0x...' stack: {head!r}")
    return tuple(threads)


def _line(number: str) -> int:
    return 0 if number == "???" else int(number)


# --- the main thread ------------------------------------------------------------------


def main_thread(stack: RankStack) -> ThreadStack | None:
    """The rank's main thread (the one a training loop runs on), by these rules in
    order:

    1. the thread named ``MainThread`` (py-spy, when the target imported threading);
    2. the first thread whose outermost frame is the program's entry (``<module>``,
       or runpy's ``_run_module_as_main`` under ``python -m``): faulthandler names
       no threads, and py-spy none when threading was never imported;
    3. the only thread, when there is one (an embedded interpreter, or a stack
       cut at 100 frames so the entry is missing);
    4. the first thread listed that ``threading`` did not start (outermost frame
       not ``Thread._bootstrap``);
    5. the first thread with no Python frame at all (faulthandler's
       ``<no Python frame>``: a main thread caught before or after the program);

    else None (only threading's threads).
    """
    threads = stack.threads
    if len(threads) == 1:  # the fast path: every rule picks it, or rule 3 does
        return threads[0]
    for thread in threads:
        if thread.name == MAIN_THREAD:
            return thread
    for thread in threads:
        if thread.frames and thread.frames[-1].name in ENTRY_FRAMES:
            return thread
    for thread in threads:
        if thread.frames and thread.frames[-1].name not in THREAD_BOOTSTRAP:
            return thread
    for thread in threads:
        if not thread.frames:
            return thread
    return None
