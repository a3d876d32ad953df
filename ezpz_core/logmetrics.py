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

from ezpz_core.metrics import MetricRow

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


def parse_block(block: str, rank: int | None = None) -> list[MetricRow]:
    """Step lines in a block of lines (one rank's, newline-separated)."""
    if not any(word in block for word in _SCREEN):
        return []
    rows: list[MetricRow] = []
    for line in block.split("\n"):
        if "iter" in line or "step" in line:
            row = parse_step_line(line, rank)
            if row is not None:
                rows.append(row)
    return rows
