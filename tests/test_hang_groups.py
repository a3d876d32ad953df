"""The hang doctor's pure half: parse each rank's stacks, group them, name the suspect.

Parsers run on real dumps captured here (``tests/data/hang/capture.sh``: py-spy 0.4.3
``dump --json`` and Python 3.11 faulthandler text of small programs, and a 4-rank
torch gloo job in which rank 2 waits for data while 0, 1 and 3 sit in all_reduce).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ezpz_core.hang.groups import (
    COLLECTIVES,
    WAIT_DEPTH,
    Group,
    Report,
    Suspect,
    build_report,
    group_stacks,
    moved,
    prefix_tree,
    rank_ranges,
    render_text,
    suspect,
    tree_lines,
)
from ezpz_core.hang.stacks import (
    Frame,
    RankStack,
    ThreadStack,
    main_thread,
    parse_faulthandler,
    parse_pyspy_json,
)

DATA = Path(__file__).parent / "data" / "hang"
T = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
TRAIN = ("main", "train_step", "all_reduce")  # outermost first
DATA_WAIT = ("main", "data_step", "next_batch")


def frames(names: tuple[str, ...], lines: tuple[int, ...] | None = None) -> tuple[Frame, ...]:
    """Outermost-first names -> a thread's frames (innermost first), in train.py."""
    lines = lines or tuple(10 * (i + 1) for i in range(len(names)))
    return tuple(Frame(n, "/job/train.py", line) for n, line in zip(names, lines, strict=True))[
        ::-1
    ]


def rank(
    number: int,
    names: tuple[str, ...],
    lines: tuple[int, ...] | None = None,
    source: str = "py-spy",
    silent: float | None = None,
) -> RankStack:
    thread = ThreadStack(100 + number, "MainThread", frames(names, lines))
    return RankStack(number, source, (thread,), host="x0", pid=4000 + number, silent_s=silent)


def four_ranks(silent: bool = False) -> list[RankStack]:
    """0, 1 and 3 in all_reduce <- train_step <- main; 2 in next_batch <- data_step <- main."""
    s = {0: 12.0, 1: 12.4, 2: 95.0, 3: 11.0} if silent else {}
    return [rank(r, DATA_WAIT if r == 2 else TRAIN, silent=s.get(r)) for r in range(4)]


def names_of(group: Group) -> tuple[str, ...]:
    return tuple(f.name for f in group.frames)


# --- rank_ranges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranks", "text"),
    [
        ([], ""),
        ([3], "3"),
        ([0, 1], "0-1"),
        ([0, 2, 4], "0,2,4"),
        ([5, 0, 1, 3, 6, 7, 8, 9, 10, 11], "0-1,3,5-11"),
        ([2, 2, 1, 1], "1-2"),
        (range(127_488), "0-127487"),
        (iter([9, 7, 8]), "7-9"),
    ],
)
def test_rank_ranges_are_sorted_deduplicated_runs(ranks: list[int], text: str) -> None:
    assert rank_ranges(ranks) == text


# --- records and parsers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "text"),
    [
        (Frame("train_step", "/home/u/proj/train.py", 42), "train_step (train.py:42)"),
        (Frame("<module>", "<frozen runpy>", 88), "<module> (<frozen runpy>:88)"),
        (Frame("f", "lib.py", 0), "f (lib.py)"),  # line unknown
    ],
)
def test_frame_text_names_the_file_by_its_base_name(frame: Frame, text: str) -> None:
    assert frame.text == text


def test_pyspy_single_thread_dump_has_a_null_name_and_is_the_main_thread() -> None:
    threads = parse_pyspy_json((DATA / "pyspy-one-thread.json").read_text())
    assert len(threads) == 1
    (thread,) = threads
    assert thread.name == ""  # threading never imported: py-spy says null
    assert [(f.name, f.line) for f in thread.frames] == [
        ("wait_for_data", 7),
        ("data_step", 11),
        ("main", 15),
        ("<module>", 19),
    ]
    assert thread.frames[0].filename.endswith("tests/data/hang/programs/pyspy_one_thread.py")
    assert (thread.active, thread.owns_gil) == (False, False)
    assert main_thread(RankStack(0, "py-spy", threads)) is thread


def test_pyspy_two_thread_dump_finds_main_thread_by_name() -> None:
    threads = parse_pyspy_json((DATA / "pyspy-two-threads.json").read_text())
    assert [t.name for t in threads] == ["heartbeat", "MainThread"]
    assert threads[0].frames[-1].name == "Thread._bootstrap"  # py-spy qualifies methods
    main = main_thread(RankStack(0, "py-spy", threads))
    assert main is threads[1]
    assert [f.name for f in main.frames] == ["all_reduce", "train_step", "main", "<module>"]
    assert len({t.thread_id for t in threads}) == 2


def test_pyspy_ignores_other_keys_and_reads_a_null_line_as_zero() -> None:
    text = json.dumps(
        [
            {
                "pid": 1,
                "thread_id": 7,
                "thread_name": "MainThread",
                "os_thread_id": 1,
                "active": True,
                "owns_gil": True,
                "frames": [
                    {"name": "f", "filename": "a.py", "line": None, "module": None, "locals": []}
                ],
                "process_info": None,
            }
        ]
    )
    (thread,) = parse_pyspy_json(text)
    assert thread == ThreadStack(7, "MainThread", (Frame("f", "a.py", 0),), True, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not JSON"),
        ("Error: Permission denied (os error 13)", "not JSON"),
        ('{"thread_id": 1}', "not a list of threads"),
        ("[1]", "thread 0 is a int"),
        ('[{"thread_id": "0x1", "frames": []}]', "thread_id '0x1' is not an integer"),
        ('[{"thread_id": 1}]', "frames is missing"),
        ('[{"thread_id": 1, "thread_name": 5, "frames": []}]', "thread_name 5"),
        ('[{"thread_id": 1, "frames": [3]}]', "frame 0 is not an object"),
        ('[{"thread_id": 1, "frames": [{"name": 1, "filename": "a", "line": 1}]}]', "strings"),
        ('[{"thread_id": 1, "frames": [{"name": "f", "filename": "a", "line": "2"}]}]', "'2'"),
    ],
)
def test_pyspy_garbage_raises_value_error_saying_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_pyspy_json(text)


def _thread_ids(text: str) -> list[int]:
    return [int(h, 16) for h in re.findall(r"^(?:Current thread|Thread) 0x([0-9a-f]+)", text, re.M)]


def test_faulthandler_single_thread_dump() -> None:
    text = (DATA / "faulthandler-one-thread.txt").read_text()
    (thread,) = parse_faulthandler(text)
    assert thread.thread_id == _thread_ids(text)[0]
    assert thread.name == ""
    assert [(f.name, f.line) for f in thread.frames] == [
        ("all_reduce", 20),
        ("train_step", 24),
        ("main", 31),
        ("<module>", 35),
    ]
    assert thread.frames[0].filename.endswith("programs/faulthandler_signal.py")


def test_faulthandler_threads_come_in_the_order_listed_and_main_is_the_entry_thread() -> None:
    text = (DATA / "faulthandler-two-threads.txt").read_text()
    threads = parse_faulthandler(text)
    assert [t.thread_id for t in threads] == _thread_ids(text)
    assert threads[0].frames[0].name == "heartbeat"
    assert threads[0].frames[-1].name == "_bootstrap"  # faulthandler: unqualified names
    # the signal ran on the main thread: listed last, as "Current thread"
    assert main_thread(RankStack(0, "faulthandler", threads)) is threads[1]


def test_faulthandler_dump_from_another_thread_still_finds_main() -> None:
    threads = parse_faulthandler((DATA / "faulthandler-dumping-thread.txt").read_text())
    assert [t.frames[0].name for t in threads] == ["dumper", "waiter", "_wait_for_tstate_lock"]
    main = main_thread(RankStack(0, "faulthandler", threads))
    assert main is threads[2]
    assert [f.name for f in main.frames] == ["_wait_for_tstate_lock", "join", "main", "<module>"]


def test_faulthandler_skips_other_lines_and_reads_unknowns() -> None:
    text = (
        "Fatal Python error: Segmentation fault\n\n"
        "Thread 0x0000000000000001 (most recent call first):\n"
        "  <no Python frame>\n\n"
        "Current thread 0x00000000000000ff (most recent call first):\n"
        '  File "???", line ??? in ???\n'
        '  File "odd", line 1 in x.py", line 7 in f\n'
        '  File "/job/train.py", line 3 in <module>\n'
        "  ...\n\n"
        "Extension modules: numpy.core._multiarray_umath (total: 1)\n"
    )
    threads = parse_faulthandler(text)
    assert threads == (
        ThreadStack(1, "", ()),
        ThreadStack(
            0xFF,
            "",
            (
                Frame("???", "???", 0),
                Frame("f", 'odd", line 1 in x.py', 7),
                Frame("<module>", "/job/train.py", 3),
            ),
        ),
    )
    assert main_thread(RankStack(0, "faulthandler", threads)) is threads[1]


def test_faulthandler_single_stack_without_thread_ids() -> None:
    text = 'Stack (most recent call first):\n  File "/job/a.py", line 9 in <module>\n'
    assert parse_faulthandler(text) == (ThreadStack(0, "", (Frame("<module>", "/job/a.py", 9),)),)


@pytest.mark.parametrize("text", ["", "hello\n", '  File "a.py", line 1 in f\n'])
def test_faulthandler_text_without_a_thread_raises(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("no 'Thread 0x...' stack")):
        parse_faulthandler(text)


BOOT = (Frame("_bootstrap", "/usr/lib/python3.11/threading.py", 1002),)
ENTRY = (Frame("f", "a.py", 2), Frame("<module>", "a.py", 9))
RUNPY = (Frame("main", "a.py", 2), Frame("_run_module_as_main", "<frozen runpy>", 198))
OTHER = (Frame("loop", "embed.py", 5),)


@pytest.mark.parametrize(
    ("threads", "expected"),
    [
        ([ThreadStack(1, "w", ENTRY), ThreadStack(2, "MainThread", OTHER)], 1),  # 1: by name
        ([ThreadStack(1, "", BOOT), ThreadStack(2, "", ENTRY)], 1),  # 2: <module> outermost
        ([ThreadStack(1, "", BOOT), ThreadStack(2, "", RUNPY)], 1),  # 2: python -m
        ([ThreadStack(1, "", BOOT)], 0),  # 3: the only thread
        ([ThreadStack(1, "", BOOT), ThreadStack(2, "", ()), ThreadStack(3, "", OTHER)], 2),  # 4
        ([ThreadStack(1, "", BOOT), ThreadStack(2, "", ())], 1),  # 5: no Python frame
        ([ThreadStack(1, "", BOOT), ThreadStack(2, "", BOOT)], None),  # threading's only
        ([], None),
    ],
)
def test_main_thread_rules(threads: list[ThreadStack], expected: int | None) -> None:
    found = main_thread(RankStack(0, "faulthandler", tuple(threads)))
    assert found is (None if expected is None else threads[expected])


def test_rank_stack_json_round_trip() -> None:
    full = RankStack(
        7,
        "py-spy",
        parse_pyspy_json((DATA / "pyspy-two-threads.json").read_text()),
        host="x1000c0s0b0n0",
        pid=4242,
        silent_s=31.5,
    )
    bare = RankStack(8, "none", error="py-spy: Operation not permitted (ptrace_scope 1)")
    for stack in (full, bare):
        assert RankStack.from_json(json.loads(json.dumps(stack.to_json()))) == stack


GOOD = rank(0, TRAIN).to_json()


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "rank 0",
        {},
        {**GOOD, "rank": "0"},
        {**GOOD, "rank": True},
        {**GOOD, "source": None},
        {**GOOD, "pid": "12"},
        {**GOOD, "silent_s": "long"},
        {**GOOD, "host": 3},
        {**GOOD, "threads": "abc"},
        {**GOOD, "threads": [{"thread_id": 1}]},
        {**GOOD, "threads": [{**GOOD["threads"][0], "frames": [["f", "a.py"]]}]},
        {**GOOD, "threads": [{**GOOD["threads"][0], "frames": [["f", "a.py", "3"]]}]},
        {**GOOD, "threads": [{**GOOD["threads"][0], "active": "yes"}]},
    ],
)
def test_rank_stack_from_garbage_is_none(data: object) -> None:
    assert RankStack.from_json(data) is None


# --- groups --------------------------------------------------------------------------------


def test_identical_stacks_form_one_group_outermost_first() -> None:
    groups = group_stacks([rank(r, TRAIN) for r in (3, 0, 1)])
    assert len(groups) == 1
    assert groups[0].ranks == (0, 1, 3)
    assert names_of(groups[0]) == TRAIN
    assert groups[0].sources == ("py-spy",)


def test_same_functions_on_another_line_are_another_group() -> None:
    groups = group_stacks([rank(0, TRAIN), rank(1, TRAIN), rank(2, TRAIN, (10, 20, 31))])
    assert [g.ranks for g in groups] == [(0, 1), (2,)]
    assert groups[1].frames[-1].line == 31


def test_groups_come_largest_first_then_by_first_rank() -> None:
    stacks = [rank(0, ("a",)), rank(1, ("b",)), rank(2, ("b",)), rank(3, ("c",)), rank(4, ("a",))]
    stacks += [rank(5, ("d",)), rank(6, ("d",))]
    assert [g.ranks for g in group_stacks(stacks)] == [(0, 4), (1, 2), (5, 6), (3,)]


def test_ranks_without_a_stack_form_no_group() -> None:
    stacks = [
        rank(0, TRAIN),
        RankStack(1, "none", error="timed out"),
        RankStack(2, "faulthandler", (ThreadStack(1, "", BOOT), ThreadStack(2, "", BOOT))),
    ]
    assert [g.ranks for g in group_stacks(stacks)] == [(0,)]


def test_one_stack_from_two_sources_is_one_group_with_both() -> None:
    groups = group_stacks([rank(0, TRAIN, source="py-spy"), rank(1, TRAIN, source="faulthandler")])
    assert [(g.ranks, g.sources) for g in groups] == [((0, 1), ("faulthandler", "py-spy"))]


def test_stacks_that_were_not_interned_group_by_value() -> None:
    """The test helpers build fresh Frame tuples per rank, unlike the parsers."""
    stacks = [rank(r, TRAIN) for r in range(3)]
    assert len({id(s.threads[0].frames) for s in stacks}) == 3
    assert [g.ranks for g in group_stacks(stacks)] == [(0, 1, 2)]


def test_parsed_equal_stacks_are_one_object() -> None:
    text = (DATA / "gloo-4ranks" / "rank-0.json").read_text()
    assert parse_pyspy_json(text)[0].frames is parse_pyspy_json(text)[0].frames
    text = (DATA / "faulthandler-one-thread.txt").read_text()
    assert parse_faulthandler(text)[0].frames is parse_faulthandler(text)[0].frames
    again = RankStack.from_json(RankStack(0, "faulthandler", parse_faulthandler(text)).to_json())
    assert again is not None
    assert again.threads[0].frames is parse_faulthandler(text)[0].frames


@pytest.mark.parametrize(
    ("inner", "waiting"),
    [
        (Frame("all_reduce", "/t/distributed_c10d.py", 3252), True),
        (Frame("Work.wait", "/t/work.py", 1), True),  # py-spy's qualified name
        (Frame("Allreduce", "/m/mpi.py", 1), True),
        (Frame("barrier", "/t/distributed_c10d.py", 4791), True),
        (Frame("Condition.wait", "/usr/lib/python3.11/threading.py", 331), False),
        (Frame("wait", "/usr/lib/python3.11/multiprocessing/connection.py", 9), False),
        (Frame("matmul", "/job/model.py", 7), False),
        (Frame("all_reduce_metrics", "/job/metrics.py", 7), False),  # names match whole
    ],
)
def test_waiting_means_a_collective_among_the_innermost_frames(inner: Frame, waiting: bool) -> None:
    group = Group((Frame("main", "/job/train.py", 1), inner), (0,), ("py-spy",))
    assert group.waiting is waiting


def test_waiting_looks_only_at_the_innermost_eight_frames() -> None:
    outer = (Frame("all_reduce", "/t/c10d.py", 1),)
    wrappers = tuple(Frame(f"wrapper_{i}", "/t/log.py", i) for i in range(WAIT_DEPTH))
    assert Group(outer + wrappers[1:], (0,), ()).waiting
    assert not Group(outer + wrappers, (0,), ()).waiting
    assert {"all_reduce", "barrier", "wait", "synchronize"} <= COLLECTIVES


def test_real_gloo_job_groups_the_waiters_and_the_starved_rank() -> None:
    stacks = [
        RankStack(
            r, "py-spy", parse_pyspy_json((DATA / "gloo-4ranks" / f"rank-{r}.json").read_text())
        )
        for r in range(4)
    ]
    groups = group_stacks(stacks)
    assert [(g.ranks, g.waiting) for g in groups] == [((0, 1, 3), True), ((2,), False)]
    assert groups[0].collective == "all_reduce"
    found = suspect(groups)
    assert found is not None
    assert found.ranks == (2,)
    # rank 2's innermost frames are a threading wait inside Queue.get: not a collective
    assert found.reason.startswith("rank 2: Condition.wait ← Queue.get ← next_batch ← data_step")


# --- the prefix tree -------------------------------------------------------------------


def shape(node: object) -> object:
    """(name, ranks, children) all the way down."""
    return (
        node.frame.name if node.frame else None,  # type: ignore[attr-defined]
        node.ranks,  # type: ignore[attr-defined]
        [shape(c) for c in node.children],  # type: ignore[attr-defined]
    )


def test_prefix_tree_of_the_four_rank_case() -> None:
    root = prefix_tree(group_stacks(four_ranks()))
    assert shape(root) == (
        None,
        (0, 1, 2, 3),
        [
            (
                "main",
                (0, 1, 2, 3),
                [
                    ("train_step", (0, 1, 3), [("all_reduce", (0, 1, 3), [])]),
                    ("data_step", (2,), [("next_batch", (2,), [])]),
                ],
            )
        ],
    )


def test_prefix_tree_shares_branches_across_lines_showing_the_first_groups_line() -> None:
    groups = group_stacks([rank(0, TRAIN), rank(1, TRAIN), rank(2, TRAIN, (10, 20, 42))])
    assert len(groups) == 2
    root = prefix_tree(groups)
    assert shape(root) == (
        None,
        (0, 1, 2),
        [("main", (0, 1, 2), [("train_step", (0, 1, 2), [("all_reduce", (0, 1, 2), [])])])],
    )
    leaf = root.children[0].children[0].children[0]
    assert leaf.frame == Frame("all_reduce", "/job/train.py", 30)  # the larger group's line


def test_prefix_tree_siblings_most_ranks_first_and_stacks_that_end_early() -> None:
    stacks = [rank(0, ("main", "f")), rank(1, ("main", "f", "g")), rank(2, ("main", "h"))]
    stacks += [rank(3, ("main", "h")), rank(4, ("main", "h"))]
    assert shape(prefix_tree(group_stacks(stacks))) == (
        None,
        (0, 1, 2, 3, 4),
        [
            (
                "main",
                (0, 1, 2, 3, 4),
                [("h", (2, 3, 4), []), ("f", (0, 1), [("g", (1,), [])])],
            )
        ],
    )


def test_prefix_tree_of_nothing_is_an_empty_root() -> None:
    assert shape(prefix_tree([])) == (None, (), [])


# --- the suspect -------------------------------------------------------------------------


def test_rule_1_the_rank_not_in_a_collective_while_the_others_wait() -> None:
    assert suspect(group_stacks(four_ranks())) == Suspect(
        (2,),
        "rank 2: next_batch ← data_step ← main while ranks 0-1,3 wait in "
        "all_reduce ← train_step ← main",
    )


def test_rule_1_comes_before_the_minority_even_when_the_busy_ranks_are_more() -> None:
    stacks = [rank(r, ("main", "compute")) for r in (0, 1, 2)] + [rank(3, TRAIN)]
    found = suspect(group_stacks(stacks))
    assert found is not None
    assert found.ranks == (0, 1, 2)
    assert (
        found.reason
        == "ranks 0-2: compute ← main while rank 3 wait in all_reduce ← train_step ← main"
    )


def test_rule_1_names_every_busy_group() -> None:
    stacks = [rank(r, TRAIN) for r in (0, 1, 2)] + [rank(3, DATA_WAIT), rank(4, ("main", "save"))]
    found = suspect(group_stacks(stacks))
    assert found is not None
    assert found.ranks == (3, 4)
    assert found.reason.startswith(
        "ranks 3-4: next_batch ← data_step ← main (+1 other stack) while"
    )


def test_a_long_reason_keeps_the_innermost_frames_and_where_the_stacks_parted() -> None:
    deep = ("main", *(f"a{i}" for i in range(1, 9)))
    found = suspect(group_stacks([rank(r, TRAIN) for r in range(3)] + [rank(3, deep)]))
    assert found is not None
    assert found.reason == (
        "rank 3: a8 ← a7 ← … ← a3 ← a2 ← a1 ← main while ranks 0-2 wait in "
        "all_reduce ← train_step ← main"
    )


def test_rule_2_the_minority_when_all_wait() -> None:
    barrier = ("main", "eval_step", "barrier")
    stacks = [rank(r, TRAIN) for r in (0, 1, 3)] + [rank(2, barrier)]
    assert suspect(group_stacks(stacks)) == Suspect(
        (2,),
        "the minority: 1 of 4 ranks; rank 2: barrier ← eval_step ← main while ranks 0-1,3 are in "
        "all_reduce ← train_step ← main",
    )


def test_rule_2_tie_goes_to_the_least_advanced() -> None:
    early = ("main", "load", "wait")  # parts from the majority at its first frame
    late = ("main", "train_step", "barrier")  # shares two frames with it
    stacks = [rank(r, TRAIN) for r in range(5)] + [rank(5, late), rank(6, early)]
    found = suspect(group_stacks(stacks))
    assert found is not None
    assert found.ranks == (6,)
    assert found.reason.startswith("the minority: 1 of 7 ranks (least advanced of 2 equal groups)")


def test_rule_2_tie_on_depth_goes_to_the_shorter_stack() -> None:
    shorter = ("main", "x", "barrier")
    longer = ("main", "y", "z", "barrier")
    stacks = [rank(r, TRAIN) for r in range(5)] + [rank(5, longer), rank(6, shorter)]
    found = suspect(group_stacks(stacks))
    assert found is not None
    assert found.ranks == (6,)


def test_rule_2_a_tie_that_remains_names_them_all() -> None:
    stacks = [rank(r, TRAIN) for r in range(5)]
    stacks += [rank(5, ("main", "x", "barrier")), rank(6, ("main", "y", "barrier"))]
    found = suspect(group_stacks(stacks))
    assert found is not None
    assert found.ranks == (5, 6)
    assert found.reason.startswith("the minority: 2 of 7 ranks (2 equal groups); ranks 5-6:")


def test_rule_2_needs_groups_of_different_sizes() -> None:
    stacks = [rank(0, ("main", "f")), rank(1, ("main", "f")), rank(2, ("main", "g"))]
    stacks += [rank(3, ("main", "g"))]
    assert suspect(group_stacks(stacks)) is None


def test_rule_2_comes_before_silence() -> None:
    stacks = [rank(r, TRAIN) for r in (0, 1, 3)] + [rank(2, ("main", "eval", "barrier"))]
    found = suspect(group_stacks(stacks), {0: 100.0, 1: 1.0, 2: 1.0, 3: 1.0})
    assert found is not None
    assert found.ranks == (2,)


def test_rule_3_the_rank_silent_far_longer_than_the_median() -> None:
    groups = group_stacks([rank(r, TRAIN) for r in range(4)])
    assert suspect(groups, {0: 3.0, 1: 4.0, 2: 60.0, 3: 3.5}) == Suspect(
        (2,), "rank 2: silent 60 s while the median rank has been silent 3.8 s"
    )


@pytest.mark.parametrize(
    ("silence", "ranks"),
    [
        ({0: 1.0, 1: 1.0, 2: 9.0}, None),  # 9x the median but under 10 s
        ({0: 10.0, 1: 10.0, 2: 19.0}, None),  # over 10 s but under 2x
        ({0: 10.0, 1: 10.0, 2: 20.0}, (2,)),  # both, just
        ({0: 0.0, 1: 0.0, 2: 0.0, 3: 30.0, 4: 40.0}, (3, 4)),
        ({}, None),
    ],
)
def test_rule_3_thresholds(silence: dict[int, float], ranks: tuple[int, ...] | None) -> None:
    found = suspect(group_stacks([rank(r, TRAIN) for r in range(3)]), silence)
    assert (found.ranks if found else None) == ranks


def test_rule_3_names_ranks_without_a_stack_too() -> None:
    found = suspect([], {0: 2.0, 1: 2.0, 2: 300.0})
    assert found is not None
    assert found.ranks == (2,)


def test_rule_4_no_suspect_when_all_ranks_look_alike() -> None:
    assert suspect(group_stacks([rank(r, TRAIN) for r in range(4)])) is None
    assert suspect([]) is None


# --- the report ---------------------------------------------------------------------------


def test_build_report_lists_ranks_without_a_stack_and_uses_their_silence() -> None:
    stacks = [rank(r, TRAIN, silent=2.0) for r in range(4)]
    stacks += [RankStack(4, "none", error="timed out after 5 s", silent_s=120.0)]
    report = build_report(stacks, T)
    assert report.missing == (4,)
    assert [g.ranks for g in report.groups] == [(0, 1, 2, 3)]
    assert report.suspect is not None
    assert report.suspect.ranks == (4,)  # rule 3, from the stacks' own silent_s


def test_build_report_silence_fills_in_the_stacks() -> None:
    report = build_report([rank(r, TRAIN) for r in range(3)], T, {0: 1.0, 1: 1.0, 2: 50.0})
    assert [s.silent_s for s in report.stacks] == [1.0, 1.0, 50.0]
    assert report.suspect is not None
    assert report.suspect.ranks == (2,)


def test_report_json_round_trip() -> None:
    stacks = [*four_ranks(silent=True), RankStack(4, "none", error="no py-spy")]
    report = build_report(stacks, T)
    again = Report.from_json(json.loads(json.dumps(report.to_json())))
    assert again == report
    assert again is not None
    assert render_text(again) == render_text(report)


GOOD_REPORT = build_report(four_ranks(), T).to_json()


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {**GOOD_REPORT, "t": "now"},
        {**GOOD_REPORT, "stacks": [None]},
        {**GOOD_REPORT, "groups": [{"frames": [], "ranks": ["0"], "sources": []}]},
        {**GOOD_REPORT, "groups": [{"frames": [["f"]], "ranks": [0], "sources": []}]},
        {**GOOD_REPORT, "suspect": {"ranks": [2]}},
        {**GOOD_REPORT, "suspect": {"ranks": [2], "reason": 5}},
        {**GOOD_REPORT, "missing": "4"},
    ],
)
def test_report_from_garbage_is_none(data: object) -> None:
    assert Report.from_json(data) is None


FOUR_RANKS_TEXT = """\
stacks at 2026-09-21 14:13:20: 5 ranks, 4 with a stack (py-spy 4), 2 distinct
suspect: rank 2: next_batch ← data_step ← main while ranks 0-1,3 wait in all_reduce ← train_step
  ← main

ranks 0-1,3 (3, py-spy): all_reduce ← train_step ← main
  silent: rank 0 12 s, rank 1 12 s, rank 3 11 s
rank 2 (1, py-spy): next_batch ← data_step ← main
  silent: rank 2 95 s

tree (outermost first; [ranks] where a branch starts or its ranks change):
[0-3] main (train.py:10)
├─ [0-1,3] train_step (train.py:20)
│  all_reduce (train.py:30)
└─ [2] data_step (train.py:20)
   next_batch (train.py:30)

no stack (1):
  rank 4 (none): py-spy: Operation not permitted (kernel.yama.ptrace_scope is 1)
"""


def test_render_text_of_the_four_rank_case(utc: None) -> None:
    stacks = four_ranks(silent=True)
    stacks.append(
        RankStack(
            4, "none", error="py-spy: Operation not permitted (kernel.yama.ptrace_scope is 1)"
        )
    )
    assert render_text(build_report(stacks, T)) == FOUR_RANKS_TEXT


def test_render_text_cuts_lines_at_the_width(utc: None) -> None:
    text = render_text(build_report(four_ranks(silent=True), T), width=40)
    assert max(len(line) for line in text.splitlines()) <= 40
    assert "…" in text
    assert "rank 2: next_batch" in text  # the suspect is wrapped, not cut


def test_render_text_without_stacks(utc: None) -> None:
    text = render_text(build_report([RankStack(0, "none", error="no such pid")], T))
    assert text.splitlines()[1:] == [
        "suspect: none (no rank gave a stack)",
        "",
        "no stack (1):",
        "  rank 0 (none): no such pid",
    ]


def test_tree_collapses_a_long_single_child_chain() -> None:
    deep = tuple(f"f{i}" for i in range(10))
    root = prefix_tree(group_stacks([rank(0, deep), rank(1, deep), rank(2, (*deep[:9], "g"))]))
    assert tree_lines(root) == [
        "[0-2] f0 (train.py:10)",
        "f1 (train.py:20)",
        "⋮ 4 frames",
        "f6 (train.py:70)",
        "f7 (train.py:80)",
        "f8 (train.py:90)",
        "├─ [0-1] f9 (train.py:100)",
        "└─ [2] g (train.py:100)",
    ]


def test_tree_shows_a_rank_set_again_where_it_changes() -> None:
    root = prefix_tree(group_stacks([rank(0, ("main", "f")), rank(1, ("main", "f", "g"))]))
    assert tree_lines(root) == [
        "[0-1] main (train.py:10)",
        "f (train.py:20)",
        "[1] g (train.py:30)",
    ]


# --- moved ---------------------------------------------------------------------------------


def test_moved_names_the_ranks_whose_stack_changed() -> None:
    before = build_report(four_ranks(), T)
    after_stacks = four_ranks()
    after_stacks[2] = rank(2, DATA_WAIT, (10, 20, 31))  # next_batch moved a line
    after_stacks[0] = RankStack(0, "none", error="timed out")  # unknown: not counted
    after = build_report(after_stacks, T + 5)
    assert moved(before, after) == (2,)
    assert moved(before, build_report(four_ranks(), T + 5)) == ()
    assert moved(after, before) == (2,)
