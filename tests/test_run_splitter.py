"""LineSplitter: launcher pipe bytes -> text lines.

Lines end at ``\\n``, at a bare ``\\r`` (progress bars) and at ``\\r\\n`` (once, even
when the ``\\r`` ends one read and the ``\\n`` starts the next). Invalid UTF-8 is
replaced, over-long lines are cut into ``max_line`` pieces, and how the bytes were cut
into reads never changes the lines that come out.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ezpz_core.run.splitter import MAX_LINE, LineSplitter


def split_all(chunks: list[bytes], max_line: int = MAX_LINE) -> list[str]:
    """Lines from feeding ``chunks`` one after another, then flushing."""
    splitter = LineSplitter(max_line)
    lines: list[str] = []
    for chunk in chunks:
        lines.extend(splitter.feed(chunk))
    return lines + splitter.flush()


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(b"a\nb\n", ["a", "b"], id="lf"),
        pytest.param(b"10%\r20%\r", ["10%", "20%"], id="bare-cr"),
        pytest.param(b"a\r\nb\r\n", ["a", "b"], id="crlf-once"),
        pytest.param(b"a\n\nb\n", ["a", "", "b"], id="empty-line-kept"),
        pytest.param(b"a\r\rb\n", ["a", "", "b"], id="two-crs-two-ends"),
        pytest.param(b"a\n\r\nb\n", ["a", "", "b"], id="lf-then-crlf"),
        pytest.param(b"a\r\n\nb\n", ["a", "", "b"], id="crlf-then-lf"),
        pytest.param(b"x\ry\nz\r\n", ["x", "y", "z"], id="mixed-ends"),
    ],
)
def test_line_ends(data: bytes, lines: list[str]) -> None:
    splitter = LineSplitter()
    assert splitter.feed(data) == lines
    assert splitter.flush() == []


def test_crlf_split_across_chunks_counts_once() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"first\r") == ["first"]
    assert splitter.feed(b"\nsecond\n") == ["second"]


def test_cr_at_chunk_end_then_other_text_is_not_swallowed() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"10%\r") == ["10%"]
    assert splitter.feed(b"20%\r") == ["20%"]
    assert splitter.feed(b"done\n") == ["done"]


def test_partial_last_line_is_kept_until_the_next_feed() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"whole\npart") == ["whole"]
    assert splitter.feed(b"ial line\n") == ["partial line"]


def test_partial_last_line_comes_out_of_flush() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"whole\nno end") == ["whole"]
    assert splitter.flush() == ["no end"]
    assert splitter.flush() == []


def test_flush_with_nothing_pending_is_empty() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\n") == ["a"]
    assert splitter.flush() == []


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(b"bad \xff byte\n", ["bad \ufffd byte"], id="invalid-byte"),
        pytest.param(b"\xc3\x28\n", ["\ufffd("], id="invalid-continuation"),
        pytest.param(b"cut \xe2\x82\n", ["cut \ufffd"], id="truncated-sequence"),
        pytest.param(b"ok \xc3\xa9\n", ["ok \u00e9"], id="valid-utf8-untouched"),
    ],
)
def test_invalid_utf8_becomes_replacement_character(data: bytes, lines: list[str]) -> None:
    assert split_all([data]) == lines


def test_invalid_utf8_in_flushed_rest_becomes_replacement_character() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"tail \xff") == []
    assert splitter.flush() == ["tail \ufffd"]


def test_multibyte_character_split_across_chunks_is_decoded_whole() -> None:
    euro = "\u20ac".encode()
    assert split_all([b"price " + euro[:1], euro[1:] + b" 5\n"]) == ["price \u20ac 5"]


def test_long_line_is_cut_into_max_line_pieces() -> None:
    assert split_all([b"abcdefghij\n"], max_line=4) == ["abcd", "efgh", "ij"]


def test_long_unfinished_line_is_cut_while_it_grows() -> None:
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcdefghij") == ["abcd", "efgh"]
    assert splitter.feed(b"k\n") == ["ijk"]


def test_line_of_exactly_max_line_is_not_cut() -> None:
    assert split_all([b"abcd\nef\n"], max_line=4) == ["abcd", "ef"]


def test_line_of_a_multiple_of_max_line_gains_no_empty_line_when_its_end_comes_later() -> None:
    """``abcdefgh`` then ``\\n`` must give the same lines as ``abcdefgh\\n`` at once."""
    assert split_all([b"abcdefgh", b"\n"], max_line=4) == ["abcd", "efgh"]


def test_five_megabyte_line_is_cut_into_one_mebibyte_pieces_and_nothing_is_lost() -> None:
    line = (b"0123456789abcdef" * 312_500)[:5_000_000]
    splitter = LineSplitter()
    pieces = splitter.feed(line + b"\nnext\n")
    assert pieces[-1] == "next"
    pieces = pieces[:-1]
    assert [len(p) for p in pieces[:-1]] == [MAX_LINE] * (len(pieces) - 1)
    assert 0 < len(pieces[-1]) <= MAX_LINE
    assert "".join(pieces) == line.decode()


def test_five_megabyte_line_fed_in_reads_is_cut_into_one_mebibyte_pieces() -> None:
    line = b"x" * 5_000_000
    chunks = [line[i : i + 65536] for i in range(0, len(line), 65536)] + [b"\n"]
    pieces = split_all(chunks)
    assert [len(p) for p in pieces[:-1]] == [MAX_LINE] * (len(pieces) - 1)
    assert "".join(pieces) == line.decode()


def test_byte_by_byte_feeding_gives_the_same_lines_as_one_feed() -> None:
    data = b"a\r\nb\rc\n\xff\xfe\r\r\n\nlast"
    assert split_all([data[i : i + 1] for i in range(len(data))]) == split_all([data])


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


_BYTES = st.lists(
    st.one_of(
        st.sampled_from([b"\n", b"\r", b"\r\n", b"\xff", b"\xc3\xa9"]), st.binary(max_size=8)
    ),
    max_size=30,
).map(b"".join)
_CUTS = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


@settings(max_examples=300, deadline=None)
@given(data=_BYTES, cuts=_CUTS)
def test_any_chunking_gives_the_same_lines(data: bytes, cuts: list[int]) -> None:
    assert split_all(_chunks(data, cuts)) == split_all([data])


@settings(max_examples=300, deadline=None)
@given(data=_BYTES, cuts=_CUTS)
@example(data=b"abcdef\n", cuts=[6])  # a line of twice max_line, its end in the next read
def test_any_chunking_gives_the_same_lines_with_a_small_max_line(
    data: bytes, cuts: list[int]
) -> None:
    assert split_all(_chunks(data, cuts), max_line=3) == split_all([data], max_line=3)
