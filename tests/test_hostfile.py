"""Hostfile parsing: the accepted forms, repeated hosts, and errors that name file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ezpz_core.errors import EzpzError, HostfileError, UsageError
from ezpz_core.hostfile import Hostfile, decode_hostfile, parse_hostfile, read_hostfile

PATH = "/tmp/job.hosts"


def write(tmp_path: Path, content: str | bytes, name: str = "hostfile") -> str:
    """Write ``content`` to a real file under ``tmp_path`` and return its path."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def hostfile_error(text: str, path: str = PATH) -> HostfileError:
    with pytest.raises(HostfileError) as info:
        parse_hostfile(text, path)
    return info.value


# --- accepted forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hosts", "slots"),
    [
        pytest.param("node1\n", ("node1",), (1,), id="bare-host"),
        pytest.param("node1\nnode2\n", ("node1", "node2"), (1, 1), id="bare-hosts"),
        pytest.param("node1", ("node1",), (1,), id="no-final-newline"),
        pytest.param("node1 slots=4\n", ("node1",), (4,), id="openmpi-slots"),
        pytest.param("node1:4\n", ("node1",), (4,), id="mpich-colon"),
        pytest.param("node1\tslots=2\n", ("node1",), (2,), id="tab-separated"),
        pytest.param("   node1   slots=3   \n", ("node1",), (3,), id="surrounding-spaces"),
        pytest.param("node1\r\nnode2\r\n", ("node1", "node2"), (1, 1), id="crlf-line-ends"),
        pytest.param(
            "node1 slots=2\nnode2:3\nnode3\n",
            ("node1", "node2", "node3"),
            (2, 3, 1),
            id="three-forms-mixed",
        ),
        pytest.param(
            "x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov\n",
            ("x4514c6s0b0n0.hsn.cm.aurora.alcf.anl.gov",),
            (1,),
            id="fqdn",
        ),
        pytest.param("node1.\n", ("node1.",), (1,), id="fqdn-trailing-dot"),
        pytest.param("10.0.0.1 slots=2\n", ("10.0.0.1",), (2,), id="ipv4-literal"),
        pytest.param("gpu_node-01\n", ("gpu_node-01",), (1,), id="underscore-and-hyphen"),
        pytest.param("node1 slots=12\n", ("node1",), (12,), id="two-digit-slots"),
    ],
)
def test_accepted_line_forms_give_hosts_and_slots(text, hosts, slots):
    parsed = parse_hostfile(text, PATH)
    assert (parsed.hosts, parsed.slots) == (hosts, slots)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("# a comment\nnode1\n", id="whole-line-comment"),
        pytest.param("node1 # trailing comment\n", id="trailing-comment"),
        pytest.param("node1# no space before hash\n", id="trailing-comment-no-space"),
        pytest.param("\n\nnode1\n\n", id="blank-lines"),
        pytest.param("   \n\t\nnode1\n", id="whitespace-only-lines"),
        pytest.param("    # indented comment\nnode1\n", id="indented-comment"),
        pytest.param("#node2\nnode1\n#node3 slots=4\n", id="commented-out-hosts"),
        pytest.param("node1 # slots=8\n", id="slots-inside-comment"),
    ],
)
def test_comments_and_blank_lines_are_ignored(text):
    parsed = parse_hostfile(text, PATH)
    assert (parsed.hosts, parsed.slots) == (("node1",), (1,))


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        pytest.param("node1 max_slots=8\n", 1, id="max_slots-alone"),
        pytest.param("node1 max-slots=8\n", 1, id="max-slots-alone"),
        pytest.param("node1 slots=2 max_slots=8\n", 2, id="slots-then-max_slots"),
        pytest.param("node1 max-slots=8 slots=2\n", 2, id="max-slots-then-slots"),
        pytest.param("node1:3 max_slots=4\n", 3, id="colon-with-max_slots"),
    ],
)
def test_max_slots_is_accepted_but_not_counted_as_slots(text, slots):
    assert parse_hostfile(text, PATH).slots == (slots,)


@pytest.mark.parametrize(
    ("text", "explicit"),
    [
        pytest.param("a\nb\n", False, id="bare-hosts"),
        pytest.param("a max_slots=4\n", False, id="max-slots-only"),
        pytest.param("a slots=1\n", True, id="slots-one"),
        pytest.param("a:1\n", True, id="colon-one"),
        pytest.param("a\na\n", True, id="repeated-host"),
        pytest.param("a\nb slots=2\n", True, id="one-explicit"),
    ],
)
def test_explicit_slots_is_set_by_slot_counts_or_repeats(text, explicit):
    assert parse_hostfile(text, PATH).explicit_slots is explicit


def test_hostfile_records_the_path_it_was_read_from():
    assert parse_hostfile("node1\n", PATH).path == PATH


# --- repeated hosts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hosts", "slots", "repeated"),
    [
        pytest.param("a\na\na\na\n", ("a",), (4,), ("a",), id="pbs-one-line-per-slot"),
        pytest.param("a\nb\na\nb\n", ("a", "b"), (2, 2), ("a", "b"), id="interleaved"),
        pytest.param("a slots=2\na:3\n", ("a",), (5,), ("a",), id="mixed-forms-summed"),
        pytest.param("b\na\nb\n", ("b", "a"), (2, 1), ("b",), id="first-seen-order-kept"),
        pytest.param("a\nb\nc\n", ("a", "b", "c"), (1, 1, 1), (), id="no-repeats"),
        pytest.param("a\na\na\nb\n", ("a", "b"), (3, 1), ("a",), id="repeat-listed-once"),
    ],
)
def test_repeated_hosts_are_one_node_with_summed_slots(text, hosts, slots, repeated):
    parsed = parse_hostfile(text, PATH)
    assert (parsed.hosts, parsed.slots, parsed.repeated) == (hosts, slots, repeated)


def test_repeated_hosts_never_count_as_extra_nodes():
    parsed = parse_hostfile("x4514c6s0b0n0\n" * 12 + "x4514c6s1b0n0\n" * 12, PATH)
    assert len(parsed.hosts) == 2
    assert parsed.slots == (12, 12)


def test_repeat_warning_names_the_file_and_the_repeated_hosts():
    warning = parse_hostfile("a\nb\na\nb\nc\n", PATH).repeat_warning()
    assert warning is not None
    assert PATH in warning
    assert "a, b" in warning
    assert "2 host(s)" in warning
    assert "not as extra nodes" in warning


def test_repeat_warning_shortens_a_long_list_of_repeated_hosts():
    text = "".join(f"h{i}\nh{i}\n" for i in range(5))
    warning = parse_hostfile(text, PATH).repeat_warning()
    assert warning is not None
    assert "h0, h1, h2 ..." in warning
    assert "h3" not in warning
    assert "5 host(s)" in warning


def test_repeat_warning_is_none_without_repeats():
    assert parse_hostfile("a\nb\n", PATH).repeat_warning() is None


@pytest.mark.parametrize(
    ("text", "uniform"),
    [
        pytest.param("a slots=4\nb slots=4\n", 4, id="equal-explicit"),
        pytest.param("a:2\nb:2\n", 2, id="equal-colon"),
        pytest.param("a\na\nb\nb\n", 2, id="equal-by-repeats"),
        pytest.param("a slots=4\nb slots=2\n", None, id="unequal"),
        pytest.param("a\nb\n", None, id="bare-hosts-not-explicit"),
        pytest.param("a max_slots=4\n", None, id="max-slots-not-explicit"),
        pytest.param("a slots=1\n", 1, id="explicit-one"),
        pytest.param("a\na\nb\n", None, id="repeat-makes-unequal"),
    ],
)
def test_uniform_slots_is_the_common_explicit_count_or_none(text, uniform):
    assert parse_hostfile(text, PATH).uniform_slots == uniform


def test_uniform_slots_is_none_for_a_hostfile_without_hosts():
    empty = Hostfile(path=PATH, hosts=(), slots=(), repeated=(), explicit_slots=True)
    assert empty.uniform_slots is None


# --- errors that name the file and line -------------------------------------------------------


def test_hostfile_error_is_a_usage_error_with_exit_code_2():
    err = hostfile_error("bad host!\n")
    assert isinstance(err, UsageError)
    assert isinstance(err, EzpzError)
    assert err.exit_code == 2


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param("bad host!\n", 1, "unexpected 'host!'", id="space-then-junk"),
        pytest.param("bad!\n", 1, "'bad!' is not a valid host name", id="bang"),
        pytest.param("-x\n", 1, "'-x' is not a valid host name", id="leading-hyphen"),
        pytest.param("x-\n", 1, "'x-' is not a valid host name", id="trailing-hyphen"),
        pytest.param("a..b\n", 1, "'a..b' is not a valid host name", id="empty-label"),
        pytest.param(".a\n", 1, "'.a' is not a valid host name", id="leading-dot"),
        pytest.param("ok\nnode*\n", 2, "'node*' is not a valid host name", id="glob"),
        pytest.param("ok\n\n# c\nn\u00f6de\n", 4, "is not a valid host name", id="non-ascii"),
        pytest.param("a" * 64 + "\n", 1, "is not a valid host name", id="label-over-63"),
        pytest.param(
            ".".join(["a" * 63] * 4) + "\n", 1, "is not a valid host name", id="name-over-253"
        ),
        pytest.param(
            "node1 slots=0\n", 1, "slots must be a whole number >= 1, got '0'", id="slots-zero"
        ),
        pytest.param("node1 slots=x\n", 1, "got 'x'", id="slots-not-a-number"),
        pytest.param("node1 slots=\n", 1, "got ''", id="slots-empty"),
        pytest.param("node1 slots=-1\n", 1, "got '-1'", id="slots-negative"),
        pytest.param("node1 slots=1.5\n", 1, "got '1.5'", id="slots-fraction"),
        pytest.param("a\nnode1:\n", 2, "slot count in 'node1:'", id="colon-without-count"),
        pytest.param(
            "node1:0\n", 1, "slot count in 'node1:0' must be a whole number >= 1", id="colon-zero"
        ),
        pytest.param("node1:x\n", 1, "slot count in 'node1:x'", id="colon-not-a-number"),
        pytest.param(":4\n", 1, "'' is not a valid host name", id="colon-without-host"),
        pytest.param("node1 max_slots=0\n", 1, "max_slots must be", id="max_slots-zero"),
        pytest.param("node1 max-slots=y\n", 1, "max-slots must be", id="max-slots-not-a-number"),
        pytest.param(
            "node1 slots=2 extra\n",
            1,
            "unexpected 'extra' after host 'node1'",
            id="unknown-trailing-token",
        ),
        pytest.param(
            "node1 cpus=4\n",
            1,
            "unexpected 'cpus=4' after host 'node1'; expected slots=N",
            id="unknown-key",
        ),
        pytest.param("node1 slots 4\n", 1, "unexpected 'slots'", id="slots-without-equals"),
        pytest.param("node1 SLOTS=4\n", 1, "unexpected 'SLOTS=4'", id="slots-upper-case"),
        pytest.param("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nbad!\n", 11, "not a valid", id="line-11"),
    ],
)
def test_invalid_lines_raise_hostfile_error_naming_path_and_line(text, line, fragment):
    err = hostfile_error(text)
    assert (err.path, err.line) == (PATH, line)
    assert str(err).startswith(f"hostfile {PATH} line {line}: ")
    assert fragment in str(err)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("node1\x00\n", 1, id="nul-first-line"),
        pytest.param("node1\nnode2\n\x00\x00\x00\n", 3, id="nul-third-line"),
        pytest.param("# comment\x00\n", 1, id="nul-inside-comment"),
        pytest.param("node1\n\x7fELF\x02\x01\x01\x00\x00", 2, id="elf-header"),
    ],
)
def test_nul_bytes_are_reported_as_binary_data_with_the_line(text, line):
    err = hostfile_error(text)
    assert err.line == line
    assert str(err) == f"hostfile {PATH} line {line}: contains binary data (NUL bytes); " + (
        "is it a hostfile?"
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("\n\n\n", id="newlines-only"),
        pytest.param("  \t \n \n", id="whitespace-only"),
        pytest.param("# only a comment\n", id="one-comment"),
        pytest.param("# a\n\n   # b\n#node1 slots=4\n", id="comments-and-blanks"),
    ],
)
def test_hostfile_without_hosts_is_an_error_naming_the_file(text):
    err = hostfile_error(text)
    assert err.line is None
    assert str(err) == f"hostfile {PATH}: has no hosts (it is empty or holds only comments)"


# --- decoding bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        pytest.param(b"\xff\xfe\n", 1, id="bad-first-line"),
        pytest.param(b"node1\nnode2\n\xffnode3\n", 3, id="bad-third-line"),
        pytest.param(b"node1\nnode2 \xc3\n", 2, id="truncated-sequence-mid-line"),
        pytest.param(b"a\n\n\n\n\x80\n", 5, id="lone-continuation-byte"),
        pytest.param(b"node1\n\xed\xa0\x80\n", 2, id="encoded-surrogate"),
        pytest.param(b"a\nb\nc\xc0\xaf\n", 3, id="overlong-encoding"),
    ],
)
def test_invalid_utf8_names_the_line_of_the_bad_byte(data, line):
    with pytest.raises(HostfileError) as info:
        decode_hostfile(data, PATH)
    assert info.value.line == line
    assert str(info.value) == f"hostfile {PATH} line {line}: contains binary data (not UTF-8 text)"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(b"node1\n", "node1\n", id="ascii"),
        pytest.param(b"# caf\xc3\xa9\nnode1\n", "# caf\u00e9\nnode1\n", id="utf8-in-comment"),
        pytest.param(b"", "", id="empty"),
    ],
)
def test_decode_hostfile_returns_text_for_utf8(data, text):
    assert decode_hostfile(data, PATH) == text


# --- reading real files -----------------------------------------------------------------------


def test_read_hostfile_parses_a_file_on_disk(tmp_path):
    path = write(tmp_path, "# PBS nodefile\nx4514c6s0b0n0 slots=12\nx4514c6s1b0n0:12\n")
    parsed = read_hostfile(path)
    assert parsed.path == path
    assert parsed.hosts == ("x4514c6s0b0n0", "x4514c6s1b0n0")
    assert parsed.slots == (12, 12)
    assert parsed.uniform_slots == 12


def test_read_hostfile_of_a_pbs_nodefile_counts_each_node_once(tmp_path):
    path = write(tmp_path, "nodeA\nnodeA\nnodeB\nnodeB\n")
    parsed = read_hostfile(path)
    assert parsed.hosts == ("nodeA", "nodeB")
    assert parsed.slots == (2, 2)
    assert parsed.repeated == ("nodeA", "nodeB")


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        pytest.param("node1\nbad host!\n", 2, "unexpected 'host!'", id="invalid-host"),
        pytest.param("node1 slots=0\n", 1, "slots must be a whole number", id="slots-zero"),
        pytest.param(b"node1\n\x00\x01\x02\n", 2, "NUL bytes", id="nul-bytes"),
        pytest.param(b"node1\nnode2\nno\xffde3\n", 3, "not UTF-8 text", id="invalid-utf8"),
    ],
)
def test_read_hostfile_errors_name_the_real_path_and_line(tmp_path, content, line, fragment):
    path = write(tmp_path, content)
    with pytest.raises(HostfileError) as info:
        read_hostfile(path)
    assert (info.value.path, info.value.line) == (path, line)
    assert str(info.value).startswith(f"hostfile {path} line {line}: ")
    assert fragment in str(info.value)


@pytest.mark.parametrize("content", ["", "# only comments\n\n"], ids=["empty", "comments-only"])
def test_read_hostfile_without_hosts_is_an_error(tmp_path, content):
    path = write(tmp_path, content)
    with pytest.raises(HostfileError, match="has no hosts") as info:
        read_hostfile(path)
    assert info.value.path == path


def test_read_hostfile_of_a_missing_file_says_it_does_not_exist(tmp_path):
    path = str(tmp_path / "no-such-hostfile")
    with pytest.raises(HostfileError) as info:
        read_hostfile(path)
    assert str(info.value) == f"hostfile {path}: does not exist"
    assert info.value.line is None


def test_read_hostfile_of_a_directory_says_it_is_a_directory(tmp_path):
    with pytest.raises(HostfileError) as info:
        read_hostfile(str(tmp_path))
    assert str(info.value) == f"hostfile {tmp_path}: is a directory, not a file"


def test_read_hostfile_under_a_regular_file_reports_the_os_error(tmp_path):
    path = os.path.join(write(tmp_path, "node1\n"), "child")
    with pytest.raises(HostfileError) as info:
        read_hostfile(path)
    assert str(info.value) == f"hostfile {path}: cannot be read (Not a directory)"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads files whatever their mode",
)
def test_read_hostfile_of_an_unreadable_file_says_permission_denied(tmp_path):
    path = write(tmp_path, "node1\n")
    os.chmod(path, 0)
    try:
        with pytest.raises(HostfileError) as info:
            read_hostfile(path)
    finally:
        os.chmod(path, 0o600)
    assert str(info.value) == f"hostfile {path}: cannot be read (permission denied)"


def test_read_hostfile_reports_permission_denied_even_when_run_as_root(tmp_path, monkeypatch):
    path = write(tmp_path, "node1\n")

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", file)

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(HostfileError) as info:
        read_hostfile(path)
    assert str(info.value) == f"hostfile {path}: cannot be read (permission denied)"


# --- defects documented against the source ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("node1 slots=\u00b2\n", id="superscript-two-slots"),
        pytest.param("node1:\u00b2\n", id="superscript-two-colon"),
        pytest.param("node1 max_slots=\u00b9\n", id="superscript-one-max-slots"),
        pytest.param("node1 slots=" + "1" * 5000 + "\n", id="slots-over-int-digit-limit"),
        pytest.param("node1:" + "9" * 4301 + "\n", id="colon-over-int-digit-limit"),
    ],
)
def test_unusable_slot_counts_are_hostfile_errors_not_value_errors(text):
    # str.isdigit() accepts "²" and 5000-digit strings, but int() then raises ValueError.
    err = hostfile_error(text)
    assert err.line == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("node1 slots=\u0663\n", id="arabic-indic-three"),
        pytest.param("node1:\uff13\n", id="fullwidth-three"),
    ],
)
def test_slot_counts_must_be_ascii_digits(text):
    # Open MPI and MPICH read only ASCII digits, so the launcher would reject this file.
    assert hostfile_error(text).line == 1


@pytest.mark.parametrize(
    "separator",
    ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
    ids=["VT", "FF", "FS", "GS", "RS", "NEL", "LS", "PS"],
)
def test_line_numbers_count_newline_characters_like_an_editor(separator):
    # str.splitlines() also breaks on these, so the error would name a later line than
    # the one an editor shows (and than decode_hostfile counts).
    err = hostfile_error(f"# spare{separator}nodes\nbad!\n")
    assert err.line == 2


@pytest.mark.parametrize(
    "separator",
    ["\x0c", "\x1e", "\x85", "\u2028"],
    ids=["FF", "RS", "NEL", "LS"],
)
def test_text_after_a_line_separator_in_a_comment_is_not_a_host(separator):
    # str.splitlines() ends the comment at the separator, so "node9" became a host.
    parsed = parse_hostfile(f"# retired:{separator}node9\nnode1\n", PATH)
    assert parsed.hosts == ("node1",)


# --- properties -------------------------------------------------------------------------------

LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LABEL = st.from_regex(r"[a-z0-9_](?:[a-z0-9_-]{0,8}[a-z0-9_])?", fullmatch=True)
HOSTNAMES = st.builds(lambda labels: ".".join(labels), st.lists(_LABEL, min_size=1, max_size=3))
COMMENT = st.text(
    # no line breaks of any kind: see test_text_after_a_line_separator_in_a_comment_...
    alphabet=st.characters(exclude_characters=LINE_BREAKS + "\x00", exclude_categories=("Cs",)),
    max_size=20,
).map(lambda s: "#" + s)
FILLER = st.one_of(st.just(""), st.sampled_from([" ", "\t", "  \t"]), COMMENT)


@st.composite
def rendered_hostfiles(draw):
    """A hostfile text plus the hosts and slot sums it must parse to."""
    entries = draw(
        st.lists(
            st.tuples(
                HOSTNAMES,
                st.integers(min_value=1, max_value=64),
                st.sampled_from(["bare", "slots", "colon"]),
            ),
            min_size=1,
            max_size=12,
        )
    )
    lines: list[str] = []
    expected: dict[str, int] = {}
    for host, count, form in entries:
        lines.extend(draw(st.lists(FILLER, max_size=2)))
        if form == "bare":
            rendered = [host] * count  # one line per slot, as PBS writes a nodefile
        elif form == "slots":
            extra = draw(st.sampled_from(["", " max_slots=99", " max-slots=99"]))
            rendered = [f"{host} slots={count}{extra}"]
        else:
            rendered = [f"{host}:{count}"]
        indent = draw(st.sampled_from(["", " ", "\t"]))
        trailer = draw(st.one_of(st.just(""), st.just(" "), COMMENT.map(lambda c: " " + c)))
        lines.extend(indent + line + trailer for line in rendered)
        expected[host] = expected.get(host, 0) + count
    lines.extend(draw(st.lists(FILLER, max_size=2)))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines), expected


@settings(max_examples=200, deadline=None)
@given(rendered_hostfiles())
def test_property_valid_hostfiles_give_unique_hosts_in_order_with_summed_slots(case):
    text, expected = case
    parsed = parse_hostfile(text, PATH)
    assert parsed.hosts == tuple(expected)
    assert parsed.slots == tuple(expected.values())
    assert set(parsed.repeated) <= set(parsed.hosts)


HOSTFILE_FRAGMENTS = st.sampled_from(
    [
        "node1",
        "x4514c6s0b0n0",
        " ",
        "\t",
        "\n",
        "\r\n",
        "#",
        ":",
        "slots=",
        "max_slots=",
        "max-slots=",
        "0",
        "1",
        "12",
        "-",
        ".",
        "..",
        "\x00",
        "=",
        "!",
    ]
)
HOSTFILE_LIKE_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(HOSTFILE_FRAGMENTS, st.characters()), max_size=40).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(HOSTFILE_LIKE_TEXT)
@example("node1 slots=\u00b2")
@example("node1:" + "7" * 5000)
def test_property_parse_hostfile_returns_a_hostfile_or_raises_hostfile_error(text):
    try:
        result = parse_hostfile(text, PATH)
    except HostfileError as err:
        assert str(err).startswith(f"hostfile {PATH}")
    else:
        assert isinstance(result, Hostfile)
        assert result.hosts
        assert len(result.hosts) == len(set(result.hosts)) == len(result.slots)
        assert all(count >= 1 for count in result.slots)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_property_decode_hostfile_returns_text_or_raises_hostfile_error(data):
    try:
        text = decode_hostfile(data, PATH)
    except HostfileError as err:
        assert err.line is not None and 1 <= err.line <= data.count(b"\n") + 1
    else:
        assert text.encode("utf-8") == data


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_host(tmp_path):
    path = tmp_path / "hosts"
    path.write_bytes("\ufeffnode1\nnode2\n".encode())
    assert read_hostfile(str(path)).hosts == ("node1", "node2")


def test_a_file_over_64_mib_is_refused_not_truncated(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(b"node1\n" * (11 * 1024 * 1024 + 1))
    with pytest.raises(HostfileError, match="larger than 64 MiB"):
        read_hostfile(str(path))
