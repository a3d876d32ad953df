"""The run-directory fixtures say one thing in every file.

The console's tests trust these directories as if ``ezpz-tui --run`` had written
them, so each file is checked against the others and against the code that reads
or writes the real thing: the rank labels parse back with ``Attributor``, the
summary's counts are what ``AttemptStore`` counts from the same lines, and
``plan.json`` has the keys ``LaunchPlan.to_json`` writes.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import psutil
import pytest

from ezpz_core.kinds import RankIO
from ezpz_core.launch.plan import plan_launch
from ezpz_core.launch.request import LaunchRequest
from ezpz_core.run.events import LAUNCHER, Lines
from ezpz_core.run.labels import Attributor, LabelFormat
from ezpz_core.run.store import AttemptStore
from tests.fakes import OPENMPI_VERSION, FakeProbe, detect
from tests.rundir_fixtures import (
    NOW,
    TRACEBACK,
    RunFixture,
    banner,
    failed_run,
    finished_run,
    gone_run,
    many_ranks_run,
    running_run,
)

Builder = Callable[[Path], RunFixture]

BUILDERS: dict[str, Builder] = {
    "finished": finished_run,
    "finished-srun": lambda root: finished_run(root, ranks=24, lines_per_rank=6, fmt="srun"),
    "failed": failed_run,
    "running": running_run,
    "gone": gone_run,
    "many-ranks": lambda root: many_ranks_run(root, ranks=48),
}
ENDED = ("finished", "finished-srun", "failed", "many-ranks")

EVENT_KEYS = {
    "started": {"pid", "host", "run_dir", "argv", "world_size", "ranks_expected"},
    "attempt": {"attempt", "pid", "argv", "directory"},
    "rank_exit": {"attempt", "rank", "code"},
    "notice": {"level", "text"},
    "progress": {"attempt", "bytes", "lines"},
    "finished": {"code", "reason"},
}
SUMMARY_KEYS = [  # Session._summary, in its order
    "exit_code",
    "reason",
    "start",
    "end",
    "duration_s",
    "run_dir",
    "argv",
    "ranks",
    "failed_ranks",
    "first_error",
    "hidden_lines",
    "metrics_source",
    "metrics",
    "attempts",
]
ATTEMPT_KEYS = [  # Session._attempt_json
    "attempt",
    "directory",
    "exit_code",
    "reason",
    "start",
    "end",
    "duration_s",
    "ranks",
    "first_error",
]


@pytest.fixture(params=list(BUILDERS))
def run(request: pytest.FixtureRequest, tmp_path: Path) -> RunFixture:
    return BUILDERS[request.param](tmp_path)


@pytest.fixture(params=ENDED)
def ended(request: pytest.FixtureRequest, tmp_path: Path) -> RunFixture:
    return BUILDERS[request.param](tmp_path)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def events(run: RunFixture) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]


def rank_files(run: RunFixture) -> dict[int, list[str]]:
    """Each rank's (and the launcher lane's) lines, from ranks/."""
    out = {}
    for path in (run.path / "ranks").iterdir():
        rank = LAUNCHER if path.name == "launcher.log" else int(path.stem.removeprefix("rank-"))
        out[rank] = path.read_text().splitlines()
    return out


def attributed(
    run: RunFixture, stream: str = "stdout"
) -> tuple[list[tuple[int, str, str]], Attributor]:
    """combined.log read back the way the runner reads a launcher's stream."""
    attributor = Attributor(LabelFormat(run.fmt), stream)
    text = (run.path / "combined.log").read_text()
    return attributor.rows(text.removesuffix("\n")), attributor


def last_line_times(run: RunFixture) -> dict[int, float]:
    """When each rank's last line reached combined.log, by the progress events
    (the first one whose byte count covers the line)."""
    data = (run.path / "combined.log").read_bytes()
    progress = [e for e in events(run) if e["event"] == "progress"]
    rows, _ = attributed(run)
    ends, pos = [], 0
    for _ in rows:
        pos = data.index(b"\n", pos) + 1
        ends.append(pos)
    out = {}
    for (rank, _, _), end in zip(rows, ends, strict=True):
        out[rank] = next(e["t"] for e in progress if e["bytes"] >= end)
    return out


# -- every fixture -----------------------------------------------------------------


def test_fixture_counts_are_the_rank_files_line_counts(run: RunFixture) -> None:
    files = rank_files(run)
    assert run.rank_lines == tuple(len(files.get(r, [])) for r in range(run.ranks))
    assert run.launcher_lines == len(files.get(LAUNCHER, []))
    assert run.lines_per_rank in run.rank_lines


def test_combined_log_parses_back_to_the_rank_files(run: RunFixture) -> None:
    rows, _ = attributed(run)
    lanes: dict[int, list[str]] = {}
    for rank, _, text in rows:
        lanes.setdefault(rank, []).append(text)
    assert lanes == rank_files(run)


def test_combined_log_interleaves_the_ranks_in_arrival_order(run: RunFixture) -> None:
    rows, _ = attributed(run)
    ranks = [rank for rank, _, _ in rows if rank != LAUNCHER]
    switches_back = sum(1 for a, b in pairwise(ranks) if b < a)
    assert switches_back > 0


def test_launcher_lines_are_unlabelled_in_combined_log(run: RunFixture) -> None:
    if run.launcher_lines == 0:
        assert not (run.path / "ranks" / "launcher.log").exists()
        return
    launcher = (run.path / "ranks" / "launcher.log").read_text().splitlines()
    combined = (run.path / "combined.log").read_text().splitlines()
    assert all(line in combined for line in launcher)


def test_every_rank_prints_the_same_banner_first(run: RunFixture) -> None:
    files = rank_files(run)
    first = {lines[0] for rank, lines in files.items() if rank != LAUNCHER}
    assert len(first) == 1
    pattern = re.escape(banner(run.ranks, "BACKEND")).replace("BACKEND", r"\w+")
    assert re.fullmatch(pattern, first.pop())


def test_step_lines_differ_between_ranks(run: RunFixture) -> None:
    files = rank_files(run)
    steps = [[x for x in files[r] if x.startswith("step=")] for r in (0, run.ranks - 1)]
    assert steps[0] and steps[1]
    assert steps[0][0] != steps[1][0]
    assert re.fullmatch(r"step=1 loss=\d+\.\d{6} dt=\d+\.\d{6}", steps[0][0])


def test_events_are_json_objects_of_the_spec_kinds(run: RunFixture) -> None:
    seen = events(run)
    for event in seen:
        kind = event["event"]
        assert kind in EVENT_KEYS
        assert isinstance(event["t"], float)
        assert EVENT_KEYS[kind] <= event.keys()
    assert [e["event"] for e in seen[:2]] == ["started", "attempt"]
    times = [e["t"] for e in seen]
    assert times == sorted(times)
    assert seen[0]["run_dir"] == str(run.path) == seen[1]["directory"]
    assert seen[0]["world_size"] == run.ranks == seen[0]["ranks_expected"]
    notices = [e for e in seen if e["event"] == "notice"]
    assert notices and all(e["level"] in ("info", "warning", "error") for e in notices)


def test_progress_marks_line_ends_of_combined_log_in_order(run: RunFixture) -> None:
    data = (run.path / "combined.log").read_bytes()
    progress = [e for e in events(run) if e["event"] == "progress"]
    assert len(progress) >= 3
    offsets = [e["bytes"] for e in progress]
    assert offsets == sorted(set(offsets))  # strictly increasing
    assert offsets[0] > 0
    assert offsets[-1] <= len(data)
    for event in progress:
        assert data[event["bytes"] - 1] == ord("\n")
        assert event["lines"] == data.count(b"\n", 0, event["bytes"])
    gaps = [b["t"] - a["t"] for a, b in pairwise(progress)]
    assert all(gap > 0 for gap in gaps)


def test_owner_names_the_session_that_started_the_run(run: RunFixture) -> None:
    owner = load(run.path / "owner.json")
    assert set(owner) == {"host", "pid", "start", "argv", "heartbeat_s"}
    started = events(run)[0]
    assert (owner["host"], owner["pid"]) == (started["host"], started["pid"])
    assert owner["heartbeat_s"] == 2.0


def test_plan_json_describes_the_run(run: RunFixture) -> None:
    plan = load(run.path / "plan.json")
    assert plan["world_size"] == run.ranks
    assert plan["launch_style"] == run.fmt
    assert plan["rank_io"] == "label"
    assert plan["run_dir"] == str(run.path)
    assert len(plan["hosts"]) == math.ceil(run.ranks / plan["ppn"]) == plan["nhosts"]
    assert plan["argv"] == events(run)[0]["argv"]


# -- runs that ended ----------------------------------------------------------------


def test_summary_counts_are_the_rank_files(ended: RunFixture) -> None:
    summary = load(ended.path / "summary.json")
    files = {
        ("launcher" if r == LAUNCHER else str(r)): path
        for r, path in ((r, ended.path / "ranks" / name) for r, name in _rank_names(ended))
    }
    assert set(summary["ranks"]) == set(files)
    for key, stats in summary["ranks"].items():
        data = files[key].read_bytes()
        assert stats["lines"] == data.count(b"\n")
        assert stats["bytes"] == len(data)
        assert stats["last_line"] == data.decode().splitlines()[-1]


def _rank_names(run: RunFixture) -> list[tuple[int, str]]:
    return [
        (LAUNCHER if p.name == "launcher.log" else int(p.stem[5:]), p.name)
        for p in (run.path / "ranks").iterdir()
    ]


def test_summary_has_the_shape_the_session_writes(ended: RunFixture) -> None:
    summary = load(ended.path / "summary.json")
    assert list(summary) == SUMMARY_KEYS
    (attempt,) = summary["attempts"]
    assert list(attempt) == ATTEMPT_KEYS
    assert attempt["ranks"] == summary["ranks"]
    assert attempt["directory"] == str(ended.path) == summary["run_dir"]
    assert summary["failed_ranks"] == {
        k: v["exit_code"]
        for k, v in summary["ranks"].items()
        if k != "launcher" and v["exit_code"] not in (None, 0)
    }
    assert summary["start"] < attempt["start"] < attempt["end"] < summary["end"] < ended.now


def test_the_store_counts_what_the_summary_says(ended: RunFixture, tmp_path: Path) -> None:
    """The same lines, fed to the real AttemptStore one by one as they arrived,
    give the summary's per-rank stats, first error and rank files."""
    summary = load(ended.path / "summary.json")
    rows, _ = attributed(ended)
    store = AttemptStore(tmp_path / "store")
    for rank, stream, text in rows:
        store.add_lines(Lines.from_rows([(rank, stream, text)], 0.0))
        store.flush()
    store.close()
    got = {
        ("launcher" if r == LAUNCHER else str(r)): {**s.to_json(), "exit_code": None}
        for r, s in sorted(store.stats.items())
    }
    want = {k: {**v, "exit_code": None} for k, v in summary["ranks"].items()}
    assert got == want
    error = store.first_error
    assert summary["first_error"] == (
        None if error is None else {"rank": error.rank, "line": error.line, "text": error.text}
    )
    for rank, name in _rank_names(ended):
        assert (tmp_path / "store/ranks" / name).read_bytes() == (
            ended.path / "ranks" / name
        ).read_bytes(), rank


def test_rank_exit_events_are_the_summary_exit_codes(ended: RunFixture) -> None:
    summary = load(ended.path / "summary.json")
    exits = {str(e["rank"]): e["code"] for e in events(ended) if e["event"] == "rank_exit"}
    known = {k: v["exit_code"] for k, v in summary["ranks"].items() if v["exit_code"] is not None}
    assert exits == known


def test_finished_event_closes_the_events(ended: RunFixture) -> None:
    seen = events(ended)
    summary = load(ended.path / "summary.json")
    assert seen[-1] == {
        "event": "finished",
        "t": summary["end"],
        "code": summary["exit_code"],
        "reason": "",
    }
    progress = [e for e in seen if e["event"] == "progress"]
    assert progress[-1]["bytes"] == (ended.path / "combined.log").stat().st_size


@pytest.mark.parametrize(
    ("name", "exits"),
    [
        ("finished", {}),
        ("finished-srun", {}),
        ("failed", {1: 3}),
        ("many-ranks", {16: 1, 25: 1, 46: -9}),
    ],
)
def test_launcher_lines_name_the_failed_ranks(
    name: str, exits: dict[int, int], tmp_path: Path
) -> None:
    run = BUILDERS[name](tmp_path)
    _, attributor = attributed(run, stream="stderr")  # launchers report on their stderr
    assert {e.rank: e.code for e in attributor.take_exits()} == exits
    failed = load(run.path / "summary.json")["failed_ranks"]
    assert failed == {str(rank): code for rank, code in exits.items()}


# -- each kind ------------------------------------------------------------------------


def test_finished_run_exits_zero_on_every_rank(tmp_path: Path) -> None:
    run = finished_run(tmp_path)
    summary = load(run.path / "summary.json")
    assert (run.status, summary["exit_code"], summary["failed_ranks"]) == ("finished", 0, {})
    assert summary["first_error"] is None
    assert all(summary["ranks"][str(r)]["exit_code"] == 0 for r in range(run.ranks))
    assert summary["end"] == NOW - 600
    assert run.rank_lines == (12, 12)


def test_failed_run_rank_1_dies_of_a_value_error_on_stderr(tmp_path: Path) -> None:
    run = failed_run(tmp_path)
    summary = load(run.path / "summary.json")
    assert (run.status, summary["exit_code"], summary["failed_ranks"]) == ("failed", 3, {"1": 3})
    assert rank_files(run)[1][-len(TRACEBACK) :] == list(TRACEBACK)
    assert "[1,1]<stderr>: ValueError: bad batch" in (run.path / "combined.log").read_text()
    error = summary["first_error"]
    assert (error["rank"], error["text"]) == (1, "Traceback (most recent call last):")
    assert rank_files(run)[1][error["line"] - 1] == error["text"]


def test_running_run_is_owned_by_this_process(tmp_path: Path) -> None:
    run = running_run(tmp_path)
    owner = load(run.path / "owner.json")
    assert (owner["host"], owner["pid"]) == (socket.gethostname(), os.getpid())
    assert abs(owner["start"] - psutil.Process().create_time()) < 2
    mtime = (run.path / "owner.json").stat().st_mtime
    assert 0 <= run.now - mtime < 3 * owner["heartbeat_s"] + 10
    assert not (run.path / "summary.json").exists()
    kinds = {e["event"] for e in events(run)}
    assert "finished" not in kinds and "rank_exit" not in kinds


def test_running_run_has_one_rank_silent_for_a_minute(tmp_path: Path) -> None:
    run = running_run(tmp_path, silent_rank=2, ranks=5, now=NOW + 7)
    assert run.silent_rank == 2
    last = last_line_times(run)
    assert run.now - last[2] > 60
    assert all(run.now - last[r] < 2 for r in (0, 1, 3, 4))
    assert max(last.values()) <= run.now


def test_running_run_without_a_silent_rank(tmp_path: Path) -> None:
    run = running_run(tmp_path, silent_rank=None)
    assert set(run.rank_lines) == {run.lines_per_rank}


def test_gone_run_owner_does_not_exist(tmp_path: Path) -> None:
    run = gone_run(tmp_path)
    owner = load(run.path / "owner.json")
    assert owner["host"] == socket.gethostname()
    assert not psutil.pid_exists(owner["pid"])
    assert run.now - (run.path / "owner.json").stat().st_mtime > 3600
    assert not (run.path / "summary.json").exists()
    assert "finished" not in {e["event"] for e in events(run)}


def test_many_ranks_run_uses_srun_labels_and_twelve_ranks_a_host(tmp_path: Path) -> None:
    run = many_ranks_run(tmp_path, ranks=1000)
    plan = load(run.path / "plan.json")
    assert (plan["ppn"], len(plan["hosts"]), plan["hosts"][0]) == (12, 84, "x1000c0s0b0n0")
    assert len(set(plan["hosts"])) == 84
    labelled = [
        line
        for line in (run.path / "combined.log").read_text().splitlines()
        if not line.startswith("srun:")
    ]
    assert all(re.match(r"^[ \d]{2}\d: ", line) for line in labelled)  # rank 999: width 3
    assert "  7: " + banner(1000, "xccl") in labelled


def test_twenty_thousand_ranks_are_written_in_under_two_seconds() -> None:
    """Timed on tmpfs where there is one: this disk's file creation alone
    (20,000 inodes) varies from 0.7 to 3 s under other work, and is not ours."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as root:
        started = time.perf_counter()
        run = many_ranks_run(Path(root))
        elapsed = time.perf_counter() - started
        assert len(os.listdir(run.path / "ranks")) == 20_001  # and launcher.log
        summary = load(run.path / "summary.json")
        assert len(summary["failed_ranks"]) == 3
        assert sum(run.rank_lines) == sum(
            v["lines"] for k, v in summary["ranks"].items() if k != "launcher"
        )
    if base is not None:
        assert elapsed < 2.0


# -- the builders -------------------------------------------------------------------


def test_plan_json_has_the_keys_launch_plan_writes(tmp_path: Path) -> None:
    env = {"PATH": os.defpath}
    probe = FakeProbe(found={"mpirun": "mpirun"}, versions={"mpirun": OPENMPI_VERSION})
    request = LaunchRequest(rank_io=RankIO.AUTO, np=2, command=("python3", "x.py"))
    real = plan_launch(
        detect(env), request, env=env, probe=probe, user_hostfile=None, python="python3"
    )
    for run in (finished_run(tmp_path), many_ranks_run(tmp_path, ranks=24)):
        assert list(load(run.path / "plan.json")) == [*real.to_json(), "run_dir"]


def test_fixtures_are_the_same_every_time(tmp_path: Path) -> None:
    one, two = (failed_run(tmp_path / name) for name in ("a", "b"))
    assert one.path.name == two.path.name
    for name in ("combined.log", "ranks/rank-0.log", "ranks/rank-1.log", "ranks/launcher.log"):
        assert (one.path / name).read_bytes() == (two.path / name).read_bytes()
    same = (two.path / "events.jsonl").read_text().replace(str(two.path), str(one.path))
    assert (one.path / "events.jsonl").read_text() == same


def test_times_follow_the_callers_now(tmp_path: Path) -> None:
    early = finished_run(tmp_path / "a")
    late = finished_run(tmp_path / "b", now=NOW + 86_400)
    shifted = [e["t"] - 86_400 for e in events(late)]
    assert shifted == pytest.approx([e["t"] for e in events(early)], abs=2e-3)


def test_runs_in_one_root_get_their_own_folders(tmp_path: Path) -> None:
    runs = [finished_run(tmp_path), finished_run(tmp_path), failed_run(tmp_path)]
    assert len({run.path for run in runs}) == 3
    assert runs[1].path.name == runs[0].path.name + "-2"
    assert all(run.path.parent == tmp_path for run in runs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda root: running_run(root, silent_rank=4, ranks=4), "silent_rank=4"),
        (lambda root: finished_run(root, fmt="hydra"), "fmt='hydra'"),
        (lambda root: finished_run(root, lines_per_rank=1), "lines_per_rank=1"),
        (lambda root: many_ranks_run(root, ranks=3), "ranks=3"),
    ],
)
def test_impossible_runs_are_refused(build: Builder, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build(tmp_path)
