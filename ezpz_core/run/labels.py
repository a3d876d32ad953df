"""Who wrote each line: rank labels of the line-safe launchers and of our wrapper.

One ``Attributor`` per stream turns text lines into ``Line`` values and collects
``RankExited`` facts. Formats (real captures in shared/reference/launcher-output.md):

* Open MPI ``--tag-output``: ``[1,0]<stdout>: text`` (5.x), ``[1,0]<stdout>:text``
  (4.x), optionally after a ``[Thu Nov 26 12:02:11 2026]`` timestamp;
* Slurm ``srun --label``: `` 0: text`` (rank right-aligned); PALS: ``0: text``;
* our wrapper: ``@ezpz:0:o|text`` (see ``ezpz_core.rankio``).

Unlabelled lines belong to the launcher lane (rank ``LAUNCHER``).

Two paths, one answer. ``batch`` is the fast one, for a block of whole lines in
bytes: it cuts every line at its label's end with C-level ``map`` calls, looks
each label up in a table of labels already seen (a new label is checked against
the format's regex once), and gives up (returns None) on anything unusual: a
line without a label, a wrapper piece or exit record, an Open MPI label inside a
line. ``rows`` is the general one, over decoded text, and the reference the fast
path is tested against.
"""

from __future__ import annotations

import re
from enum import StrEnum
from itertools import repeat
from operator import itemgetter

from ezpz_core.run.events import LAUNCHER, Line, RankExited, Row

MAX_JOINED = 1024 * 1024  # a wrapper line rejoined from pieces is cut at this size


class LabelFormat(StrEnum):
    OPENMPI = "openmpi"
    SRUN = "srun"  # also PALS: digits, colon, space
    WRAPPER = "wrapper"
    ANY = "any"  # --launcher none: whichever label a line carries
    NONE = "none"  # nothing is parsed


_OPENMPI = r"(?:\[[^\]\n]*\d\d:\d\d:\d\d[^\]\n]*\])?\[\d+,(\d+)\]<(std(?:out|err|diag))>: ?"
_SRUN = r" *(\d+): "
_WRAPPER = r"(?:\[\w+\]:)?@ezpz:(\d+):([oOeExsS])\|"

_WRAPPER_LINE = re.compile(_WRAPPER)
_OPENMPI_LINE = re.compile(_OPENMPI)
_OPENMPI_INNER = re.compile(r"\[\d+,(\d+)\]<(std(?:out|err|diag))>: ?")
_SRUN_LINE = re.compile(_SRUN)
_OPENMPI_BLOCK = re.compile(f"^(?:{_OPENMPI})?(.*)$", re.MULTILINE)
_SRUN_BLOCK = re.compile(f"^(?:{_SRUN})?(.*)$", re.MULTILINE)

_SRUN_EXIT = re.compile(
    r"srun: error: \S+: tasks? ([\d\-,]+): (?:Exited with exit code (\d+)|(\w+))"
)
_PRTE_NAME = re.compile(r"Process name:\s*\[[^\]]*?,(\d+)\]")
_PRTE_CODE = re.compile(r"Exit code:\s*(\d+)")
_SIGNALS = {"Killed": 9, "Terminated": 15, "Segmentation": 11, "Aborted": 6, "Interrupt": 2}

_first = itemgetter(0)
_third = itemgetter(2)

_STREAM = {
    "stdout": "stdout",
    "stderr": "stderr",
    "stddiag": "stderr",
    "o": "stdout",
    "e": "stderr",
}


# The fast path, per format: where a label ends, and what the text before that
# must be (checked once per label seen).
_FAST: dict[LabelFormat, tuple[bytes, re.Pattern[bytes]]] = {
    LabelFormat.OPENMPI: (
        b">: ",
        re.compile(rb"(?:\[[^\]\n]*\d\d:\d\d:\d\d[^\]\n]*\])?\[\d+,(\d+)\]<(std(?:out|err|diag))"),
    ),
    LabelFormat.SRUN: (b": ", re.compile(rb" *(\d+)")),
    LabelFormat.WRAPPER: (b"|", re.compile(rb"(?:\[\w+\]:)?@ezpz:(\d+):([oe])")),
}


def _task_ranks(spec: str) -> list[int]:
    ranks: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            ranks.extend(range(int(lo), int(hi if hi.isdigit() else lo) + 1))
    return ranks


class Attributor:
    """Text of one launcher stream -> ``(rank, stream, text)`` rows and rank exits.

    The line-safe label formats are parsed with one ``findall`` over a block of
    lines (C does the per-line work); our wrapper's records need state (pieces,
    exit records) and are parsed line by line.
    """

    def __init__(self, fmt: LabelFormat, stream: str) -> None:
        self.fmt = fmt
        self.stream = stream
        self.exits: list[RankExited] = []
        self.stacks: list[tuple[int, str]] = []  # (rank, text) of stack records (``s``)
        self._pieces: dict[tuple[int, str], list[str]] = {}
        self._prte_rank: int | None = None
        self._last: tuple[int, str] = (LAUNCHER, stream)  # rank and stream of the last row
        # fast path: label bytes -> rank, -> stream; labels naming another stream
        self._rank_of: dict[bytes, int] = {}
        self._stream_of: dict[bytes, str] = {}
        self._other_stream: set[bytes] = set()

    def batch(self, block: bytes) -> tuple[list[int], list[bytes], list[str] | None] | None:
        """Ranks, texts (label stripped, newline kept) and, where labels name other
        streams, each line's stream, for ``block``: whole lines ending in ``\\n``.
        None: the block needs ``rows`` (see the module docstring)."""
        fmt = self.fmt
        if fmt is LabelFormat.ANY:
            if b"@ezpz:" in block:
                fmt = LabelFormat.WRAPPER
            elif b"]<std" in block:
                fmt = LabelFormat.OPENMPI
            else:
                fmt = LabelFormat.SRUN
        lines = block.splitlines(True)
        if not lines:
            return [], [], None
        if fmt is LabelFormat.NONE:
            self._last = (LAUNCHER, self.stream)
            return [LAUNCHER] * len(lines), lines, None
        if fmt is LabelFormat.WRAPPER and self._pieces:
            return None  # a line waits for its end: only ``rows`` joins pieces
        if (
            fmt is LabelFormat.OPENMPI
            and block.count(b"<") != len(lines)  # one byte: twice as fast, and enough...
            and block.count(b"]<std") != len(lines)  # ...unless a text holds a "<"
        ):
            return None  # unlabelled lines, or labels inside lines
        parts = list(map(bytes.partition, lines, repeat(_FAST[fmt][0])))
        keys = list(map(_first, parts))
        rank_of = self._rank_of
        try:
            ranks = list(map(rank_of.__getitem__, keys))
        except KeyError:
            if not self._learn(set(keys).difference(rank_of), fmt):
                return None
            ranks = list(map(rank_of.__getitem__, keys))
        streams = None
        if self._other_stream and not self._other_stream.isdisjoint(keys):
            streams = list(map(self._stream_of.__getitem__, keys))
        self._last = (ranks[-1], streams[-1] if streams else self.stream)
        return ranks, list(map(_third, parts)), streams

    def _learn(self, keys: set[bytes], fmt: LabelFormat) -> bool:
        """Check labels seen for the first time; False if one is not a label."""
        pattern = _FAST[fmt][1]
        learned: dict[bytes, tuple[int, str]] = {}
        for key in keys:
            m = pattern.fullmatch(key)
            if m is None:
                return False
            stream = _STREAM[m.group(2).decode()] if m.lastindex == 2 else self.stream
            learned[key] = (int(m.group(1)), stream)
        for key, (rank, stream) in learned.items():
            self._rank_of[key] = rank
            self._stream_of[key] = stream
            if stream != self.stream:
                self._other_stream.add(key)
        return True

    def lines(self, texts: list[str], t: float) -> list[Line]:
        """``Line`` values for ``texts`` (convenience; the runner uses ``batch``)."""
        return [Line(r, s, x, t) for r, s, x in self.rows("\n".join(texts))] if texts else []

    def rows(self, block: str, continued: list[int] | None = None) -> list[Row]:
        """Rows for ``block``: lines joined by ``\n``, without a trailing one.

        ``continued`` lists lines that are pieces of a cut over-long line (see
        ``LineSplitter.continued``): they carry no label of their own and belong
        to the rank of the line they continue."""
        rows = self._rows(block)
        if continued:
            raw = block.split("\n")
            for i in continued:
                rank, stream = rows[i - 1][:2] if i > 0 else self._last
                rows[i] = (rank, stream, raw[i])
        if rows:
            self._last = rows[-1][:2]
        return rows

    def _rows(self, block: str) -> list[Row]:
        fmt = self.fmt
        if fmt is LabelFormat.ANY:
            if "@ezpz:" in block:
                fmt = LabelFormat.WRAPPER
            elif "]<std" in block:
                fmt = LabelFormat.OPENMPI
            else:
                fmt = LabelFormat.SRUN
        if fmt is LabelFormat.NONE:
            stream = self.stream
            return [(LAUNCHER, stream, x) for x in block.split("\n")]
        if fmt is LabelFormat.WRAPPER:
            return self._wrapper(block.split("\n"))
        if fmt is LabelFormat.OPENMPI:
            return self._openmpi(block)
        return self._srun(block)

    def _openmpi(self, block: str) -> list[Row]:
        stream = self.stream
        found = _OPENMPI_BLOCK.findall(block)
        rows = [(int(r), _STREAM[s], x) if r else (LAUNCHER, stream, x) for r, s, x in found]
        if block.count("]<std") > sum(map(bool, map(itemgetter(0), found))):
            rows = self._split_embedded(rows)
        if stream == "stderr":
            for r, _, x in found:
                if not r:
                    self._launcher_line(x)
        return rows

    @staticmethod
    def _split_embedded(rows: list[Row]) -> list[Row]:
        """Open MPI writes ranks' unterminated last lines back to back at exit
        (``tail 0[1,1]<stdout>: tail 1``): split them at the inner labels."""
        out: list[Row] = []
        for rank, stream, text in rows:
            marks = list(_OPENMPI_INNER.finditer(text))
            if not marks:
                out.append((rank, stream, text))
                continue
            out.append((rank, stream, text[: marks[0].start()]))
            for m, nxt in zip(marks, [*marks[1:], None], strict=True):
                end = nxt.start() if nxt is not None else len(text)
                out.append((int(m.group(1)), _STREAM[m.group(2)], text[m.end() : end]))
        return out

    def _srun(self, block: str) -> list[Row]:
        stream = self.stream
        found = _SRUN_BLOCK.findall(block)
        rows = [(int(r), stream, x) if r else (LAUNCHER, stream, x) for r, x in found]
        if stream == "stderr":
            for r, x in found:
                if not r:
                    self._launcher_line(x)
        return rows

    def _wrapper(self, texts: list[str]) -> list[Row]:
        match = _WRAPPER_LINE.match
        out: list[Row] = []
        for s in texts:
            m = match(s)
            if m is None:
                out.append(
                    self._other_label(s)
                    if self.fmt is LabelFormat.ANY
                    else (LAUNCHER, self.stream, s)
                )
                continue
            rank, kind, text = int(m.group(1)), m.group(2), s[m.end() :]
            if kind == "x":
                self.exits.append(RankExited(rank, int(text) if text.lstrip("-").isdigit() else 1))
                continue
            if kind in "sS":  # a stack dump's record: never a line of the rank's output
                pieces = self._pieces.setdefault((rank, "stack"), [])
                pieces.append(text)
                if kind == "s":
                    self.stacks.append((rank, "".join(self._pieces.pop((rank, "stack")))))
                continue
            stream = _STREAM[kind.lower()]
            key = (rank, stream)
            if kind.isupper():  # a piece: the line continues in a later record
                pieces = self._pieces.setdefault(key, [])
                pieces.append(text)
                if sum(len(p) for p in pieces) >= MAX_JOINED:
                    joined = "".join(pieces)
                    out.append((rank, stream, joined[:MAX_JOINED]))
                    self._pieces[key] = [joined[MAX_JOINED:]] if len(joined) > MAX_JOINED else []
                continue
            pieces = self._pieces.pop(key, None)
            if pieces:
                text = "".join(pieces) + text
            while len(text) > MAX_JOINED:
                out.append((rank, stream, text[:MAX_JOINED]))
                text = text[MAX_JOINED:]
            out.append((rank, stream, text))
        return out

    def _other_label(self, s: str) -> Row:
        """A line of a wrapper block that may carry another launcher's label."""
        m = _OPENMPI_LINE.match(s)
        if m is not None:
            return (int(m.group(1)), _STREAM[m.group(2)], s[m.end() :])
        m = _SRUN_LINE.match(s)
        if m is not None:
            return (int(m.group(1)), self.stream, s[m.end() :])
        return (LAUNCHER, self.stream, s)

    def flush(self) -> list[Row]:
        """Pieces still waiting for their end (the rank died mid-line)."""
        out = [
            (rank, stream, "".join(p))
            for (rank, stream), p in self._pieces.items()
            if p and stream != "stack"  # half a stack record is no line of the rank
        ]
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

    def take_stacks(self) -> list[tuple[int, str]]:
        stacks, self.stacks = self.stacks, []
        return stacks


_LINE_LABELS: dict[LabelFormat, re.Pattern[bytes]] = {
    LabelFormat.OPENMPI: re.compile(_OPENMPI.encode()),
    LabelFormat.SRUN: re.compile(_SRUN.encode()),
    LabelFormat.WRAPPER: re.compile(_WRAPPER.encode()),
}


def split_label(fmt: LabelFormat, line: bytes) -> tuple[int, bytes]:
    """One line of ``combined.log`` -> (rank, text without its label).

    For readers of a finished file (the console), which need each line on its own
    and in place: no state, no joining of wrapper pieces, launcher lines and exit
    records stay lines of the launcher lane or of their rank."""
    if fmt is LabelFormat.NONE:
        return LAUNCHER, line
    formats = (
        (LabelFormat.WRAPPER, LabelFormat.OPENMPI, LabelFormat.SRUN)
        if fmt is LabelFormat.ANY
        else (fmt,)
    )
    for each in formats:
        m = _LINE_LABELS[each].match(line)
        if m is not None:
            return int(m.group(1)), line[m.end() :]
    return LAUNCHER, line
