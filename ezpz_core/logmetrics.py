"""Metrics from log lines, for jobs that write no history file.

ezpz and our workload print one ``key=value`` line per logged step::

    [2026-11-26 11:51:34][I][examples/test:403:train_step] iter=2    loss=2.192272(±6.7e-3) ...
    step=10 loss=0.6931 dt=0.0123 samples_per_s=5200.1

ezpz colours these even when piped, and splits numbers with colour codes
(``2\\x1b[0m\\x1b[1;36m.192272``), so codes are stripped before parsing. A line
counts when it has a ``step=N`` or ``iter=N`` token; then every ``key=number``
token is a metric and ``(±s)`` after a number is that metric's ``key/std``.
Tokens that are not plain numbers (``memory=1.2/3.4GiB``) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import compress, pairwise
from operator import itemgetter

from ezpz_core.metrics import MetricRow, MetricSeries

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|NaN|inf|Inf|Infinity)"
STEP_TOKEN = re.compile(r"(?:^|\s)(?:iter|step)=\d+(?=\s|$|\()")
TOKEN = re.compile(
    r"(?:^|(?<=\s))([A-Za-z_][\w./-]*)=(" + _NUMBER + r")(?:\(±(" + _NUMBER + r")\))?(?=\s|$)"
)
# A block without one of these words has no step line: skip it without a regex
# (not ``iter=``: a colour code may sit between the key and its ``=``).
_SCREEN = ("iter", "step")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text) if "\x1b" in text else text


def parse_step_line(text: str, rank: int | None = None) -> MetricRow | None:
    """The metrics on one printed line, or None if it is not a step line."""
    text = strip_ansi(text)
    if STEP_TOKEN.search(text) is None:
        return None
    values: dict[str, float] = {}
    for key, value, std in TOKEN.findall(text):
        values[key] = float(value)
        if std:
            values[f"{key}/std"] = float(std)
    return MetricRow(values=values, rank=rank) if values else None


def parse_block(block: str | bytes, rank: int | None = None) -> list[MetricRow]:
    """Step lines in a block of lines (one rank's, newline-separated)."""
    if isinstance(block, bytes):
        block = block.decode("utf-8", "replace")
    if not any(word in block for word in _SCREEN):
        return []
    return [row for _line, row in _step_rows(block, rank)]


def _step_rows(block: str, rank: int | None) -> list[tuple[str, MetricRow]]:
    """Each step line of ``block`` with its row."""
    out = []
    for line in block.split("\n"):
        if "iter" in line or "step" in line:
            row = parse_step_line(line, rank)
            if row is not None:
                out.append((line, row))
    return out


# -- the fast path: step lines of one learned shape, parsed in columns ---------

_NUMBER_B = _NUMBER.encode()
_ANSI_B = re.compile(ANSI.pattern.encode())
_STEP_TOKEN_B = re.compile(STEP_TOKEN.pattern.encode())
_PLUS_MINUS = "±".encode()
_WORD_SPACE = rb"[^\S\n]"  # whitespace within a line


@dataclass(frozen=True)
class Shape:
    """One kind of step line: its keys in order and two regexes for it.

    ``pattern`` is exact and tells such lines from any other (one match per line
    of a block, the other lines in the last group). ``loose`` is what makes most
    blocks cheap: it starts with a literal (the regex engine then skips ahead
    between matches), copies the line's exact separators, and takes any
    non-blank text as a value; a block is taken by it only when the checks in
    ``BlockParser._loose`` prove the result is the exact one."""

    pattern: re.Pattern[bytes]
    keys: tuple[str, ...]
    loose: re.Pattern[bytes]
    loose_plain: re.Pattern[bytes]  # ``loose`` for blocks without any ``(±std)``


def line_shape(text: str) -> Shape | None:
    """A regex for lines made exactly like ``text``: no ``=`` before the first
    token, then the same ``key=number`` tokens in the same order separated by
    whitespace and nothing else. A line it matches parses, token for token, as
    ``parse_step_line`` parses it. None when ``text`` is not such a line."""
    tokens = list(TOKEN.finditer(text))
    if not tokens or "=" in text[: tokens[0].start()]:
        return None
    keys = [m.group(1) for m in tokens]
    if len(set(keys)) != len(keys):
        return None
    gaps = [text[a.end() : b.start()] for a, b in pairwise(tokens)]
    if any(not gap or not gap.isspace() for gap in gaps) or text[tokens[-1].end() :].strip():
        return None
    step = next(
        (m.group(1) for m in tokens if m.group(1) in ("step", "iter") and m.group(2).isdigit()),
        None,
    )
    if step is None:
        return None
    parts = []
    for key in keys:
        value = rb"(\d+)" if key == step else rb"(" + _NUMBER_B + rb")"
        std = rb"(?:\(" + _PLUS_MINUS + rb"(" + _NUMBER_B + rb")\))?"
        parts.append(re.escape(key.encode()) + b"=" + value + std)
    body = (_WORD_SPACE + b"+").join(parts)
    pattern = rb"^(?:(?:[^=\n]*" + _WORD_SPACE + rb")?" + body + _WORD_SPACE + rb"*|(.*))$"
    prefix = text[: tokens[0].start()]
    lead = re.escape(prefix[-1].encode()) if prefix else b"^"
    loose, plain = lead, lead
    for i, key in enumerate(keys):
        value = rb"(\d+)" if key == step else rb"([0-9.eE+-]+)"
        std = rb"(?:\(" + _PLUS_MINUS + rb"([0-9.eE+-]+)\))?"
        gap = re.escape(gaps[i].encode()) if i < len(gaps) else b""
        loose += re.escape(key.encode()) + b"=" + value + std + gap
        plain += re.escape(key.encode()) + b"=" + value + gap
    end = re.escape(text[tokens[-1].end() :].encode()) + b"\n"
    return Shape(
        re.compile(pattern, re.MULTILINE),
        tuple(keys),
        re.compile(loose + end, re.MULTILINE),
        re.compile(plain + end, re.MULTILINE),
    )


class BlockParser:
    """Metrics of one log source, fed blocks of its lines as bytes.

    Training jobs print the same step line over and over, so the parser learns
    its shape (``line_shape``) from a line the general parser read, then takes
    whole blocks of such lines with one regex pass and C-level column work. A
    block with a step line of another shape goes through ``parse_block`` (the
    reference) and the shape is learned anew from its last step line. Either
    way every step line counts: the summaries see every value."""

    def __init__(self, series: MetricSeries, rank: int | None = None) -> None:
        self.series = series
        self.rank = rank
        self.shape: Shape | None = None
        self.fast_blocks = 0
        self.slow_blocks = 0

    def feed(self, block: bytes) -> None:
        if b"step" not in block and b"iter" not in block:
            return
        if b"\x1b" in block:
            block = _ANSI_B.sub(b"", block)
        if self.shape is None:
            block = self._learn(block)
        if self.shape is not None and self._fast(block):
            self.fast_blocks += 1
            return
        self.slow_blocks += 1
        self._slow(block)

    def _learn(self, block: bytes) -> bytes:
        """Parse lines up to the first step line and learn its shape; the rest."""
        pos = 0
        while True:
            hits = [at for at in (block.find(b"step", pos), block.find(b"iter", pos)) if at >= 0]
            if not hits:
                return b""
            start = block.rfind(b"\n", 0, min(hits)) + 1
            end = block.find(b"\n", min(hits))
            end = len(block) if end < 0 else end + 1
            text = block[start:end].decode("utf-8", "replace").rstrip("\n")
            row = parse_step_line(text, self.rank)
            if row is not None:
                self.series.add([row])
                self.shape = line_shape(text)
                return block[end:]
            pos = end

    def _slow(self, block: bytes) -> None:
        found = _step_rows(block.decode("utf-8", "replace"), self.rank)
        self.series.add(row for _line, row in found)
        if found:
            self.shape = line_shape(found[-1][0])

    def _loose(self, block: bytes) -> bool:
        """The block in columns by ``Shape.loose``, if that is provably exact:

        * as many matches as lines: a match ends with its line's newline, so no
          line holds two, and every line holds one;
        * as many ``=`` in the block as the matches hold: no other token, and no
          ``=`` before the first key (which ``line_shape`` requires);
        * every value a plain decimal number: the regex takes only digits,
          signs, points and exponent letters, and ``float`` takes exactly the
          strings of those that are numbers (``nan``, ``1_0`` and friends go to
          the exact regex).
        """
        shape = self.shape
        assert shape is not None
        lines = block.count(b"\n")
        if not lines or not block.endswith(b"\n"):
            return False
        spread = b"\xb1" in block  # the last byte of "±": one memchr pass
        found = (shape.loose if spread else shape.loose_plain).findall(block)
        if len(found) != lines or block.count(b"=") != lines * len(shape.keys):
            return False
        if len(shape.keys) == 1 and not spread:
            columns = [found]
        else:
            columns = [list(map(itemgetter(i), found)) for i in range(len(found[0]))]
        try:
            values = _values(shape.keys, columns, spread)
        except ValueError:  # "1.2.3", "e5": the exact regex decides
            return False
        self.series.add_columns(values, lines)
        return True

    def _fast(self, block: bytes) -> bool:
        """Parse ``block`` in columns; False (nothing taken) if it needs ``_slow``."""
        shape = self.shape
        assert shape is not None
        if self._loose(block):
            return True
        found = shape.pattern.findall(block, 0, len(block) - block.endswith(b"\n"))
        if not found:
            return True
        columns = list(zip(*found, strict=True))
        others = columns.pop()
        first = columns[0]  # the first key's values: empty on lines of other shapes
        if not all(first):
            for other in others:
                if (b"step" in other or b"iter" in other) and _STEP_TOKEN_B.search(other):
                    return False  # a step line of another shape: the general parser
            mask = list(map(bool, first))
            columns = [list(compress(col, mask)) for col in columns]
            if not columns[0]:
                return True
        self.series.add_columns(_values(shape.keys, columns, spread=True), len(columns[0]))
        return True


def _values(
    keys: tuple[str, ...], columns: list[list[bytes]], spread: bool
) -> dict[str, tuple[list[bool] | None, list[float]]]:
    """Columns of matched text as ``MetricSeries.add_columns`` takes them: one
    column per key, or (``spread``) a value and a ``(±std)`` column per key, the
    std empty on rows without one. ValueError for a value ``float`` refuses."""
    if not spread:
        return {key: (None, list(map(float, col))) for key, col in zip(keys, columns, strict=True)}
    values: dict[str, tuple[list[bool] | None, list[float]]] = {}
    for i, key in enumerate(keys):
        values[key] = (None, list(map(float, columns[2 * i])))
        stds = columns[2 * i + 1]
        if any(stds):
            mask = None if all(stds) else list(map(bool, stds))
            values[f"{key}/std"] = (mask, list(map(float, compress(stds, mask) if mask else stds)))
    return values
