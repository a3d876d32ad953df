"""Who wrote each line: rank labels of the line-safe launchers and of our wrapper.

One ``Attributor`` per stream turns text lines into ``Line`` values and collects
``RankExited`` facts. Formats (real captures in shared/reference/launcher-output.md):

* Open MPI ``--tag-output``: ``[1,0]<stdout>: text`` (5.x), ``[1,0]<stdout>:text``
  (4.x), optionally after a ``[Thu Nov 26 12:02:11 2026]`` timestamp;
* Slurm ``srun --label``: `` 0: text`` (rank right-aligned); PALS: ``0: text``;
* our wrapper: ``@ezpz:0:o|text`` (see ``ezpz_core.rankio``).

Unlabelled lines belong to the launcher lane (rank ``LAUNCHER``).
"""

from __future__ import annotations

import re
from enum import StrEnum

from ezpz_core.run.events import LAUNCHER, Line, RankExited

MAX_JOINED = 1024 * 1024  # a wrapper line rejoined from pieces is cut at this size


class LabelFormat(StrEnum):
    OPENMPI = "openmpi"
    SRUN = "srun"  # also PALS: digits, colon, space
    WRAPPER = "wrapper"
    ANY = "any"  # --launcher none: whichever label a line carries
    NONE = "none"  # nothing is parsed


_OPENMPI = r"(?:\[[^\]]*\d\d:\d\d:\d\d[^\]]*\])?\[\d+,(\d+)\]<(std(?:out|err|diag))>: ?"
_SRUN = r" *(\d+): "
_WRAPPER = r"(?:\[\w+\]:)?@ezpz:(\d+):([oOeEx])\|"

_PATTERNS = {
    LabelFormat.OPENMPI: re.compile(_OPENMPI),
    LabelFormat.SRUN: re.compile(_SRUN),
    LabelFormat.WRAPPER: re.compile(_WRAPPER),
}
_ANY = re.compile(f"{_WRAPPER}|{_OPENMPI}|{_SRUN}")

_SRUN_EXIT = re.compile(
    r"srun: error: \S+: tasks? ([\d\-,]+): (?:Exited with exit code (\d+)|(\w+))"
)
_PRTE_NAME = re.compile(r"Process name:\s*\[[^\]]*?,(\d+)\]")
_PRTE_CODE = re.compile(r"Exit code:\s*(\d+)")
_SIGNALS = {"Killed": 9, "Terminated": 15, "Segmentation": 11, "Aborted": 6, "Interrupt": 2}

_STREAM = {
    "stdout": "stdout",
    "stderr": "stderr",
    "stddiag": "stderr",
    "o": "stdout",
    "e": "stderr",
}


def _task_ranks(spec: str) -> list[int]:
    ranks: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            ranks.extend(range(int(lo), int(hi if hi.isdigit() else lo) + 1))
    return ranks


class Attributor:
    """Text lines of one launcher stream -> ``Line`` values and rank exits."""

    def __init__(self, fmt: LabelFormat, stream: str) -> None:
        self.fmt = fmt
        self.stream = stream
        self.exits: list[RankExited] = []
        self._pieces: dict[tuple[int, str], list[str]] = {}
        self._prte_rank: int | None = None

    def lines(self, texts: list[str], t: float) -> list[Line]:
        if self.fmt is LabelFormat.NONE:
            return [Line(LAUNCHER, self.stream, s, t) for s in texts]
        if self.fmt is LabelFormat.WRAPPER:
            return self._wrapper(texts, t)
        if self.fmt is LabelFormat.ANY:
            return self._any(texts, t)
        return self._simple(texts, t)

    def _simple(self, texts: list[str], t: float) -> list[Line]:
        match = _PATTERNS[self.fmt].match
        stream = self.stream
        has_stream = self.fmt is LabelFormat.OPENMPI
        out: list[Line] = []
        append = out.append
        for s in texts:
            m = match(s)
            if m is None:
                append(Line(LAUNCHER, stream, s, t))
                self._launcher_line(s)
            elif has_stream:
                append(Line(int(m.group(1)), _STREAM[m.group(2)], s[m.end() :], t))
            else:
                append(Line(int(m.group(1)), stream, s[m.end() :], t))
        return out

    def _any(self, texts: list[str], t: float) -> list[Line]:
        out: list[Line] = []
        for s in texts:
            m = _ANY.match(s)
            if m is None:
                out.append(Line(LAUNCHER, self.stream, s, t))
            elif m.group(1) is not None:  # our wrapper
                out.extend(self._wrapper([s], t))
            elif m.group(3) is not None:  # Open MPI
                out.append(Line(int(m.group(3)), _STREAM[m.group(4)], s[m.end() :], t))
            else:
                out.append(Line(int(m.group(5)), self.stream, s[m.end() :], t))
        return out

    def _wrapper(self, texts: list[str], t: float) -> list[Line]:
        match = _PATTERNS[LabelFormat.WRAPPER].match
        out: list[Line] = []
        for s in texts:
            m = match(s)
            if m is None:
                out.append(Line(LAUNCHER, self.stream, s, t))
                continue
            rank, kind, text = int(m.group(1)), m.group(2), s[m.end() :]
            if kind == "x":
                self.exits.append(RankExited(rank, int(text) if text.lstrip("-").isdigit() else 1))
                continue
            stream = _STREAM[kind.lower()]
            key = (rank, stream)
            if kind.isupper():  # a piece: the line continues in a later record
                pieces = self._pieces.setdefault(key, [])
                pieces.append(text)
                if sum(len(p) for p in pieces) >= MAX_JOINED:
                    joined = "".join(pieces)
                    out.append(Line(rank, stream, joined[:MAX_JOINED], t))
                    self._pieces[key] = [joined[MAX_JOINED:]] if len(joined) > MAX_JOINED else []
                continue
            pieces = self._pieces.pop(key, None)
            if pieces:
                text = "".join(pieces) + text
            out.append(Line(rank, stream, text, t))
        return out

    def flush(self, t: float) -> list[Line]:
        """Pieces still waiting for their end (the rank died mid-line)."""
        out = [Line(rank, stream, "".join(p), t) for (rank, stream), p in self._pieces.items() if p]
        self._pieces.clear()
        return out

    def _launcher_line(self, s: str) -> None:
        """Rank exits that srun and Open MPI announce on their own stderr."""
        if s.startswith("srun: error:"):
            m = _SRUN_EXIT.match(s)
            if m:
                code = int(m.group(2)) if m.group(2) else -_SIGNALS.get(m.group(3), 1)
                self.exits.extend(RankExited(r, code) for r in _task_ranks(m.group(1)))
            return
        m = _PRTE_NAME.search(s)
        if m:
            self._prte_rank = int(m.group(1))
            return
        if self._prte_rank is not None:
            m = _PRTE_CODE.search(s)
            if m:
                self.exits.append(RankExited(self._prte_rank, int(m.group(1))))
                self._prte_rank = None

    def take_exits(self) -> list[RankExited]:
        exits, self.exits = self.exits, []
        return exits
