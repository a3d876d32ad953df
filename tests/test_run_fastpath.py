"""The fast paths of the run pipeline give exactly what the general ones give.

Two pairs are checked on generated input: ``Attributor.batch`` (bytes, C-level
maps) against ``Attributor.rows`` (decoded text, the reference regexes), and the
column parser of log metrics (``BlockParser``, a learned step-line shape)
against ``parse_block`` + ``MetricSeries.add`` one row at a time. Where the fast
path declines a block (None), the general path must be what the runner uses, so
only blocks it takes are compared; tests below pin which blocks it takes.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ezpz_core.logmetrics import BlockParser, line_shape, parse_block
from ezpz_core.metrics import MAX_POINTS, MetricSeries, Points, Stats
from ezpz_core.run.events import LAUNCHER
from ezpz_core.run.labels import Attributor, LabelFormat

TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
    max_size=40,
)


def reference(fmt: LabelFormat, block: bytes, stream: str = "stdout") -> list[tuple]:
    text = block[:-1].decode("utf-8", "surrogateescape")
    return Attributor(fmt, stream).rows(text)


def fast(fmt: LabelFormat, block: bytes, stream: str = "stdout") -> list[tuple] | None:
    got = Attributor(fmt, stream).batch(block)
    if got is None:
        return None
    ranks, texts, streams = got
    assert all(t.endswith(b"\n") for t in texts)
    names = streams or [stream] * len(texts)
    return [
        (r, s, t[:-1].decode("utf-8", "surrogateescape"))
        for r, s, t in zip(ranks, names, texts, strict=True)
    ]


def openmpi_line(rank: int, stream: str, text: str) -> str:
    return f"[1,{rank}]<{stream}>: {text}"


LABELLED = {
    LabelFormat.OPENMPI: lambda r, s, t: openmpi_line(r, s, t),
    LabelFormat.SRUN: lambda r, s, t: f"{r:>3}: {t}",
    LabelFormat.WRAPPER: lambda r, s, t: f"@ezpz:{r}:{'o' if s == 'stdout' else 'e'}|{t}",
}


@settings(max_examples=150, deadline=None)
@given(
    fmt=st.sampled_from(sorted(LABELLED)),
    lines=st.lists(
        st.tuples(st.integers(0, 1100), st.sampled_from(["stdout", "stderr"]), TEXT),
        min_size=1,
        max_size=30,
    ),
)
def test_labelled_blocks_are_attributed_as_the_reference_does(fmt, lines) -> None:
    block = "".join(LABELLED[fmt](r, s, t) + "\n" for r, s, t in lines).encode()
    got = fast(fmt, block)
    assert got is not None
    assert got == reference(fmt, block)


@settings(max_examples=150, deadline=None)
@given(
    fmt=st.sampled_from([*LABELLED, LabelFormat.ANY, LabelFormat.NONE]),
    lines=st.lists(
        st.one_of(
            st.tuples(st.integers(0, 40), st.sampled_from(["stdout", "stderr"]), TEXT),
            TEXT,  # an unlabelled line (launcher messages, stray output)
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_any_block_the_fast_path_takes_matches_the_reference(fmt, lines) -> None:
    label = LABELLED.get(fmt, LABELLED[LabelFormat.OPENMPI])
    texts = [label(*line) if isinstance(line, tuple) else line for line in lines]
    block = "".join(t + "\n" for t in texts).encode("utf-8", "surrogateescape")
    got = fast(fmt, block)
    if got is not None:
        assert got == reference(fmt, block)


def test_invalid_utf8_passes_through_as_bytes() -> None:
    block = b"[1,0]<stdout>: bad \xff\xfe bytes\n[1,1]<stderr>: ok\n"
    ranks, texts, streams = Attributor(LabelFormat.OPENMPI, "stdout").batch(block)
    assert ranks == [0, 1]
    assert texts == [b"bad \xff\xfe bytes\n", b"ok\n"]
    assert streams == ["stdout", "stderr"]


@pytest.mark.parametrize(
    ("fmt", "block"),
    [
        (LabelFormat.OPENMPI, b"[1,0]<stdout>: a\nprterun: a launcher line\n"),
        (LabelFormat.OPENMPI, b"[1,0]<stdout>: tail 0[1,1]<stdout>: tail 1\n"),
        (LabelFormat.SRUN, b"  0: a\nsrun: error: vm: task 1: Exited with exit code 3\n"),
        (LabelFormat.WRAPPER, b"@ezpz:0:O|a piece\n@ezpz:0:o|its end\n"),
        (LabelFormat.WRAPPER, b"@ezpz:0:o|last\n@ezpz:0:x|0\n"),
    ],
    ids=["unlabelled", "embedded-label", "srun-exit", "wrapper-piece", "wrapper-exit"],
)
def test_the_fast_path_declines_what_only_the_reference_handles(fmt, block) -> None:
    assert Attributor(fmt, "stdout").batch(block) is None


def test_a_wrapper_line_waiting_for_its_end_keeps_the_reference_path() -> None:
    attributor = Attributor(LabelFormat.WRAPPER, "stdout")
    attributor.rows("@ezpz:0:O|first half ")
    assert attributor.batch(b"@ezpz:0:o|second half\n") is None
    assert attributor.rows("@ezpz:0:o|second half") == [(0, "stdout", "first half second half")]


def test_no_label_format_puts_every_line_in_the_launcher_lane() -> None:
    ranks, texts, _ = Attributor(LabelFormat.NONE, "stderr").batch(b"a\nb\n")
    assert ranks == [LAUNCHER, LAUNCHER]
    assert texts == [b"a\n", b"b\n"]


# -- metrics in columns ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False, width=32),
            st.sampled_from([math.nan, math.inf, -math.inf]),
        ),
        max_size=50,
    ),
    before=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=5),
)
def test_stats_extend_is_add_one_by_one(values, before) -> None:
    one, many = Stats(), Stats()
    for v in before:
        one.add(v)
        many.add(v)
    for v in values:
        one.add(v)
    many.extend(values)
    assert (many.count, many.finite, many.nonfinite) == (one.count, one.finite, one.nonfinite)
    assert (many.low, many.high) == (one.low, one.high)
    for a, b in ((many.first, one.first), (many.last, one.last)):
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert many.total == pytest.approx(one.total, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("batches", [[1], [5000], [10_000, 3, 7000], [1] * 300 + [9000]])
def test_points_extend_keeps_the_points_add_keeps(batches) -> None:
    one, many = Points(), Points()
    n = 0
    for size in batches:
        xs = [float(n + i) for i in range(size)]
        ys = [x * 2 for x in xs]
        for x, y in zip(xs, ys, strict=True):
            one.add(x, y)
        many.extend(xs, ys)
        n += size
        assert (many.xs, many.ys, many.stride) == (one.xs, one.ys, one.stride)
    assert len(many.xs) < MAX_POINTS


def summary_of(stats: Stats) -> tuple:
    return (stats.count, stats.first, stats.last, stats.low, stats.high)


def _step_line(rng: random.Random, step: int, shape: int) -> str:
    loss = f"{rng.uniform(0, 3):.6f}"
    if shape == 0:  # the workload's own lines, with a spread on some
        spread = f"(±{rng.uniform(0, 0.1):.2g})" if rng.random() < 0.5 else ""
        return f"step={step} loss={loss}{spread} dt={rng.uniform(0.01, 0.2):.4f}"
    if shape == 1:  # ezpz style, prefix and all
        return (
            f"[2026-11-26 11:51:34][I][examples/test:403:train_step] iter={step} "
            f"loss={loss} dtf={rng.uniform(0, 0.1):.4f} dtb={rng.uniform(0, 0.1):.4f}"
        )
    return f"step={step} eval_loss={loss} memory=1.2/3.4GiB"  # a token that is no number


def _block(rng: random.Random, n: int, mix: float) -> str:
    lines = []
    for step in range(n):
        pick = rng.random()
        if pick < mix:
            lines.append(rng.choice(["saving checkpoint", "stepping the scheduler", "", "iter"]))
        else:
            shape = 0 if pick < 1 - mix / 2 else rng.choice([1, 2])
            lines.append(_step_line(rng, step, shape))
    return "".join(line + "\n" for line in lines)


@pytest.mark.parametrize("seed", range(12))
def test_column_parsing_gives_the_series_row_parsing_gives(seed: int) -> None:
    rng = random.Random(seed)
    mix = [0.0, 0.05, 0.4][seed % 3]
    blocks = [_block(rng, rng.randint(1, 400), mix) for _ in range(6)]
    slow = MetricSeries(rank=None)
    for block in blocks:
        slow.add(parse_block(block, 0))
    fast_series = MetricSeries(rank=None)
    parser = BlockParser(fast_series, 0)
    for block in blocks:
        parser.feed(block.encode())
    assert fast_series.rows == slow.rows
    assert set(fast_series.stats) == set(slow.stats)
    for name, stats in slow.stats.items():
        got = fast_series.stats[name]
        assert summary_of(got) == summary_of(stats), name
        assert got.total == pytest.approx(stats.total, rel=1e-9)
        assert fast_series.points[name].xs == slow.points[name].xs, name
        assert fast_series.points[name].ys == pytest.approx(slow.points[name].ys), name
    if mix == 0.0:
        assert parser.fast_blocks == len(blocks)  # one shape: nothing went the slow way


def test_colour_codes_are_stripped_before_the_columns_are_read() -> None:
    line = "\x1b[1miter\x1b[0m=2 loss=2\x1b[0m\x1b[1;36m.192272\x1b[0m dt=0.5"
    series = MetricSeries(rank=None)
    parser = BlockParser(series, 0)
    parser.feed(("step=1 loss=3.0 dt=0.5\n" + line + "\n" + line + "\n").encode())
    assert series.stats["loss"].last == pytest.approx(2.192272)


@pytest.mark.parametrize(
    ("line", "learned"),
    [
        ("step=1 loss=0.5 dt=0.1", True),
        ("[I][train:12] iter=3 loss=0.5(±0.01) lr=1e-4", True),
        ("mode=train step=1 loss=0.5", False),  # an "=" before the first number
        ("step=1 loss=0.5 saving", False),  # a word between or after the tokens
        ("step=1 loss=0.5 loss=0.7", False),  # a key twice
        ("step=1.5 loss=0.5", False),  # no integer step
    ],
)
def test_which_lines_teach_a_shape(line: str, learned: bool) -> None:
    assert (line_shape(line) is not None) is learned


@pytest.mark.parametrize("shape", [0, 1], ids=["workload-with-spread", "ezpz-style-plain"])
def test_blocks_of_one_shape_take_the_loose_regex_and_agree(shape: int) -> None:
    rng = random.Random(shape)
    blocks = [
        "".join(_step_line(rng, s, shape) + "\n" for s in range(i, i + 500)) for i in (0, 500)
    ]
    slow = MetricSeries(rank=None)
    for block in blocks:
        slow.add(parse_block(block, 0))
    series = MetricSeries(rank=None)
    parser = BlockParser(series, 0)
    taken = []
    loose = parser._loose
    parser._loose = lambda block: taken.append(loose(block)) or taken[-1]  # type: ignore[method-assign]
    for block in blocks:
        parser.feed(block.encode())
    assert taken == [True, True]
    for name, stats in slow.stats.items():
        assert summary_of(series.stats[name]) == summary_of(stats), name


@pytest.mark.parametrize(
    "odd",
    ["step=7 loss=nan dt=0.1", "step=7 loss=1_0 dt=0.1", "step=7 loss=0.5 dt=0.1 extra=1", ""],
    ids=["nan", "underscore", "extra-token", "empty-line"],
)
def test_what_the_loose_regex_cannot_prove_goes_the_exact_way(odd: str) -> None:
    lines = [f"step={s} loss=0.5 dt=0.1" for s in range(6)]
    lines.insert(3, odd)
    block = "".join(line + "\n" for line in lines)
    slow = MetricSeries(rank=None)
    slow.add(parse_block(block, 0))
    series = MetricSeries(rank=None)
    parser = BlockParser(series, 0)
    parser.feed(b"step=0 loss=0.5 dt=0.1\n")  # learn the shape first
    series_slow = MetricSeries(rank=None)
    series_slow.add(parse_block("step=0 loss=0.5 dt=0.1\n" + block, 0))
    assert parser._loose(block.encode()) is False
    parser.feed(block.encode())
    assert series.rows == series_slow.rows
    assert series.stats.keys() == series_slow.stats.keys()
    for name, stats in series_slow.stats.items():
        got = series.stats[name]
        assert (got.count, got.nonfinite, got.low, got.high) == (
            stats.count,
            stats.nonfinite,
            stats.low,
            stats.high,
        ), name
