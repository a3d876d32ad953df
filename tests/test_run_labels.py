"""Attributor: who wrote each line, per label format, from recorded launcher output.

Formats are the real captures of shared/reference/launcher-output.md: Open MPI 5
``--tag-output`` (and the 4.x spelling without a space, and ``--output tag,timestamp``),
``srun --label``, PALS ``--label``, and our rank wrapper's ``@ezpz:R:K|`` records
(also behind torchrun's ``--tee`` prefix). Launcher exit messages become
``RankExited`` facts.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezpz_core.run.events import LAUNCHER, Line, RankExited
from ezpz_core.run.labels import Attributor, LabelFormat

T = 1.5


def attribute(fmt: LabelFormat, texts: list[str], stream: str = "stdout") -> list[Line]:
    return Attributor(fmt, stream).lines(texts, T)


def flushed(attributor: Attributor) -> list[Line]:
    """Pieces left at the end, as ``Line`` values (``flush`` gives rows)."""
    return [Line(rank, stream, text, T) for rank, stream, text in attributor.flush()]


def triples(lines: list[Line]) -> list[tuple[int, str, str]]:
    return [(line.rank, line.stream, line.text) for line in lines]


def per_rank(lines: list[Line]) -> dict[int, list[str]]:
    texts: dict[int, list[str]] = defaultdict(list)
    for line in lines:
        texts[line.rank].append(line.text)
    return dict(texts)


# -- Open MPI -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[1,0]<stdout>: text", (0, "stdout", "text"), id="ompi5-stdout"),
        pytest.param("[1,10]<stderr>: text", (10, "stderr", "text"), id="ompi5-stderr"),
        pytest.param("[1,3]<stddiag>: diag", (3, "stderr", "diag"), id="ompi5-stddiag"),
        pytest.param("[1,0]<stdout>:text", (0, "stdout", "text"), id="ompi4-no-space"),
        pytest.param(
            "[Thu Nov 26 12:02:11 2026][1,0]<stdout>: text",
            (0, "stdout", "text"),
            id="timestamp-prefix",
        ),
        pytest.param(
            "[Thu Nov 26 12:02:11 2026][1,7]<stderr>: boom",
            (7, "stderr", "boom"),
            id="timestamp-prefix-stderr",
        ),
        pytest.param("[1,2]<stdout>: ", (2, "stdout", ""), id="empty-text"),
        pytest.param("[1,2]<stdout>:", (2, "stdout", ""), id="empty-text-ompi4"),
        pytest.param("[1,0]<stdout>:  indented", (0, "stdout", " indented"), id="keeps-indent"),
        pytest.param("[12345,4]<stdout>: big jobid", (4, "stdout", "big jobid"), id="jobid"),
    ],
)
def test_openmpi_label(text: str, expected: tuple[int, str, str]) -> None:
    assert triples(attribute(LabelFormat.OPENMPI, [text])) == [expected]


def test_openmpi_labels_inside_a_line_split_it_between_ranks() -> None:
    """Open MPI writes ranks' unterminated last lines back to back at exit, so an
    inner label starts another rank's text (a rank that prints such a label
    itself is split the same way: the price of keeping those tails apart)."""
    lines = attribute(LabelFormat.OPENMPI, ["[1,0]<stdout>: tail 0[1,1]<stderr>: tail 1"])
    assert triples(lines) == [(0, "stdout", "tail 0"), (1, "stderr", "tail 1")]


def test_openmpi_stream_comes_from_the_label_not_the_pipe() -> None:
    lines = attribute(LabelFormat.OPENMPI, ["[1,0]<stdout>: out"], stream="stderr")
    assert triples(lines) == [(0, "stdout", "out")]


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_openmpi_unlabelled_line_goes_to_the_launcher_lane_with_the_pipe_stream(
    stream: str,
) -> None:
    lines = attribute(LabelFormat.OPENMPI, ["prterun: some launcher message"], stream=stream)
    assert triples(lines) == [(LAUNCHER, stream, "prterun: some launcher message")]


def test_lines_carry_the_time_given() -> None:
    (line,) = attribute(LabelFormat.OPENMPI, ["[1,0]<stdout>: x"])
    assert line.t == T


# -- srun and PALS --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(" 0: text", (0, "text"), id="srun-right-aligned"),
        pytest.param("11: text", (11, "text"), id="srun-two-digits"),
        pytest.param("   7: wide", (7, "wide"), id="srun-wider-padding"),
        pytest.param("0: text", (0, "text"), id="pals"),
        pytest.param("23: pals rank 23", (23, "pals rank 23"), id="pals-two-digits"),
        pytest.param(" 0: ", (0, ""), id="empty-text"),
        pytest.param(" 3: time 12: 30: 00", (3, "time 12: 30: 00"), id="label-lookalike-later"),
        pytest.param("1: 2: nested", (1, "2: nested"), id="second-label-is-text"),
    ],
)
def test_srun_label(text: str, expected: tuple[int, str]) -> None:
    rank, body = expected
    assert triples(attribute(LabelFormat.SRUN, [text])) == [(rank, "stdout", body)]


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_srun_stream_comes_from_the_pipe(stream: str) -> None:
    assert triples(attribute(LabelFormat.SRUN, [" 1: x"], stream=stream)) == [(1, stream, "x")]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("srun: job 42 queued and waiting for resources", id="srun-message"),
        pytest.param("no label here", id="plain"),
        pytest.param("", id="empty"),
        pytest.param("x 1: not a label", id="label-not-at-start"),
    ],
)
def test_srun_unlabelled_line_goes_to_the_launcher_lane(text: str) -> None:
    lines = attribute(LabelFormat.SRUN, [text], stream="stderr")
    assert triples(lines) == [(LAUNCHER, "stderr", text)]


# -- our wrapper ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("@ezpz:3:o|text", (3, "stdout", "text"), id="stdout-record"),
        pytest.param("@ezpz:3:e|text", (3, "stderr", "text"), id="stderr-record"),
        pytest.param("@ezpz:0:o|", (0, "stdout", ""), id="empty-text"),
        pytest.param("@ezpz:1023:o|big", (1023, "stdout", "big"), id="big-rank"),
        pytest.param("[default0]:@ezpz:0:o|text", (0, "stdout", "text"), id="torchrun-tee"),
        pytest.param("[default12]:@ezpz:12:e|err", (12, "stderr", "err"), id="torchrun-tee-e"),
        pytest.param(
            "@ezpz:2:o|see @ezpz:5:e|not a label",
            (2, "stdout", "see @ezpz:5:e|not a label"),
            id="label-lookalike-later",
        ),
        pytest.param("@ezpz:4:o|a|b|c", (4, "stdout", "a|b|c"), id="pipes-in-text"),
    ],
)
def test_wrapper_record(text: str, expected: tuple[int, str, str]) -> None:
    assert triples(attribute(LabelFormat.WRAPPER, [text])) == [expected]


def test_wrapper_stream_comes_from_the_kind_not_the_pipe() -> None:
    lines = attribute(LabelFormat.WRAPPER, ["@ezpz:3:e|err", "@ezpz:3:o|out"], stream="stdout")
    assert triples(lines) == [(3, "stderr", "err"), (3, "stdout", "out")]


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_wrapper_unlabelled_line_goes_to_the_launcher_lane_with_the_pipe_stream(
    stream: str,
) -> None:
    lines = attribute(LabelFormat.WRAPPER, ["W1126 12:02:05.440000 torchrun warning"], stream)
    assert triples(lines) == [(LAUNCHER, stream, "W1126 12:02:05.440000 torchrun warning")]


def test_wrapper_pieces_are_rejoined() -> None:
    lines = attribute(LabelFormat.WRAPPER, ["@ezpz:3:O|ab", "@ezpz:3:o|cd"])
    assert triples(lines) == [(3, "stdout", "abcd")]


def test_wrapper_pieces_are_rejoined_across_another_ranks_record() -> None:
    lines = attribute(LabelFormat.WRAPPER, ["@ezpz:3:O|ab", "@ezpz:4:o|other", "@ezpz:3:o|cd"])
    assert triples(lines) == [(4, "stdout", "other"), (3, "stdout", "abcd")]


def test_wrapper_pieces_are_rejoined_across_calls() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    assert attributor.lines(["@ezpz:3:O|ab", "@ezpz:3:O|cd"], T) == []
    assert triples(attributor.lines(["@ezpz:3:o|ef"], T)) == [(3, "stdout", "abcdef")]


def test_wrapper_stdout_and_stderr_pieces_of_one_rank_stay_apart() -> None:
    lines = attribute(
        LabelFormat.WRAPPER, ["@ezpz:1:O|out-", "@ezpz:1:E|err-", "@ezpz:1:e|end", "@ezpz:1:o|end"]
    )
    assert triples(lines) == [(1, "stderr", "err-end"), (1, "stdout", "out-end")]


@pytest.mark.parametrize(
    ("text", "exit"),
    [
        pytest.param("@ezpz:3:x|0", RankExited(3, 0), id="zero"),
        pytest.param("@ezpz:3:x|3", RankExited(3, 3), id="code"),
        pytest.param("@ezpz:3:x|-9", RankExited(3, -9), id="signal"),
        pytest.param("[default1]:@ezpz:1:x|-15", RankExited(1, -15), id="torchrun-tee"),
    ],
)
def test_wrapper_exit_record_is_a_rank_exit_not_a_line(text: str, exit: RankExited) -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    assert attributor.lines([text], T) == []
    assert attributor.take_exits() == [exit]
    assert attributor.take_exits() == []


def test_wrapper_flush_returns_pieces_of_a_line_whose_end_never_came() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    assert attributor.lines(["@ezpz:2:O|half a ", "@ezpz:2:O|line", "@ezpz:5:E|err"], T) == []
    assert sorted(triples(flushed(attributor))) == [
        (2, "stdout", "half a line"),
        (5, "stderr", "err"),
    ]
    assert attributor.flush() == []


def test_wrapper_flush_is_empty_when_every_line_ended() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    attributor.lines(["@ezpz:2:O|a", "@ezpz:2:o|b"], T)
    assert attributor.flush() == []


# -- ANY (--launcher none) ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("[1,4]<stderr>: ompi", (4, "stderr", "ompi"), id="openmpi"),
        pytest.param("[1,4]<stdout>:ompi4", (4, "stdout", "ompi4"), id="openmpi4"),
        pytest.param(
            "[Thu Nov 26 12:02:11 2026][1,2]<stdout>: ts", (2, "stdout", "ts"), id="timestamp"
        ),
        pytest.param(" 5: srun", (5, "stdout", "srun"), id="srun"),
        pytest.param("0: pals", (0, "stdout", "pals"), id="pals"),
        pytest.param("@ezpz:6:e|wrapped", (6, "stderr", "wrapped"), id="wrapper"),
        pytest.param("[default0]:@ezpz:0:o|tee", (0, "stdout", "tee"), id="wrapper-tee"),
        pytest.param("plain output", (LAUNCHER, "stdout", "plain output"), id="unlabelled"),
    ],
)
def test_any_accepts_every_label(text: str, expected: tuple[int, str, str]) -> None:
    assert triples(attribute(LabelFormat.ANY, [text])) == [expected]


def test_any_rejoins_wrapper_pieces_and_records_exits() -> None:
    attributor = Attributor(LabelFormat.ANY, "stdout")
    lines = attributor.lines(["@ezpz:1:O|ab", " 0: srun", "@ezpz:1:o|cd", "@ezpz:1:x|4"], T)
    assert triples(lines) == [(0, "stdout", "srun"), (1, "stdout", "abcd")]
    assert attributor.take_exits() == [RankExited(1, 4)]


def test_none_format_parses_nothing() -> None:
    lines = attribute(LabelFormat.NONE, ["[1,0]<stdout>: x", " 0: y", "@ezpz:0:o|z"])
    assert [line.rank for line in lines] == [LAUNCHER] * 3
    assert [line.text for line in lines] == ["[1,0]<stdout>: x", " 0: y", "@ezpz:0:o|z"]


# -- launcher exit messages -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "exits"),
    [
        pytest.param(
            "srun: error: vm: task 1: Exited with exit code 3", [RankExited(1, 3)], id="one-task"
        ),
        pytest.param(
            "srun: error: vm: tasks 2-3: Killed",
            [RankExited(2, -9), RankExited(3, -9)],
            id="range-killed",
        ),
        pytest.param(
            "srun: error: nid001: tasks 0,2: Exited with exit code 1",
            [RankExited(0, 1), RankExited(2, 1)],
            id="list",
        ),
        pytest.param(
            "srun: error: vm: task 0: Segmentation fault", [RankExited(0, -11)], id="segfault"
        ),
        pytest.param("srun: error: vm: task 5: Terminated", [RankExited(5, -15)], id="term"),
        pytest.param("srun: error: Unable to allocate resources", [], id="other-error"),
    ],
)
def test_srun_exit_message(text: str, exits: list[RankExited]) -> None:
    attributor = Attributor(LabelFormat.SRUN, "stderr")
    lines = attributor.lines([text], T)
    assert triples(lines) == [(LAUNCHER, "stderr", text)]
    assert attributor.take_exits() == exits


def test_srun_exit_message_inside_rank_output_is_not_a_rank_exit() -> None:
    attributor = Attributor(LabelFormat.SRUN, "stdout")
    attributor.lines([" 0: srun: error: vm: task 1: Exited with exit code 3"], T)
    assert attributor.take_exits() == []


PRTE_BLOCK = [
    "-" * 74,
    "prterun detected that one or more processes exited with non-zero status,",
    "thus causing the job to be terminated. The first process to do so was:",
    "",
    "   Process name: [prterun-vm-18655@1,1]",
    "   Exit code:    3",
    "-" * 74,
]


def test_openmpi_boxed_exit_block_gives_the_rank_exit() -> None:
    attributor = Attributor(LabelFormat.OPENMPI, "stderr")
    lines = attributor.lines(PRTE_BLOCK, T)
    assert [line.rank for line in lines] == [LAUNCHER] * len(PRTE_BLOCK)
    assert attributor.take_exits() == [RankExited(1, 3)]


def test_openmpi_boxed_exit_block_split_across_reads_gives_the_rank_exit() -> None:
    attributor = Attributor(LabelFormat.OPENMPI, "stderr")
    attributor.lines(PRTE_BLOCK[:5], T)
    attributor.lines(PRTE_BLOCK[5:], T)
    assert attributor.take_exits() == [RankExited(1, 3)]


def test_exit_code_line_without_a_process_name_is_no_rank_exit() -> None:
    attributor = Attributor(LabelFormat.OPENMPI, "stderr")
    attributor.lines(["   Exit code:    3"], T)
    assert attributor.take_exits() == []


# -- recorded interleaved captures ----------------------------------------------

OPENMPI_CAPTURE = [
    "[1,0]<stdout>: out line A from rank 0",
    "[1,1]<stdout>: out line A from rank 1",
    "[1,1]<stdout>: part1 of line 0 rank 1 part2",
    "[1,0]<stdout>: part1 of line 0 rank 0 part2",
    "[1,0]<stdout>: out line B from rank 0",
    "[1,1]<stdout>: out line B from rank 1",
]

SRUN_CAPTURE = [
    " 0: out line A from rank 0",
    "10: out line A from rank 10",
    " 1: out line A from rank 1",
    "10: out line B from rank 10",
    "srun: launch/slurm: launch_p_step_launch: StepId=7.0 aborted before step completely launched.",
    " 0: out line B from rank 0",
]

WRAPPER_CAPTURE = [
    "@ezpz:0:O|part1 of line 0 rank 0 ",
    "@ezpz:1:O|part1 of line 0 rank 1 ",
    "@ezpz:1:o|part2",
    "W1126 12:02:05.440000 11131 torch/distributed/run.py:874] launcher warning",
    "@ezpz:0:o|part2",
    "@ezpz:0:o|out line A from rank 0",
    "@ezpz:1:x|0",
    "@ezpz:0:x|3",
]


@pytest.mark.parametrize(
    ("fmt", "capture", "expected"),
    [
        pytest.param(
            LabelFormat.OPENMPI,
            OPENMPI_CAPTURE,
            {
                0: [
                    "out line A from rank 0",
                    "part1 of line 0 rank 0 part2",
                    "out line B from rank 0",
                ],
                1: [
                    "out line A from rank 1",
                    "part1 of line 0 rank 1 part2",
                    "out line B from rank 1",
                ],
            },
            id="openmpi",
        ),
        pytest.param(
            LabelFormat.SRUN,
            SRUN_CAPTURE,
            {
                0: ["out line A from rank 0", "out line B from rank 0"],
                10: ["out line A from rank 10", "out line B from rank 10"],
                1: ["out line A from rank 1"],
                LAUNCHER: [SRUN_CAPTURE[4]],
            },
            id="srun",
        ),
        pytest.param(
            LabelFormat.WRAPPER,
            WRAPPER_CAPTURE,
            {
                1: ["part1 of line 0 rank 1 part2"],
                LAUNCHER: [WRAPPER_CAPTURE[3]],
                0: ["part1 of line 0 rank 0 part2", "out line A from rank 0"],
            },
            id="wrapper",
        ),
    ],
)
def test_interleaved_capture_is_split_per_rank(
    fmt: LabelFormat, capture: list[str], expected: dict[int, list[str]]
) -> None:
    assert per_rank(attribute(fmt, capture)) == expected


def test_interleaved_wrapper_capture_gives_every_rank_exit() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    attributor.lines(WRAPPER_CAPTURE, T)
    assert attributor.take_exits() == [RankExited(1, 0), RankExited(0, 3)]


# -- property: wrapper records round-trip ---------------------------------------

_TEXT = st.text(st.characters(exclude_characters="\n\r"), max_size=30)
_PAIRS = st.lists(st.tuples(st.integers(min_value=0, max_value=5), _TEXT), max_size=40)


def _records(rank: int, text: str, cuts: list[int]) -> list[str]:
    """Wrapper records for one line: pieces (``O``) at ``cuts``, then the end (``o``)."""
    bounds = [0, *sorted({c % (len(text) + 1) for c in cuts}), len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    *more, last = pieces
    return [f"@ezpz:{rank}:O|{p}" for p in more] + [f"@ezpz:{rank}:o|{last}"]


@settings(max_examples=200, deadline=None)
@given(pairs=_PAIRS)
def test_wrapper_records_give_back_every_rank_line_in_order(
    pairs: list[tuple[int, str]],
) -> None:
    records = [f"@ezpz:{rank}:o|{text}" for rank, text in pairs]
    lines = attribute(LabelFormat.WRAPPER, records)
    expected: dict[int, list[str]] = defaultdict(list)
    for rank, text in pairs:
        expected[rank].append(text)
    assert per_rank(lines) == dict(expected)
    assert {line.stream for line in lines} <= {"stdout"}


@settings(max_examples=200, deadline=None)
@given(
    pairs=_PAIRS,
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_wrapper_pieces_interleaved_between_ranks_give_back_every_line(
    pairs: list[tuple[int, str]], cuts: list[int], order: random.Random
) -> None:
    queues: dict[int, list[str]] = defaultdict(list)
    for rank, text in pairs:
        queues[rank].extend(_records(rank, text, cuts))
    records: list[str] = []
    while queues:  # interleave ranks randomly, each rank's records staying in order
        rank = order.choice(sorted(queues))
        records.append(queues[rank].pop(0))
        if not queues[rank]:
            del queues[rank]
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    lines = attributor.lines(records, T) + flushed(attributor)
    expected: dict[int, list[str]] = defaultdict(list)
    for rank, text in pairs:
        expected[rank].append(text)
    assert per_rank(lines) == dict(expected)
