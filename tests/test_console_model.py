"""The console's Textual-free model: form, preview, config, env view, host search, themes.

Jobs are emulated as PBS presents them (env vars and a nodefile on disk, see
``tests/fakes.py``); hostfiles and config files are real files under ``tmp_path``.
The planner is checked against ``plan_launch`` itself, so a test fails if the
console ever decides a launch differently from ``--dry-run``.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from ezpz_core.doctor import run_checks
from ezpz_core.errors import HostfileError, TopologyError, UsageError
from ezpz_core.hostfile import read_hostfile
from ezpz_core.job import Job
from ezpz_core.kinds import LauncherChoice, RankIO
from ezpz_core.launch.plan import LaunchPlan, plan_launch
from ezpz_core.launch.request import LaunchRequest
from ezpz_core.run.filters import profile_names as filter_profile_names
from ezpz_tui.config import (
    CONFIG_ENV,
    RECENT_PER_DIRECTORY,
    ConfigError,
    ConsoleConfig,
    config_dir,
    dump_toml,
)
from ezpz_tui.envview import MASK, launcher_env
from ezpz_tui.form import (
    FIELD_NAMES,
    LaunchForm,
    field_for_error,
    form_from_request,
    parse_form,
)
from ezpz_tui.hostsearch import HostRow, filter_hosts, host_rows
from ezpz_tui.preview import HostfileCache, Part, Planner, Preview, argv_parts
from ezpz_tui.theming import _theme_from, load_themes
from tests.fakes import AURORA_HOSTS, FakeProbe, PbsJob, detect

PY = "python3"
MPIEXEC = FakeProbe(found={"mpiexec": "mpiexec"})
SHORT0, SHORT1 = (h.split(".")[0] for h in AURORA_HOSTS)


def aurora_job(pbs: PbsJob) -> Job:
    return detect(pbs.env, hostname=SHORT0, context=pbs.context)


def planner(pbs: PbsJob) -> Planner:
    return Planner(aurora_job(pbs), env=pbs.env, probe=MPIEXEC, python=PY)


def core_plan(pbs: PbsJob, request: LaunchRequest) -> LaunchPlan:
    """What ``--dry-run`` would plan for ``request`` in the same job."""
    user = read_hostfile(request.hostfile) if request.hostfile else None
    return plan_launch(
        aurora_job(pbs), request, env=pbs.env, probe=MPIEXEC, user_hostfile=user, python=PY
    )


def good_preview(pbs: PbsJob, form: LaunchForm) -> Preview:
    preview = planner(pbs).preview(form)
    assert preview.plan is not None, preview.problem
    return preview


def write_hostfile(path: Path, *hosts: str) -> Path:
    path.write_text("".join(f"{h}\n" for h in hosts))
    return path


# --- form: parse_form ------------------------------------------------------------------


def test_empty_form_is_a_request_with_nothing_given() -> None:
    parsed = parse_form(LaunchForm())
    assert parsed.errors == {}
    assert parsed.request == LaunchRequest()


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("12", 12), (" 8 ", 8), ("007", 7), ("10624", 10624)],
)
@pytest.mark.parametrize("name", ["np", "ppn", "nhosts"])
def test_count_fields_accept_whole_numbers(name: str, text: str, value: int) -> None:
    parsed = parse_form(LaunchForm().with_field(name, text))
    assert parsed.errors == {}
    assert getattr(parsed.request, name) == value


@pytest.mark.parametrize("text", ["0", "-1", "+4", "3.5", "abc", "1e3", "4 4", "0x10"])
@pytest.mark.parametrize("name", ["np", "ppn", "nhosts"])
def test_count_fields_reject_anything_but_whole_numbers_from_one(name: str, text: str) -> None:
    parsed = parse_form(LaunchForm().with_field(name, text))
    assert parsed.request is None
    assert set(parsed.errors) == {name}
    assert "whole number >= 1" in parsed.errors[name]
    assert repr(text.strip()) in parsed.errors[name]


@pytest.mark.parametrize("name", ["np", "ppn", "nhosts"])
def test_count_fields_report_a_superscript_digit_as_a_field_error(name: str) -> None:
    parsed = parse_form(LaunchForm().with_field(name, "²"))
    assert parsed.request is None
    assert set(parsed.errors) == {name}


@pytest.mark.parametrize("name", ["np", "ppn", "nhosts", "hostfile", "cpu_bind"])
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_optional_fields_become_none(name: str, blank: str) -> None:
    parsed = parse_form(LaunchForm().with_field(name, blank))
    assert parsed.errors == {}
    assert getattr(parsed.request, name) is None


def test_hostfile_and_cpu_bind_are_trimmed() -> None:
    parsed = parse_form(LaunchForm(hostfile="  ./hosts ", cpu_bind=" depth\t"))
    assert parsed.request is not None
    assert parsed.request.hostfile == "./hosts"
    assert parsed.request.cpu_bind == "depth"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("python3 train.py --lr 0.1", ("python3", "train.py", "--lr", "0.1")),
        ("python3 -c 'print(\"hi there\")'", ("python3", "-c", 'print("hi there")')),
        ('echo "a b" c\\ d', ("echo", "a b", "c d")),
        ("  spaced   out  ", ("spaced", "out")),
        ("echo héllo 日本", ("echo", "héllo", "日本")),
        ("", ()),
    ],
)
def test_command_is_split_like_a_shell_line(text: str, words: tuple[str, ...]) -> None:
    parsed = parse_form(LaunchForm(command=text))
    assert parsed.request is not None
    assert parsed.request.command == words


@pytest.mark.parametrize(
    ("text", "words"),
    [("--no-vni", ("--no-vni",)), ("--env 'A=1 2' -v", ("--env", "A=1 2", "-v")), ("", ())],
)
def test_launcher_args_are_split_like_a_shell_line(text: str, words: tuple[str, ...]) -> None:
    parsed = parse_form(LaunchForm(launcher_args=text))
    assert parsed.request is not None
    assert parsed.request.launcher_args == words


@pytest.mark.parametrize("text", ['python3 -c "print(1)', "echo 'open", "echo trailing\\"])
@pytest.mark.parametrize("name", ["command", "launcher_args"])
def test_an_incomplete_shell_line_is_an_error_on_its_field(name: str, text: str) -> None:
    parsed = parse_form(LaunchForm().with_field(name, text))
    assert parsed.request is None
    assert set(parsed.errors) == {name}
    assert "not a complete shell line" in parsed.errors[name]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("launcher", "mpiexecc"),
        ("launcher", "AUTO"),
        ("launcher", ""),
        ("rank_io", "labels"),
        ("rank_io", ""),
        ("filter_profile", "no-such-profile"),
    ],
)
def test_an_unknown_choice_is_an_error_on_its_field(name: str, value: str) -> None:
    parsed = parse_form(LaunchForm().with_field(name, value))
    assert parsed.request is None
    assert set(parsed.errors) == {name}
    assert repr(value) in parsed.errors[name]


@pytest.mark.parametrize("choice", list(LauncherChoice))
def test_every_launcher_choice_is_accepted(choice: LauncherChoice) -> None:
    parsed = parse_form(LaunchForm(launcher=choice.value))
    assert parsed.request is not None
    assert parsed.request.launcher is choice


@pytest.mark.parametrize("mode", list(RankIO))
def test_every_rank_io_mode_is_accepted(mode: RankIO) -> None:
    parsed = parse_form(LaunchForm(rank_io=mode.value))
    assert parsed.request is not None
    assert parsed.request.rank_io is mode


@pytest.mark.parametrize("profile", ["", "none", *filter_profile_names()])
def test_every_filter_profile_choice_is_accepted(profile: str) -> None:
    assert parse_form(LaunchForm(filter_profile=profile)).errors == {}


def test_every_wrong_field_is_reported_at_once() -> None:
    form = LaunchForm(
        np="x", ppn="0", nhosts="-2", command="'", launcher_args='"', launcher="?", rank_io="?"
    )
    parsed = parse_form(form)
    assert parsed.request is None
    assert set(parsed.errors) == {
        "np",
        "ppn",
        "nhosts",
        "command",
        "launcher_args",
        "launcher",
        "rank_io",
    }


# --- form: field_for_error -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "field"),
    [
        (TopologyError("-n/--np must be a whole number >= 1, got 0"), "np"),
        (
            TopologyError(
                "-n 7 does not divide evenly over 2 host(s); pick -n as a multiple of 2, "
                "or set --nhosts to a divisor of 7"
            ),
            "np",
        ),
        (TopologyError("-n 8 is not a multiple of --ppn 3; pick -n as a multiple of 3"), "np"),
        (TopologyError("-n 8 does not equal --nhosts 2 x --ppn 3 = 6"), "np"),
        (TopologyError("--ppn must be a whole number >= 1, got 0"), "ppn"),
        (TopologyError("--nhosts 3 is more than the 2 host(s) of job 8414055"), "nhosts"),
        (
            UsageError("--cpu-bind is empty; give a binding such as depth, core or list:0-7"),
            "cpu_bind",
        ),
        (
            UsageError("CPU_BIND is empty; give a binding such as depth, core or list:0-7"),
            "cpu_bind",
        ),
        (UsageError("--hostfile cannot be used here"), "hostfile"),
        (UsageError("cannot tell which MPI mpirun belongs to"), None),
    ],
)
def test_field_for_error_names_the_field_of_the_first_flag(
    error: UsageError, field: str | None
) -> None:
    assert field_for_error(error, LaunchForm()) == field


def test_field_for_error_puts_a_hostfile_error_on_the_hostfile_field() -> None:
    error = HostfileError("./hosts", "'-n' is not a valid host name", 3)
    assert field_for_error(error, LaunchForm(hostfile="./hosts")) == "hostfile"


def test_field_for_error_keeps_a_hostfile_error_off_an_empty_hostfile_field() -> None:
    error = HostfileError(
        "/var/spool/pbs/aux/1", "has no hosts (it is empty or holds only comments)"
    )
    assert field_for_error(error, LaunchForm()) is None


ACCELERATOR_LIMIT = TopologyError(
    "13 ranks per host is more than the 12 accelerators per host; lower -n/--ppn, "
    "or set NGPU_PER_HOST to share accelerators on purpose"
)


def test_field_for_error_puts_too_many_ranks_per_host_on_a_given_ppn() -> None:
    assert field_for_error(ACCELERATOR_LIMIT, LaunchForm(ppn="13")) == "ppn"


def test_field_for_error_puts_too_many_ranks_per_host_on_np_when_ppn_is_empty() -> None:
    assert field_for_error(ACCELERATOR_LIMIT, LaunchForm(np="26")) == "np"


# --- form: round trips -----------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        LaunchRequest(),
        LaunchRequest(command=("python3", "train.py", "--lr", "0.1"), np=8),
        LaunchRequest(
            command=("python3", "-c", "print('a b'); print(\"c\")"),
            np=24,
            ppn=12,
            nhosts=2,
            hostfile="/tmp/my hosts",
            cpu_bind="list:0-7",
            launcher=LauncherChoice.MPIEXEC,
            rank_io=RankIO.WRAPPER,
            launcher_args=("--no-vni", "--env", "A=1 2"),
        ),
        LaunchRequest(command=("echo", "héllo", "$HOME", "back\\slash", ""), rank_io=RankIO.NONE),
        LaunchRequest(launcher=LauncherChoice.NONE, command=("true",)),
    ],
)
def test_form_from_request_parses_back_to_the_same_request(request_: LaunchRequest) -> None:
    parsed = parse_form(form_from_request(request_))
    assert parsed.errors == {}
    assert parsed.request == request_


def test_form_from_request_keeps_the_filter_profile() -> None:
    assert form_from_request(LaunchRequest(), "none").filter_profile == "none"
    assert form_from_request(LaunchRequest()).filter_profile == ""


def test_form_to_dict_and_from_dict_round_trip() -> None:
    form = LaunchForm(np="8", command="python3 'a b'", launcher="mpirun", filter_profile="none")
    assert LaunchForm.from_dict(form.to_dict()) == form
    assert set(form.to_dict()) == set(FIELD_NAMES)


def test_from_dict_ignores_unknown_keys_and_non_string_values() -> None:
    data: dict[str, object] = {
        "np": 8,
        "ppn": "4",
        "nhosts": None,
        "command": ["python3"],
        "launcher": "srun",
        "colour": "blue",
        "rank_io": {"x": 1},
    }
    assert LaunchForm.from_dict(data) == LaunchForm(ppn="4", launcher="srun")


# --- preview: the planner is plan_launch ------------------------------------------------


@pytest.mark.parametrize(
    ("form", "request_"),
    [
        (LaunchForm(), LaunchRequest()),
        (
            LaunchForm(command="python3 train.py --lr 0.1"),
            LaunchRequest(command=("python3", "train.py", "--lr", "0.1")),
        ),
        (LaunchForm(np="12"), LaunchRequest(np=12)),
        (LaunchForm(ppn="6", nhosts="1"), LaunchRequest(ppn=6, nhosts=1)),
        (LaunchForm(cpu_bind="depth"), LaunchRequest(cpu_bind="depth")),
        (LaunchForm(launcher_args="--no-vni"), LaunchRequest(launcher_args=("--no-vni",))),
        (
            LaunchForm(rank_io="wrapper", command="python3 -c 'print(1)'"),
            LaunchRequest(rank_io=RankIO.WRAPPER, command=("python3", "-c", "print(1)")),
        ),
        (LaunchForm(rank_io="none"), LaunchRequest(rank_io=RankIO.NONE)),
        (
            LaunchForm(launcher="none", command="python3 x.py"),
            LaunchRequest(launcher=LauncherChoice.NONE, command=("python3", "x.py")),
        ),
        (
            LaunchForm(launcher="torchrun", nhosts="1"),
            LaunchRequest(launcher=LauncherChoice.TORCHRUN, nhosts=1),
        ),
    ],
)
def test_preview_plans_exactly_what_plan_launch_plans(
    aurora: PbsJob, form: LaunchForm, request_: LaunchRequest
) -> None:
    preview = good_preview(aurora, form)
    assert preview.errors == {}
    assert preview.problem is None
    expected = core_plan(aurora, request_)
    assert preview.plan is not None
    assert preview.plan.argv == expected.argv
    assert preview.plan.warnings == expected.warnings
    assert preview.warnings == expected.warnings


def test_preview_of_a_default_form_uses_the_whole_aurora_job(aurora: PbsJob) -> None:
    plan = good_preview(aurora, LaunchForm()).plan
    assert plan is not None
    assert plan.topology is not None
    assert (plan.topology.nhosts, plan.topology.ppn, plan.topology.world_size) == (2, 12, 24)
    assert plan.hosts == AURORA_HOSTS


def test_preview_of_np_that_does_not_divide_over_the_hosts_is_an_np_error(
    aurora: PbsJob,
) -> None:
    preview = planner(aurora).preview(LaunchForm(np="7"))
    assert preview.plan is None
    assert set(preview.errors) == {"np"}
    assert preview.problem is not None
    assert "-n 7" in preview.problem
    assert preview.errors["np"] == preview.problem
    assert preview.warnings == ()


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (LaunchForm(nhosts="3"), "nhosts"),
        (LaunchForm(np="8", ppn="3"), "np"),
        (LaunchForm(ppn="13"), "ppn"),
        (LaunchForm(cpu_bind="--cpu-bind="), "cpu_bind"),
    ],
)
def test_preview_keys_a_planner_error_by_its_field(
    aurora: PbsJob, form: LaunchForm, field: str
) -> None:
    preview = planner(aurora).preview(form)
    assert preview.plan is None
    assert set(preview.errors) == {field}
    assert preview.problem == preview.errors[field]


def test_preview_of_a_bad_field_names_it_without_planning(aurora: PbsJob) -> None:
    preview = planner(aurora).preview(LaunchForm(np="zero"))
    assert preview.plan is None
    assert set(preview.errors) == {"np"}
    assert preview.problem == preview.errors["np"]


def test_preview_of_a_missing_hostfile_says_it_does_not_exist(
    aurora: PbsJob, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-hosts"
    preview = planner(aurora).preview(LaunchForm(hostfile=str(missing)))
    assert preview.plan is None
    assert set(preview.errors) == {"hostfile"}
    assert "does not exist" in preview.errors["hostfile"]
    assert str(missing) in preview.errors["hostfile"]
    assert preview.hostfile_error == preview.errors["hostfile"]
    assert preview.problem == preview.errors["hostfile"]


def test_preview_of_a_malformed_hostfile_is_a_hostfile_error(
    aurora: PbsJob, tmp_path: Path
) -> None:
    bad = tmp_path / "hosts"
    bad.write_text(f"{SHORT0} slots=many\n")
    preview = planner(aurora).preview(LaunchForm(hostfile=str(bad)))
    assert preview.plan is None
    assert set(preview.errors) == {"hostfile"}
    assert "line 1" in preview.errors["hostfile"]


def test_preview_uses_a_valid_user_hostfile(aurora: PbsJob, tmp_path: Path) -> None:
    hosts = write_hostfile(tmp_path / "hosts", SHORT1)
    preview = good_preview(aurora, LaunchForm(hostfile=str(hosts)))
    assert preview.plan is not None
    assert preview.plan.hosts == (SHORT1,)
    assert preview.user_hostfile is not None
    assert preview.user_hostfile.hosts == (SHORT1,)
    assert preview.plan.argv == core_plan(aurora, LaunchRequest(hostfile=str(hosts))).argv


def test_preview_keeps_the_user_hostfile_when_the_plan_fails(
    aurora: PbsJob, tmp_path: Path
) -> None:
    hosts = write_hostfile(tmp_path / "hosts", SHORT1)
    preview = planner(aurora).preview(LaunchForm(hostfile=str(hosts), nhosts="2"))
    assert preview.plan is None
    assert set(preview.errors) == {"nhosts"}
    assert preview.user_hostfile is not None
    assert preview.user_hostfile.hosts == (SHORT1,)


def test_preview_does_not_re_read_an_unchanged_hostfile(aurora: PbsJob, tmp_path: Path) -> None:
    hosts = write_hostfile(tmp_path / "hosts", SHORT0, SHORT1)
    plans = planner(aurora)
    first = plans.preview(LaunchForm(hostfile=str(hosts), np="12"))
    second = plans.preview(LaunchForm(hostfile=str(hosts), np="24"))
    assert first.user_hostfile is not None
    assert second.user_hostfile is first.user_hostfile


# --- preview: HostfileCache ------------------------------------------------------------


def test_hostfile_cache_returns_the_same_object_for_an_unchanged_file(tmp_path: Path) -> None:
    path = write_hostfile(tmp_path / "hosts", "node01", "node02")
    cache = HostfileCache()
    first = cache.read(str(path))
    assert cache.read(str(path)) is first
    assert first.hosts == ("node01", "node02")


def test_hostfile_cache_re_reads_a_changed_file(tmp_path: Path) -> None:
    path = write_hostfile(tmp_path / "hosts", "node01", "node02")
    cache = HostfileCache()
    first = cache.read(str(path))
    write_hostfile(path, "node03", "node04", "node05")
    second = cache.read(str(path))
    assert second is not first
    assert second.hosts == ("node03", "node04", "node05")
    assert cache.read(str(path)) is second


def test_hostfile_cache_reports_a_file_deleted_after_it_was_read(tmp_path: Path) -> None:
    path = write_hostfile(tmp_path / "hosts", "node01")
    cache = HostfileCache()
    cache.read(str(path))
    path.unlink()
    with pytest.raises(HostfileError, match="does not exist"):
        cache.read(str(path))


def test_hostfile_cache_raises_the_hostfile_error_of_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("# only a comment\n")
    with pytest.raises(HostfileError, match="has no hosts"):
        HostfileCache().read(str(path))


# --- preview: argv_parts ---------------------------------------------------------------


def test_argv_parts_join_back_to_the_argv(aurora: PbsJob) -> None:
    for form in (
        LaunchForm(command="python3 train.py"),
        LaunchForm(rank_io="wrapper", command="python3 train.py"),
        LaunchForm(launcher="none", command="python3 train.py"),
        LaunchForm(launcher="torchrun", nhosts="1", command="python3 train.py"),
        LaunchForm(launcher_args="--no-vni", command="python3 train.py"),
        LaunchForm(),
    ):
        plan = good_preview(aurora, form).plan
        assert plan is not None
        assert tuple(word for word, _ in argv_parts(plan)) == plan.argv, form


def test_argv_parts_tag_the_first_word_launcher_and_the_command_last(aurora: PbsJob) -> None:
    plan = good_preview(aurora, LaunchForm(command="python3 train.py --lr 0.1")).plan
    assert plan is not None
    parts = argv_parts(plan)
    assert parts[0] == ("mpiexec", Part.LAUNCHER)
    assert parts[-4:] == [
        ("python3", Part.COMMAND),
        ("train.py", Part.COMMAND),
        ("--lr", Part.COMMAND),
        ("0.1", Part.COMMAND),
    ]
    assert {part for _, part in parts[1:-4]} == {Part.FLAG}


def test_argv_parts_tag_the_rank_wrapper(aurora: PbsJob) -> None:
    plan = good_preview(aurora, LaunchForm(rank_io="wrapper", command="python3 train.py")).plan
    assert plan is not None
    parts = argv_parts(plan)
    assert parts[0] == ("mpiexec", Part.LAUNCHER)
    assert parts[-6:] == [
        (PY, Part.WRAPPER),
        ("-m", Part.WRAPPER),
        ("ezpz_core.rankio", Part.WRAPPER),
        ("--", Part.WRAPPER),
        ("python3", Part.COMMAND),
        ("train.py", Part.COMMAND),
    ]
    assert {part for _, part in parts[1:-6]} == {Part.FLAG}


def test_argv_parts_tag_the_default_command_as_command(aurora: PbsJob) -> None:
    plan = good_preview(aurora, LaunchForm(rank_io="none")).plan
    assert plan is not None
    assert argv_parts(plan)[-3:] == [
        (PY, Part.COMMAND),
        ("-m", Part.COMMAND),
        ("ezpz_core.workload", Part.COMMAND),
    ]


@pytest.mark.parametrize("rank_io", ["auto", "wrapper", "none"])
def test_argv_parts_with_launcher_none_are_all_command(aurora: PbsJob, rank_io: str) -> None:
    form = LaunchForm(launcher="none", rank_io=rank_io, command="python3 train.py")
    plan = good_preview(aurora, form).plan
    assert plan is not None
    parts = argv_parts(plan)
    assert {part for _, part in parts} == {Part.COMMAND}
    assert tuple(word for word, _ in parts) == plan.argv


# --- preview: checks -------------------------------------------------------------------


def test_checks_of_a_good_form_are_run_checks_of_its_plan(aurora: PbsJob) -> None:
    plans = planner(aurora)
    preview = plans.preview(LaunchForm(np="12"))
    assert preview.plan is not None
    expected = run_checks(plans.job, preview.plan, env=aurora.env, python=PY)
    got = plans.checks(preview)
    assert [c.name for c in got] == [c.name for c in expected]
    assert got == expected


def test_checks_of_a_missing_hostfile_are_run_checks_with_its_error(
    aurora: PbsJob, tmp_path: Path
) -> None:
    plans = planner(aurora)
    missing = str(tmp_path / "nope")
    preview = plans.preview(LaunchForm(hostfile=missing))
    expected = run_checks(
        plans.job,
        None,
        env=aurora.env,
        python=PY,
        plan_error=preview.problem,
        user_hostfile=missing,
        user_hostfile_error=preview.hostfile_error,
    )
    got = plans.checks(preview)
    assert [c.name for c in got] == [c.name for c in expected]
    assert got == expected


# --- config: profiles ------------------------------------------------------------------

AWKWARD = LaunchForm(
    np="8",
    hostfile="C:\\hosts\\new",
    cpu_bind="list:0-7",
    launcher="mpiexec",
    rank_io="wrapper",
    launcher_args="--env 'A=\"1\"'",
    filter_profile="none",
    command='python3 -c \'print("héllo 日本 ✓")\'\nsecond line\ttab \\ end "',
)


def test_profile_round_trips_quotes_backslashes_unicode_and_newlines(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path)
    path = config.save_profile("awkward", AWKWARD)
    assert path == tmp_path / "profiles" / "awkward.toml"
    assert config.load_profile("awkward") == AWKWARD


def test_profile_round_trips_a_delete_character(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path)
    form = LaunchForm(command="echo '\x7f'")
    config.save_profile("del", form)
    assert config.load_profile("del") == form


def test_saving_a_profile_again_replaces_it(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path)
    config.save_profile("p", LaunchForm(np="8"))
    config.save_profile("p", LaunchForm(np="16"))
    assert config.load_profile("p") == LaunchForm(np="16")
    assert [p.name for p in (tmp_path / "profiles").iterdir()] == ["p.toml"]


def test_profile_names_are_sorted(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path)
    assert config.profile_names() == []
    for name in ("zeta", "Alpha", "beta.2", "a_1", "0-first"):
        config.save_profile(name, LaunchForm())
    (tmp_path / "profiles" / "notes.txt").write_text("not a profile")
    assert config.profile_names() == sorted(["zeta", "Alpha", "beta.2", "a_1", "0-first"])


@pytest.mark.parametrize(
    "name", ["../x", "a b", "", ".hidden", "-dash", "a/b", "x" * 65, "naïve", "p\nq"]
)
def test_a_bad_profile_name_is_refused(tmp_path: Path, name: str) -> None:
    config = ConsoleConfig(tmp_path)
    with pytest.raises(ConfigError, match="not allowed"):
        config.save_profile(name, LaunchForm())
    with pytest.raises(ConfigError, match="not allowed"):
        config.load_profile(name)
    assert not (tmp_path / "x.toml").exists()
    assert not (tmp_path / "profiles").exists()


def test_a_profile_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not allowed"):
        ConsoleConfig(tmp_path).save_profile("p\n", LaunchForm())


def test_loading_a_missing_profile_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no profile 'ghost'"):
        ConsoleConfig(tmp_path).load_profile("ghost")


@pytest.mark.parametrize(
    "content",
    [b'np = "8\n', b"np = = 1\n", b"\xff\xfe not utf-8\n", b"[table\n"],
)
def test_loading_a_corrupt_profile_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "profiles").mkdir()
    path = tmp_path / "profiles" / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="cannot read") as info:
        ConsoleConfig(tmp_path).load_profile("broken")
    assert str(path) in str(info.value)


def test_a_hand_edited_profile_keeps_only_known_string_fields(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "edited.toml").write_text(
        'np = 8\nppn = "4"\ncolour = "blue"\n[extra]\nx = 1\n'
    )
    assert ConsoleConfig(tmp_path).load_profile("edited") == LaunchForm(ppn="4")


# --- config: settings ------------------------------------------------------------------


def test_settings_round_trip(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path)
    assert config.settings() == {}
    config.save_setting("theme", "ezpz-light")
    config.save_setting("other", 'quote " and \\ back')
    assert config.settings() == {"theme": "ezpz-light", "other": 'quote " and \\ back'}
    config.save_setting("theme", "ezpz-dark")
    assert config.settings()["theme"] == "ezpz-dark"


def test_a_corrupt_settings_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("theme = \n")
    with pytest.raises(ConfigError, match=r"settings\.toml"):
        ConsoleConfig(tmp_path).settings()


def test_save_setting_replaces_a_corrupt_settings_file(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("theme = [unclosed\n")
    config = ConsoleConfig(tmp_path)
    config.save_setting("theme", "ezpz-light")
    assert config.settings() == {"theme": "ezpz-light"}


def test_save_setting_creates_the_config_directory(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "er"
    ConsoleConfig(root).save_setting("theme", "ezpz-dark")
    assert (root / "settings.toml").is_file()
    assert [p.name for p in root.iterdir()] == ["settings.toml"]  # no temporary file left


# --- config: recent --------------------------------------------------------------------


def test_recent_of_a_fresh_directory_is_empty(tmp_path: Path) -> None:
    assert ConsoleConfig(tmp_path).recent(str(tmp_path)) == []


def test_recent_is_newest_first(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path / "cfg")
    for n in ("1", "2", "3"):
        config.remember(str(tmp_path), LaunchForm(np=n))
    assert [f.np for f in config.recent(str(tmp_path))] == ["3", "2", "1"]


def test_recent_moves_a_repeated_form_to_the_front_once(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path / "cfg")
    for n in ("1", "2", "1"):
        config.remember(str(tmp_path), LaunchForm(np=n))
    assert [f.np for f in config.recent(str(tmp_path))] == ["1", "2"]


def test_recent_is_capped_per_directory(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path / "cfg")
    total = RECENT_PER_DIRECTORY + 5
    for n in range(total):
        config.remember(str(tmp_path), LaunchForm(np=str(n + 1)))
    got = [f.np for f in config.recent(str(tmp_path))]
    assert got == [str(n) for n in range(total, total - RECENT_PER_DIRECTORY, -1)]


def test_recent_keeps_directories_apart(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    config = ConsoleConfig(tmp_path / "cfg")
    config.remember(str(one), LaunchForm(np="1"))
    config.remember(str(two), LaunchForm(np="2"))
    assert config.recent(str(one)) == [LaunchForm(np="1")]
    assert config.recent(str(two)) == [LaunchForm(np="2")]


def test_recent_treats_a_symlink_as_its_directory(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    config = ConsoleConfig(tmp_path / "cfg")
    config.remember(str(link), LaunchForm(np="4"))
    assert config.recent(str(real)) == [LaunchForm(np="4")]


def test_recent_round_trips_awkward_forms(tmp_path: Path) -> None:
    config = ConsoleConfig(tmp_path / "cfg")
    config.remember(str(tmp_path), AWKWARD)
    assert config.recent(str(tmp_path)) == [AWKWARD]


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe", b'{"a": [}'])
def test_a_corrupt_recent_file_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "recent.json").write_bytes(content)
    with pytest.raises(ConfigError, match=r"recent\.json"):
        ConsoleConfig(tmp_path).recent(str(tmp_path))


def test_remember_replaces_a_corrupt_recent_file(tmp_path: Path) -> None:
    (tmp_path / "recent.json").write_text("{not json")
    config = ConsoleConfig(tmp_path)
    config.remember(str(tmp_path), LaunchForm(np="8"))
    assert config.recent(str(tmp_path)) == [LaunchForm(np="8")]


def test_recent_skips_entries_that_are_not_forms(tmp_path: Path) -> None:
    key = os.path.realpath(tmp_path)
    data = {key: [{"np": "8"}, "junk", 3, {"ppn": 4, "command": "true"}]}
    (tmp_path / "recent.json").write_text(json.dumps(data))
    got = ConsoleConfig(tmp_path).recent(str(tmp_path))
    assert got == [LaunchForm(np="8"), LaunchForm(command="true")]


def write_non_list_recent(root: Path) -> None:
    (root / "recent.json").write_text(json.dumps({os.path.realpath(root): 5}))


def test_recent_of_a_non_list_entry_is_a_config_error(tmp_path: Path) -> None:
    write_non_list_recent(tmp_path)
    with pytest.raises(ConfigError, match=r"recent\.json"):
        ConsoleConfig(tmp_path).recent(str(tmp_path))


def test_remember_replaces_a_non_list_entry(tmp_path: Path) -> None:
    write_non_list_recent(tmp_path)
    config = ConsoleConfig(tmp_path)
    config.remember(str(tmp_path), LaunchForm(np="8"))
    assert config.recent(str(tmp_path)) == [LaunchForm(np="8")]


# --- config: directory and TOML --------------------------------------------------------


def test_config_dir_honours_the_override(tmp_path: Path) -> None:
    assert config_dir({CONFIG_ENV: str(tmp_path / "cfg")}) == tmp_path / "cfg"
    assert config_dir({CONFIG_ENV: f"  {tmp_path}  "}) == tmp_path


@pytest.mark.parametrize("env", [{}, {CONFIG_ENV: ""}, {CONFIG_ENV: "   "}])
def test_config_dir_without_an_override_is_the_user_config_dir(env: dict[str, str]) -> None:
    import platformdirs

    assert config_dir(env) == Path(platformdirs.user_config_path("ezpz-tui"))


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"theme": "ezpz-dark"},
        {"s": 'quote " back \\ nl \n tab \t bell \x07 esc \x1b', "u": "héllo 日本 ✓ 🚀"},
        {"n": 3, "neg": -7, "f": 0.25, "yes": True, "no": False},
        {"empty": "", "unicode_escape_like": "\\u0041"},
    ],
)
def test_dump_toml_parses_back_to_the_same_dict(data: dict[str, object]) -> None:
    assert tomllib.loads(dump_toml(data)) == data
    assert tomllib.loads(dump_toml(data, "a comment")) == data


def test_dump_toml_starts_with_the_comment() -> None:
    assert dump_toml({"a": "b"}, "ezpz-tui settings").splitlines() == [
        "# ezpz-tui settings",
        'a = "b"',
    ]


# --- envview ---------------------------------------------------------------------------


def test_launcher_env_keeps_launcher_variables_and_drops_the_rest() -> None:
    env = {
        "HOME": "/home/u",
        "PATH": "/usr/bin",
        "SHELL": "/bin/bash",
        "WANDB_API_KEY": "wandb-real-value",
        "PBS_JOBID": "8414055",
        "SLURM_JOB_ID": "1234",
        "OMPI_COMM_WORLD_RANK": "0",
        "PMI_RANK": "0",
        "PMIX_RANK": "0",
        "PALS_NODEID": "0",
        "MASTER_ADDR": "x4514c6s0b0n0",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "24",
        "RANK": "0",
        "LOCAL_RANK": "0",
        "NGPU_PER_HOST": "12",
        "CPU_BIND": "depth",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "ZE_FLAT_DEVICE_HIERARCHY": "FLAT",
        "NCCL_DEBUG": "INFO",
        "EZPZ_MACHINE": "aurora",
        "pbs_jobid": "lower-case is not PBS's",
    }
    names = [name for name, _ in launcher_env(env)]
    assert names == sorted(set(env) - {"HOME", "PATH", "SHELL", "WANDB_API_KEY", "pbs_jobid"})
    shown = dict(launcher_env(env))
    assert shown["PBS_JOBID"] == "8414055"
    assert shown["MASTER_PORT"] == "29500"


@pytest.mark.parametrize(
    "name",
    [
        "SLURM_SECRET_X",
        "PBS_API_KEY",
        "MASTER_PASSWORD",
        "NCCL_Token",
        "EZPZ_api_key",
        "PMI_Secret_Thing",
        "OMPI_MCA_password",
    ],
)
def test_launcher_env_masks_credentials(name: str) -> None:
    secret = "s3cr3t-value-0123456789"
    rows = launcher_env({name: secret, "PBS_JOBID": "1"})
    assert dict(rows)[name] == MASK
    assert all(secret not in value for _, value in rows)
    assert secret not in repr(rows)


def test_launcher_env_of_an_empty_environment_is_empty() -> None:
    assert launcher_env({}) == []


# --- hostsearch ------------------------------------------------------------------------


def test_host_rows_are_the_job_hosts_with_used_flags(aurora: PbsJob) -> None:
    job = aurora_job(aurora)
    plan = good_preview(aurora, LaunchForm(nhosts="1")).plan
    rows = host_rows(job, plan)
    assert [r.host for r in rows] == list(AURORA_HOSTS)
    assert [r.used for r in rows] == [True, False]
    assert {r.accelerators for r in rows} == {12}
    assert all(r.slots >= 1 for r in rows)


def test_host_rows_without_a_plan_mark_nothing_used(aurora: PbsJob) -> None:
    rows = host_rows(aurora_job(aurora), None)
    assert [r.host for r in rows] == list(AURORA_HOSTS)
    assert not any(r.used for r in rows)


def test_host_rows_follow_the_user_hostfile(aurora: PbsJob, tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(f"{SHORT1} slots=4\n{SHORT0} slots=2\n")
    preview = good_preview(aurora, LaunchForm(hostfile=str(path), nhosts="1"))
    rows = host_rows(aurora_job(aurora), preview.plan, preview.user_hostfile)
    assert rows == [HostRow(SHORT1, 4, 12, True), HostRow(SHORT0, 2, 12, False)]


def test_host_rows_outside_a_job_are_this_host(clean_env: dict[str, str]) -> None:
    job = detect(clean_env, hostname="laptop")
    plan = plan_launch(job, LaunchRequest(), env=clean_env, probe=FakeProbe(), python=PY)
    rows = host_rows(job, plan)
    assert rows == [HostRow("laptop", 1, job.accelerators.count, True)]


def sample_rows() -> list[HostRow]:
    return [HostRow(h, 1, 12, False) for h in (*AURORA_HOSTS, "x4515c0s0b0n0.hsn", "nid001")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [*AURORA_HOSTS, "x4515c0s0b0n0.hsn", "nid001"]),
        ("   ", [*AURORA_HOSTS, "x4515c0s0b0n0.hsn", "nid001"]),
        ("x4514", list(AURORA_HOSTS)),
        ("X4514C6S1", [AURORA_HOSTS[1]]),
        ("HSN", [*AURORA_HOSTS, "x4515c0s0b0n0.hsn"]),
        ("nid", ["nid001"]),
        ("zzz", []),
        ("x4514c6s[0-1]b0n0", list(AURORA_HOSTS)),
        ("x4514c6s[1]b0n0", [AURORA_HOSTS[1]]),
        ("x4515c0s0b0n0", ["x4515c0s0b0n0.hsn"]),
        ("nid[001-004]", ["nid001"]),
        ("nid001,x4514c6s0b0n0", [AURORA_HOSTS[0], "nid001"]),
        (f"{AURORA_HOSTS[1]},nid999", [AURORA_HOSTS[1]]),
    ],
)
def test_filter_hosts_matches_names_and_expressions(query: str, expected: list[str]) -> None:
    rows, error = filter_hosts(sample_rows(), query)
    assert error is None
    assert [r.host for r in rows] == expected


@pytest.mark.parametrize("query", ["nid[001-", "nid[a-b]", "x[3-1]"])
def test_filter_hosts_reports_a_malformed_expression(query: str) -> None:
    rows, error = filter_hosts(sample_rows(), query)
    assert rows == []
    assert error == f"{query!r} is not a valid hostlist (e.g. nid[001-004,010])"


def test_filter_hosts_over_an_aurora_sized_job(aurora: PbsJob, tmp_path: Path) -> None:
    names = [
        f"x{4000 + r}c{c}s{s}b0n0.hsn.cm.aurora.alcf.anl.gov"
        for r in range(166)
        for c in range(8)
        for s in range(8)
    ]
    assert len(names) == 10_624
    path = write_hostfile(tmp_path / "big-hosts", *names)
    rows = host_rows(aurora_job(aurora), None, read_hostfile(str(path)))
    assert len(rows) == 10_624
    assert len(filter_hosts(rows, "")[0]) == 10_624
    assert len(filter_hosts(rows, "X4000C")[0]) == 64
    assert len(filter_hosts(rows, "c7s7b0n0")[0]) == 166
    found, error = filter_hosts(rows, "x4100c[0-1]s[0-7]b0n0")
    assert error is None
    assert [r.host for r in found] == [
        f"x4100c{c}s{s}b0n0.hsn.cm.aurora.alcf.anl.gov" for c in range(2) for s in range(8)
    ]
    assert len(filter_hosts(rows, "x[4000-4165]c0s0b0n0")[0]) == 166


# --- theming ---------------------------------------------------------------------------


def test_load_themes_gives_the_three_ezpz_themes() -> None:
    loaded = load_themes()
    assert loaded.problems == []
    assert sorted(t.name for t in loaded.themes) == [
        "ezpz-dark",
        "ezpz-high-contrast",
        "ezpz-light",
    ]
    assert {t.name: t.dark for t in loaded.themes}["ezpz-light"] is False


def test_theme_from_builds_a_theme() -> None:
    theme = _theme_from({"name": "mine", "primary": "#123456", "dark": False}, "mine.toml")
    assert (theme.name, theme.primary, theme.dark) == ("mine", "#123456", False)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"name": "x", "primary": "#000000", "colour": "red"}, "unknown key(s) colour"),
        ({"name": "x", "primary": "#000000", "b": 1, "a": 2}, "unknown key(s) a, b"),
        ({"primary": "#000000"}, "needs name and primary"),
        ({"name": "x"}, "needs name and primary"),
        ({"name": 3, "primary": "#000000"}, "needs name and primary"),
        ({}, "needs name and primary"),
    ],
)
def test_theme_from_refuses_unknown_keys_and_missing_fields(
    data: dict[str, object], words: str
) -> None:
    with pytest.raises(ValueError, match=r"^bad\.toml: ") as info:
        _theme_from(data, "bad.toml")
    assert words in str(info.value)
