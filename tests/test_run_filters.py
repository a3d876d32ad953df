"""Display filters: --ranks, --grep, noise profiles; what they hide and never hide.

The Aurora profile replaces ezpz's substring list (reference section 5.1), which hid
real errors because it held bare words such as ``AttributeError`` and ``cuda``. Its
patterns must hide the real noise lines and never a real error or training line.
"""

from __future__ import annotations

import re

import pytest

from ezpz_core.errors import UsageError
from ezpz_core.run.events import LAUNCHER, Line
from ezpz_core.run.filters import PROFILES, DisplayFilter, make_filter, parse_ranks, profile_names


def line(text: str, rank: int = 0, stream: str = "stdout") -> Line:
    return Line(rank, stream, text, 0.0)


def shown(flt: DisplayFilter, texts: list[str]) -> list[str]:
    return [ln.text for ln in flt.visible([line(t) for t in texts])]


# -- parse_ranks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "ranks"),
    [
        pytest.param("0", frozenset({0}), id="one"),
        pytest.param("0,3-5", frozenset({0, 3, 4, 5}), id="list-and-range"),
        pytest.param("2-2", frozenset({2}), id="one-wide-range"),
        pytest.param(" 1 , 4 ", frozenset({1, 4}), id="spaces"),
        pytest.param("0-1,1-2", frozenset({0, 1, 2}), id="overlap"),
        pytest.param("all", None, id="all"),
        pytest.param("ALL", None, id="all-upper"),
        pytest.param(None, None, id="none"),
    ],
)
def test_parse_ranks(spec: str | None, ranks: frozenset[int] | None) -> None:
    assert parse_ranks(spec) == ranks


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("a", id="letter"),
        pytest.param("3-1", id="backwards"),
        pytest.param("1-", id="open-range"),
        pytest.param("-1", id="negative"),
        pytest.param("", id="empty"),
        pytest.param("0,,1", id="empty-part"),
        pytest.param("1-2-3", id="double-dash"),
        pytest.param("0;1", id="semicolon"),
    ],
)
def test_parse_ranks_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(UsageError, match="--ranks"):
        parse_ranks(spec)


# -- DisplayFilter --------------------------------------------------------------


def test_empty_filter_is_inactive_and_shows_everything() -> None:
    flt = DisplayFilter()
    assert not flt.active
    assert shown(flt, ["a", "b"]) == ["a", "b"]
    assert flt.hidden == {}


def test_ranks_hide_other_ranks() -> None:
    flt = DisplayFilter(ranks=frozenset({1}))
    lines = [line("r0", 0), line("r1", 1), line("r2", 2)]
    assert [ln.text for ln in flt.visible(lines)] == ["r1"]
    assert flt.active


def test_ranks_never_hide_the_launcher_lane() -> None:
    flt = DisplayFilter(ranks=frozenset({1}))
    lines = [line("launcher says", LAUNCHER, "stderr"), line("r0", 0)]
    assert [ln.text for ln in flt.visible(lines)] == ["launcher says"]


def test_grep_shows_only_matches() -> None:
    flt = DisplayFilter(grep=r"loss=\d")
    assert shown(flt, ["step=1 loss=0.5", "lr=0.1", "step=2 loss=0.4"]) == [
        "step=1 loss=0.5",
        "step=2 loss=0.4",
    ]


def test_grep_matches_anywhere_in_the_line() -> None:
    assert shown(DisplayFilter(grep="err"), ["an error here", "fine"]) == ["an error here"]


@pytest.mark.parametrize("pattern", ["(", "[a-", "*x", "a{2,1}"])
def test_invalid_grep_regex_is_a_usage_error(pattern: str) -> None:
    with pytest.raises(UsageError, match="--grep"):
        DisplayFilter(grep=pattern)


def test_hidden_counts_per_rule() -> None:
    flt = DisplayFilter(noise=PROFILES["aurora"], grep="loss", ranks=frozenset({0}))
    flt.visible(
        [
            line("loss=1", 1),
            line("loss=2", 2),
            line("Setting ds_accelerator to xpu (auto detect)", 0),
            line("  dispatch key: XPU", 0),
            line("1 warning generated.", 0),
            line("no match", 0),
            line("loss=3", 0),
        ]
    )
    assert flt.hidden == {
        "--ranks": 2,
        "deepspeed-accelerator-banner": 1,
        "xpu-kernel-reregistration": 1,
        "sycl-header-without-fsycl": 1,
        "--grep": 1,
    }


def test_hidden_counts_add_up_across_calls() -> None:
    flt = DisplayFilter(grep="keep")
    flt.visible([line("drop")])
    flt.visible([line("drop"), line("keep")])
    assert flt.hidden == {"--grep": 2}


# -- make_filter ----------------------------------------------------------------


def test_make_filter_uses_the_machine_profile() -> None:
    flt = make_filter("aurora")
    assert flt.noise == PROFILES["aurora"]
    assert shown(flt, ["Setting ds_accelerator to xpu (auto detect)"]) == []


def test_make_filter_without_a_machine_profile_has_no_noise_rules() -> None:
    flt = make_filter(None)
    assert flt.noise == ()
    assert not flt.active


def test_filter_profile_none_disables_the_machine_profile() -> None:
    flt = make_filter("aurora", profile="none")
    assert flt.noise == ()
    assert shown(flt, ["1 warning generated."]) == ["1 warning generated."]


def test_no_filter_disables_the_machine_profile() -> None:
    flt = make_filter("aurora", no_filter=True)
    assert flt.noise == ()
    assert shown(flt, ["1 warning generated."]) == ["1 warning generated."]


def test_no_filter_also_disables_an_explicit_profile() -> None:
    assert make_filter(None, profile="aurora", no_filter=True).noise == ()


def test_filter_profile_picks_a_profile_on_a_machine_without_one() -> None:
    assert make_filter(None, profile="aurora").noise == PROFILES["aurora"]


def test_no_filter_keeps_grep_and_ranks() -> None:
    flt = make_filter("aurora", no_filter=True, grep="x", ranks="1")
    assert flt.grep == "x"
    assert flt.ranks == frozenset({1})


def test_unknown_profile_is_a_usage_error_naming_the_choices() -> None:
    with pytest.raises(UsageError, match="--filter-profile 'polaris'") as info:
        make_filter("aurora", profile="polaris")
    assert "aurora" in str(info.value)
    assert "none" in str(info.value)


def test_make_filter_rejects_bad_ranks() -> None:
    with pytest.raises(UsageError):
        make_filter(None, ranks="3-1")


def test_profile_names() -> None:
    assert "aurora" in profile_names()
    assert profile_names() == sorted(profile_names())


# -- the Aurora profile: real noise hidden --------------------------------------

IPEX_BLOCK_NEW = [  # IPEX 2.6-style: one block, "Warning only once" header
    "  Overriding a previously registered kernel for the same operator and the same dispatch key",
    "  operator: aten::_validate_compressed_sparse_indices(bool is_crow, Tensor compressed_idx,"
    " Tensor plain_idx, int cdim, int dim, int nnz) -> ()",
    "    registered at /build/pytorch/build/aten/src/ATen/RegisterSchema.cpp:6",
    "  dispatch key: XPU",
    "  previous kernel: registered at /build/pytorch/build/aten/src/ATen/RegisterCPU.cpp:30477",
    "       new kernel: registered at /build/intel-pytorch-extension/build/Release/csrc/gpu/csrc/"
    "aten/generated/ATen/RegisterXPU.cpp:468 (function operator())",
]
IPEX_BLOCK_OLD = [  # one block per operator, as ezpz's list names them
    "  operator: aten::_cummax_helper(Tensor self, Tensor(a!) values, Tensor(b!) indices,"
    " int dim) -> ()",
    "  operator: aten::geometric_(Tensor(a!) self, float p, *, Generator? generator=None)"
    " -> Tensor(a!)",
    "  operator: aten::geometric_",
]
PROTOBUF = ["AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'"]
PKG_RESOURCES = [
    "/opt/aurora/24.347.0/frameworks/aurora_nre_models_frameworks-2025.0.0/lib/python3.10/"
    "site-packages/intel_extension_for_pytorch/nn/utils/_weight_prepack.py:5: UserWarning: "
    "pkg_resources is deprecated as an API. See "
    "https://setuptools.pypa.io/en/latest/pkg_resources.html. The pkg_resources package is "
    "slated for removal as early as 2025-11-30. Refrain from using this package or pin to "
    "Setuptools<81.",
    "  import pkg_resources",
]
DEEPSPEED = [
    "[2025-01-15 10:11:12,345] [INFO] [real_accelerator.py:203:get_accelerator] "
    "Setting ds_accelerator to xpu (auto detect)",
    "Setting ds_accelerator to xpu (auto detect)",
]
OTHER = [
    "[2025-01-15 10:11:12] WARNING Trying to register 2 metrics with the same name: accuracy",
    "2025-01-15 10:11:12.000000: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] "
    "TF-TRT Warning: Could not find TensorRT",
]
SYCL_BLOCK = [
    "In file included from /var/run/palsd/7f3c2a10-4a1b/tmp/jit_kernel_12.cpp:1:",
    "/opt/aurora/24.347.0/oneapi/compiler/latest/include/sycl/sycl.hpp:25:3: warning: You are "
    "including <sycl/sycl.hpp> without -fsycl flag, which is errorenous for device code "
    "compilation. This warning can be disabled by setting SYCL_DISABLE_FSYCL_SYCLHPP_WARNING "
    "macro. [-W#pragma-messages]",
    '   25 |   __SYCL_WARNING("You are including <sycl/sycl.hpp> without -fsycl flag, \\',
    "      |   ^",
    "<scratch space>:58:6: note: expanded from here",
    '   58 |  GCC warning "You are including <sycl/sycl.hpp> without -fsycl flag, which is '
    "errorenous for device code compilation. This warning can be disabled by setting "
    'SYCL_DISABLE_FSYCL_SYCLHPP_WARNING macro."',
    "      |      ^",
    "      |                             ^",
    "| ^",
    "1 warning generated.",
    "2 warnings generated.",
]
SYCL_FRAGMENTS = [  # pieces of the block when ranks' output interleaves
    "This warning can be disabled by setting SYCL_DISABLE_FSYCL_SYCLHPP_WARNING macro.",
    '  "which is errorenous for device code compilation. This warning can be disabled by '
    'setting SYCL_DISABLE_FSYCL_SYCLHPP_WARNING macro.")',
]

NOISE = [
    *IPEX_BLOCK_NEW,
    *IPEX_BLOCK_OLD,
    *PROTOBUF,
    *PKG_RESOURCES,
    *DEEPSPEED,
    *OTHER,
    *SYCL_BLOCK,
    *SYCL_FRAGMENTS,
]


@pytest.mark.parametrize("text", NOISE)
def test_aurora_profile_hides_real_noise(text: str) -> None:
    assert shown(make_filter("aurora"), [text]) == []


def test_aurora_profile_hides_the_whole_old_style_reregistration_block() -> None:
    """The header line of the block PyTorch prints for each re-registered kernel."""
    header = (
        "[W501 05:25:40.612148813 OperatorEntry.cpp:155] Warning: Overriding a previously "
        "registered kernel for the same operator and the same dispatch key"
    )
    assert shown(make_filter("aurora"), [header, *IPEX_BLOCK_NEW[1:]]) == []


def test_aurora_profile_hides_the_warning_only_once_header() -> None:
    """The first line of the IPEX 2.6 block (intel-extension-for-pytorch issue #808)."""
    header = (
        "[W409 21:02:45.000000000 OperatorEntry.cpp:161] Warning: Warning only once for all "
        "operators,  other operators may also be overridden."
    )
    assert shown(make_filter("aurora"), [header]) == []


def test_aurora_profile_hides_an_operator_line_whose_schema_returns_tensor() -> None:
    text = (
        "  operator: aten::max_pool2d(Tensor self, int[2] kernel_size, int[2] stride=[], "
        "int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> Tensor"
    )
    assert shown(make_filter("aurora"), [text]) == []


def test_aurora_profile_counts_each_noise_rule() -> None:
    flt = make_filter("aurora")
    flt.visible([line(t) for t in [*IPEX_BLOCK_NEW, *PROTOBUF, *PKG_RESOURCES, *SYCL_BLOCK]])
    assert flt.hidden == {
        "xpu-kernel-reregistration": len(IPEX_BLOCK_NEW),
        "protobuf-getprototype": 1,
        "pkg-resources-deprecation": 2,
        "sycl-header-without-fsycl": len(SYCL_BLOCK),
    }


# -- the Aurora profile: real errors and training lines never hidden ------------

REAL = [
    "AttributeError: 'NoneType' object has no attribute 'foo'",
    "AttributeError: 'MessageFactory' object has no attribute 'GetPrototype' in my_model.py",
    "AttributeError: 'Trainer' object has no attribute 'GetPrototype'",
    "RuntimeError: CUDA error: out of memory",
    "Traceback (most recent call last):",
    '  File "/home/me/train.py", line 42, in <module>',
    "step=10 loss=0.5 registered at 10:00",
    "model registered at /home/me/registry.py:12",
    "new kernel: compiled",
    "ImportError: cannot import name 'x'",
    "ImportError: cannot import name 'pkg_resources'",
    "ModuleNotFoundError: No module named 'pkg_resources'",
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "using cuda device 0",
    "cuDNN version 8902",
    "CUDA_VISIBLE_DEVICES=0,1",
    "cuBLAS handle created",
    "RuntimeError: operator: aten::foo is not implemented for XPU",
    "NotImplementedError: Could not run 'aten::_cummax_helper' with arguments from the 'XPU' "
    "backend",
    "dispatch key: XPU failed to run aten::add",
    "error: sycl/sycl.hpp: No such file or directory",
    "/opt/aurora/24.347.0/oneapi/compiler/latest/include/sycl/sycl.hpp:25:3: error: unknown "
    "type name 'foo'",
    "fatal error: 1 error generated.",
    "1 error generated.",
    "ERROR: Setting ds_accelerator to xpu failed",
    "Segmentation fault (core dumped)",
    "[W501 05:25:40.612148813 ProcessGroupNCCL.cpp:1168] Warning: WARNING: process group "
    "has NOT been destroyed before we destruct ProcessGroupNCCL.",
    "",
]


@pytest.mark.parametrize("text", REAL)
def test_aurora_profile_never_hides_real_output(text: str) -> None:
    assert shown(make_filter("aurora"), [text]) == [text]


@pytest.mark.parametrize("text", NOISE)
def test_each_noise_line_contains_a_literal_of_the_filter_that_hides_it(text: str) -> None:
    """The per-batch literal screen may skip the patterns only where no line could
    match: every line a filter hides must contain one of its literals."""
    hiders = [f for f in PROFILES["aurora"] if any(re.fullmatch(p, text) for p in f.patterns)]
    assert hiders, text
    assert all(any(lit in text for lit in f.literals) for f in hiders), text


def test_a_batch_without_noise_literals_is_shown_whole_and_counts_nothing() -> None:
    display = make_filter("aurora")
    rows = [(0, "stdout", f"step={i} loss=0.5") for i in range(100)]
    assert display.visible(rows) == rows
    assert display.hidden == {}


def test_noise_is_still_hidden_in_a_batch_of_mostly_real_lines() -> None:
    display = make_filter("aurora")
    rows = [(0, "stdout", f"step={i} loss=0.5") for i in range(50)]
    rows.insert(25, (1, "stderr", PROTOBUF[0]))
    assert len(display.visible(rows)) == 50
    assert display.hidden == {"protobuf-getprototype": 1}
