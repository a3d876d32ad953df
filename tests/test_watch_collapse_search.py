"""Collapsing identical lines across ranks, and searching a log's lines.

Both are fed the batches the line index returns, so every test also splits its
lines into batches of every size: results must not depend on where batches end.
Random cases are checked against naive per-line references written here.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import pytest

from ezpz_core.run.events import LAUNCHER
from ezpz_tui.watch.collapse import Collapser, Group, rank_spans
from ezpz_tui.watch.search import Search, SearchSpec

SEED = 20261126


def feed_in_batches(
    model: Collapser | Search, ranks: Sequence[int], texts: Sequence[bytes], sizes: Sequence[int]
) -> list[bool]:
    """Feed every line, in batches of the given sizes (cycled); a collapser's flags."""
    flags: list[bool] = []
    pos = 0
    k = 0
    while pos < len(texts):
        size = sizes[k % len(sizes)]
        k += 1
        got = model.feed(pos, list(ranks[pos : pos + size]), list(texts[pos : pos + size]))
        if isinstance(model, Collapser):
            flags += got
        pos += size
    return flags


# -- rank spans and labels ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranks", "text"),
    [
        ([], ""),
        ([5], "5"),
        ([0, 1], "0-1"),
        ([0, 1, 2, 3, 7], "0-3,7"),
        ([7, 3, 2, 1, 0, 3], "0-3,7"),
        (list(range(1024)), "0-1023"),
        ([0, 2, 4], "0,2,4"),
    ],
)
def test_rank_spans_are_compact(ranks: list[int], text: str) -> None:
    assert rank_spans(ranks) == text


def test_rank_spans_are_cut_at_the_limit() -> None:
    text = rank_spans(range(0, 2000, 2), limit=20)
    assert text.endswith(",…")
    assert len(text) <= 22
    assert text.startswith("0,2,4,")


@pytest.mark.parametrize(
    ("ranks", "label"),
    [
        ((3,), ""),
        ((0, 1), "\u00d72 ranks 0-1"),
        (tuple(range(1024)), "\u00d71,024 ranks 0-1023"),
        ((0, 1, 2, 3, 7), "\u00d75 ranks 0-3,7"),
    ],
)
def test_group_label(ranks: tuple[int, ...], label: str) -> None:
    assert Group(0, ranks).label() == label


# -- collapsing ---------------------------------------------------------------------------


def test_identical_lines_from_other_ranks_join_the_first() -> None:
    c = Collapser()
    flags = c.feed(0, [0, 1, 2, 3], [b"loading", b"loading", b"loading", b"loading"])
    assert flags == [True, False, False, False]
    group = c.group(0)
    assert group is not None
    assert (group.count, group.ranks, group.label()) == (4, (0, 1, 2, 3), "\u00d74 ranks 0-3")
    assert c.members(0) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert c.group(1) is None  # a line that joined is not a row


def test_different_texts_do_not_collapse() -> None:
    c = Collapser()
    assert c.feed(0, [0, 1, 2], [b"rank 0 ok", b"rank 1 ok", b"rank 2 ok"]) == [True] * 3
    assert [c.group(i) for i in range(3)] == [None, None, None]
    assert c.members(0) == []


def test_a_rank_repeating_its_line_starts_a_new_row() -> None:
    c = Collapser()
    flags = c.feed(0, [0, 1, 0, 2, 1], [b"tick"] * 5)
    assert flags == [True, False, True, False, False]
    assert c.members(0) == [(0, 0), (1, 1)]
    assert c.members(2) == [(0, 2), (2, 3), (1, 4)]


def test_the_same_rank_twice_alone_is_two_rows() -> None:
    c = Collapser()
    assert c.feed(0, [4, 4], [b"x", b"x"]) == [True, True]
    assert c.group(0) is None


def test_the_launcher_lane_never_collapses() -> None:
    c = Collapser()
    flags = c.feed(0, [LAUNCHER, 0, LAUNCHER, 1], [b"msg", b"msg", b"msg", b"msg"])
    assert flags == [True, True, True, False]  # rank 1 joins rank 0's row, not the launcher's
    assert c.members(1) == [(0, 1), (1, 3)]
    assert c.group(0) is None


@pytest.mark.parametrize(("gap", "joins"), [(9, True), (10, True), (11, False)])
def test_lines_join_only_within_the_window(gap: int, joins: bool) -> None:
    c = Collapser(window_lines=10)
    ranks = [0] + [5] * (gap - 1) + [1]
    texts = [b"same"] + [b"other %d" % i for i in range(gap - 1)] + [b"same"]
    flags = c.feed(0, ranks, texts)
    assert flags[-1] is (not joins)
    assert (c.group(0) is not None) is joins


def test_counts_grow_as_later_batches_join() -> None:
    c = Collapser()
    c.feed(0, [0, 1], [b"epoch 1", b"epoch 1"])
    assert c.group(0) is not None and c.group(0).count == 2
    c.feed(2, [2, 9, 3], [b"epoch 1", b"noise", b"epoch 1"])
    group = c.group(0)
    assert group is not None
    assert group.ranks == (0, 1, 2, 3)
    assert c.members(0) == [(0, 0), (1, 1), (2, 2), (3, 4)]


def test_groups_outlive_the_window() -> None:
    c = Collapser(window_lines=8)
    c.feed(0, [0, 1, 2], [b"hello"] * 3)
    c.feed(3, [0] * 100, [b"line %d" % i for i in range(100)])  # the group is long closed
    assert c.members(0) == [(0, 0), (1, 1), (2, 2)]
    assert c.feed(103, [3], [b"hello"]) == [True]


def test_long_lines_collapse_by_their_exact_bytes() -> None:
    config = b"config: " + b"x" * 5000
    other = config[:-1] + b"y"  # same length, one byte differs
    c = Collapser()
    flags = c.feed(0, [0, 1, 2, 3], [config, config, other, b"short"])
    assert flags == [True, False, True, True]
    assert c.members(0) == [(0, 0), (1, 1)]


def test_batches_must_follow_each_other() -> None:
    c = Collapser()
    c.feed(0, [0], [b"a"])
    with pytest.raises(ValueError, match="expected line 1"):
        c.feed(5, [0], [b"b"])


def test_ranks_past_65535_are_kept() -> None:
    c = Collapser(window_lines=4)
    c.feed(0, [70_000, 1], [b"big", b"big"])
    c.feed(2, [0] * 10, [b"x%d" % i for i in range(10)])  # freezes the group
    assert c.members(0) == [(70_000, 0), (1, 1)]


def reference_collapse(
    ranks: Sequence[int], texts: Sequence[bytes], window: int
) -> tuple[list[bool], dict[int, list[tuple[int, int]]]]:
    """The rule, naively: flags per line and every row's members."""
    newest: dict[bytes, int] = {}  # text -> its newest row's line
    members: dict[int, list[tuple[int, int]]] = {}
    flags = []
    for line, (rank, text) in enumerate(zip(ranks, texts, strict=True)):
        head = newest.get(text)
        if rank < 0:
            flags.append(True)
            members[line] = [(rank, line)]
            continue
        if head is not None and line - head <= window and rank not in dict(members[head]):
            members[head].append((rank, line))
            flags.append(False)
        else:
            newest[text] = line
            members[line] = [(rank, line)]
            flags.append(True)
    return flags, members


@pytest.mark.parametrize("window", [1, 7, 50, 4096])
def test_collapse_matches_the_naive_rule(window: int) -> None:
    rng = random.Random(SEED + window)
    vocab = [b"warning %d" % i for i in range(12)] + [b"", b"\xff\xfe"]
    ranks: list[int] = []
    texts: list[bytes] = []
    for i in range(12_000):
        phase = (i // 1500) % 3  # runs of unique lines (the fast path), mixed, repeats
        ranks.append(LAUNCHER if rng.random() < 0.03 else rng.randrange(16))
        if phase == 0 or (phase == 1 and rng.random() < 0.5):
            texts.append(b"step=%d rank %d" % (i, ranks[-1]))
        else:
            texts.append(rng.choice(vocab))
    flags, members = reference_collapse(ranks, texts, window)
    c = Collapser(window_lines=window)
    assert feed_in_batches(c, ranks, texts, [1, 5, 2000, 37, 4000, 300]) == flags
    for line, expected in members.items():
        if len(expected) > 1:
            assert c.members(line) == expected
            group = c.group(line)
            assert group is not None
            assert group.ranks == tuple(sorted(r for r, _ in expected))
        else:
            assert c.group(line) is None
            assert c.members(line) == []


def test_many_ranks_printing_the_same_lines_stay_compact() -> None:
    """1,024 ranks x 200 identical-across-ranks lines: 200 groups in flat arrays."""
    ranks_n, steps = 1024, 200
    c = Collapser()
    for step in range(steps):
        first = step * ranks_n
        # ranks out of order within a step, as they arrive
        order = list(range(ranks_n))
        random.Random(step).shuffle(order)
        flags = c.feed(first, order, [b"iteration %d done" % step] * ranks_n)
        assert flags == [True] + [False] * (ranks_n - 1)
    c.feed(steps * ranks_n, [0] * 5000, [b"tail %d" % i for i in range(5000)])  # close all
    lines = steps * ranks_n
    assert c.nbytes <= 4.2 * lines + 4 * 8192  # 2+2 bytes per member, the rank ring
    last = c.group((steps - 1) * ranks_n)
    assert last is not None
    assert last.label() == "\u00d71,024 ranks 0-1023"


# -- search spec ------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["a(b", "[unclosed", "*start", "x{2,1}", "(?P<n>a)(?P<n>b)"])
def test_a_bad_regex_is_a_one_line_value_error(pattern: str) -> None:
    with pytest.raises(ValueError) as info:
        SearchSpec(pattern, regex=True).compile()
    message = str(info.value)
    assert "not a valid regular expression" in message
    assert pattern in message
    assert "\n" not in message


def test_plain_text_is_not_a_regex() -> None:
    spec = SearchSpec("a(b[", regex=False)
    assert spec.compile().search(b"xx a(b[ yy")
    assert Search(spec).matches([b"a(b[", b"ab"]) == [True, False]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (SearchSpec("error"), [True, True, False, False]),
        (SearchSpec("error", case=True), [True, False, False, False]),
        (SearchSpec("ERR.R", regex=True, case=True), [False, True, False, False]),
        (SearchSpec("err.r", regex=True, case=False), [True, True, False, False]),
        (SearchSpec("^warn", regex=True), [False, False, True, False]),
        (SearchSpec("error", invert=True), [False, False, True, True]),
        (SearchSpec(""), [True, True, True, True]),
    ],
)
def test_matches_per_line(spec: SearchSpec, expected: list[bool]) -> None:
    texts = [b"an error here", b"FATAL ERROR", b"warning: slow", b"\xff\xfe"]
    assert Search(spec).matches(texts) == expected


def test_a_regex_never_matches_across_lines() -> None:
    search = Search(SearchSpec(r"a\sb", regex=True))
    assert search.feed(0, [0, 0, 0], [b"xa", b"b", b"a b"]) == 1
    assert list(search.hits) == [2]


@pytest.mark.parametrize(
    "pattern",
    [r"\Aerr", r"err\Z", r"(?<!\s)err", r"err(?!\s)", r"(?>err)", "err[^1]*+$"],
)
def test_context_sensitive_regexes_find_every_line(pattern: str) -> None:
    texts = [b"err", b"ok", b"err", b"1", b"err"]  # "err" alone on lines 0, 2 and 4
    search = Search(SearchSpec(pattern, regex=True))
    search.feed(0, [0] * 5, texts)
    assert list(search.hits) == [0, 2, 4]


# -- search hits --------------------------------------------------------------------------


def random_log(rng: random.Random, n: int) -> tuple[list[int], list[bytes]]:
    words = [b"loss", b"Loss", b"LOSS", b"error", b"Error: cuda", b"warn", b"\xff\xfe", b"ok"]
    ranks = [LAUNCHER if rng.random() < 0.05 else rng.randrange(64) for _ in range(n)]
    texts = []
    for i in range(n):
        if rng.random() < 0.02:
            texts.append(b"")
        else:
            picked = b" ".join(rng.choice(words) for _ in range(rng.randrange(1, 4)))
            texts.append(b"step=%d " % i + picked)
    return ranks, texts


def naive_hits(spec: SearchSpec, texts: Sequence[bytes]) -> list[int]:
    if spec.regex:
        import re

        flags = 0 if spec.case else re.IGNORECASE
        pattern = re.compile(spec.text.encode(), flags)
        return [i for i, t in enumerate(texts) if pattern.search(t)]
    needle = spec.text.encode()
    if spec.case:
        return [i for i, t in enumerate(texts) if needle in t]
    return [i for i, t in enumerate(texts) if needle.lower() in t.lower()]


@pytest.mark.parametrize(
    "spec",
    [
        SearchSpec("loss"),  # dense: most lines
        SearchSpec("loss", case=True),
        SearchSpec("error: cuda"),  # a few percent
        SearchSpec("step=777 "),  # one line: the sparse walk
        SearchSpec("no such text"),
        SearchSpec(r"err(or)?:\s+cu", regex=True),
        SearchSpec(r"^step=\d*7 ", regex=True),
        SearchSpec(r"LOSS$", regex=True, case=True),
        SearchSpec(r"\xff", regex=True),
    ],
)
def test_hits_and_counts_per_rank_match_a_naive_search(spec: SearchSpec) -> None:
    rng = random.Random(SEED)
    ranks, texts = random_log(rng, 6000)
    expected = naive_hits(spec, texts)
    search = Search(spec)
    feed_in_batches(search, ranks, texts, [1, 700, 3, 2500, 64])
    assert list(search.hits) == expected
    assert search.total == len(expected)
    assert search.per_rank == Counter(ranks[i] for i in expected)
    assert search.lines == len(texts)
    assert all(search.is_hit(i) == (i in set(expected)) for i in range(0, 6000, 7))


def test_next_and_prev_wrap_around() -> None:
    search = Search(SearchSpec("hit"))
    search.feed(0, [0] * 10, [b"hit" if i in (2, 5, 8) else b"miss" for i in range(10)])
    assert [search.next(line) for line in (0, 2, 5, 8, 9)] == [2, 5, 8, 2, 2]
    assert [search.prev(line) for line in (9, 8, 5, 2, 0)] == [8, 5, 2, 8, 8]
    assert search.count_before(5) == 1


def test_no_hits_means_no_next() -> None:
    search = Search(SearchSpec("nothing"))
    search.feed(0, [0, 1], [b"a", b"b"])
    assert (search.next(0), search.prev(0), search.total) == (None, None, 0)


def test_hits_follow_line_numbers_across_gaps_and_refuse_going_back() -> None:
    search = Search(SearchSpec("x"))
    search.feed(10, [3, 4], [b"x", b"y"])
    search.feed(20, [5], [b"x"])
    assert list(search.hits) == [10, 20]
    assert search.per_rank == {3: 1, 5: 1}
    with pytest.raises(ValueError, match="in order"):
        search.feed(0, [0], [b"x"])
