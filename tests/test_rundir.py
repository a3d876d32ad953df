"""Reading run directories: status, the list of runs, following events, stop hints.

Most tests lay out run directories by hand (the journal's own writers, then files
cut short, garbage, old mtimes via ``os.utime``) to pin each rule; the last ones
judge directories written by real ``ezpz-tui --run`` processes: running while it
runs, finished after, gone after a SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

from ezpz_core.run.journal import EVENTS, OWNER, event_line, owner_record, write_owner
from ezpz_core.run.rundir import (
    OWNER_GRACE_S,
    STARTING_GRACE_S,
    EventsTail,
    Owner,
    RunInfo,
    RunStatus,
    attempt_dir,
    attempt_dirs,
    list_runs,
    newest_run,
    owner_alive,
    read_owner,
    run_info,
    stop_hint,
)
from tests.test_run_e2e import (
    HANG_GUARD_S,
    PY,
    finish,
    job_env,
    kill_survivors,
    script,
    start_ezpz,
    wait_for,
)

HERE = socket.gethostname()
NOW = time.time()
PLAN = {
    "job_id": "8414055.aurora-pbs-0001",
    "scheduler": "pbs",
    "world_size": 24,
    "command": ["python3", "train.py"],
    "launch_style": "pals",
    "rank_io": "label",
}


# -- laying out run directories ----------------------------------------------------


def make_run(
    root: Path,
    name: str,
    *,
    start: float = NOW - 100,
    host: str = HERE,
    pid: int | None = None,
    plan: dict[str, Any] | None = None,
    events: Sequence[tuple[str, float, dict[str, Any]]] = (),
    summary: dict[str, Any] | None = None,
    owner: bool = True,
) -> Path:
    """A run directory as the session leaves it (owner, plan, events, summary)."""
    path = root / name
    path.mkdir(parents=True)
    if owner:
        record = owner_record(["ezpz-tui", "--run"], 2.0, now=start, host=host, pid=pid)
        write_owner(path, record)
    (path / "plan.json").write_text(json.dumps(PLAN if plan is None else plan))
    if events:
        (path / EVENTS).write_bytes(b"".join(event_line(k, t, f) for k, t, f in events))
    if summary is not None:
        (path / "summary.json").write_text(json.dumps(summary))
    return path


def dead_pid() -> int:
    """A pid no process has now (a child that was started and reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not psutil.pid_exists(proc.pid)
    return proc.pid


def age(path: Path, seconds: float) -> None:
    """Set ``path``'s mtime ``seconds`` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


FINISHED_EVENTS = [
    ("started", NOW - 100, {"pid": 1, "host": HERE}),
    ("progress", NOW - 50, {"attempt": 1, "bytes": 10, "lines": 1}),
    ("finished", NOW - 40, {"code": 3, "reason": "watchdog"}),
]


# -- status ---------------------------------------------------------------------------


def test_a_run_with_a_summary_is_finished_with_the_code_of_its_finished_event(
    tmp_path: Path,
) -> None:
    path = make_run(tmp_path, "r", pid=dead_pid(), events=FINISHED_EVENTS, summary={})
    info = run_info(path)
    assert info.status is RunStatus.FINISHED
    assert (info.exit_code, info.reason) == (3, "watchdog")
    assert (info.start, info.end) == (NOW - 100, NOW - 40)
    assert info.duration() == pytest.approx(60)


def test_a_finished_run_without_events_is_read_from_its_summary(tmp_path: Path) -> None:
    """A run of an ezpz-tui from before the journal."""
    summary = {"exit_code": 130, "reason": "interrupted", "start": NOW - 20, "end": NOW - 5}
    path = make_run(tmp_path, "old", owner=False, summary=summary)
    info = run_info(path)
    assert (info.status, info.exit_code, info.reason) == (RunStatus.FINISHED, 130, "interrupted")
    assert (info.start, info.end) == (NOW - 20, NOW - 5)
    assert (info.host, info.pid) == (None, None)


def test_a_run_whose_owner_is_this_process_is_running(tmp_path: Path) -> None:
    started = psutil.Process().create_time()
    path = make_run(tmp_path, "r", pid=os.getpid(), start=started + 0.5)
    info = run_info(path)
    assert info.status is RunStatus.RUNNING
    assert (info.host, info.pid, info.end, info.exit_code) == (HERE, os.getpid(), None, None)
    assert info.duration(now=started + 10.5) == pytest.approx(10)


def test_a_run_whose_owner_pid_does_not_exist_is_gone(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", pid=dead_pid())
    info = run_info(path)
    assert info.status is RunStatus.GONE
    assert info.end == read_owner(path).mtime  # the last sign of life


def test_a_pid_started_after_the_run_is_not_its_owner(tmp_path: Path) -> None:
    """The pid was reused: this process started long after the run did."""
    started = psutil.Process().create_time()
    path = make_run(tmp_path, "r", pid=os.getpid(), start=started - 3600)
    assert run_info(path).status is RunStatus.GONE


@pytest.mark.parametrize(
    ("heartbeat_age", "status"),
    [
        (0.0, RunStatus.RUNNING),
        (3 * 2.0 + OWNER_GRACE_S - 2, RunStatus.RUNNING),
        (3 * 2.0 + OWNER_GRACE_S + 2, RunStatus.GONE),
        (3600.0, RunStatus.GONE),
    ],
    ids=["fresh", "just-fresh", "just-stale", "an-hour"],
)
def test_an_owner_on_another_host_is_judged_by_its_heartbeat(
    tmp_path: Path, heartbeat_age: float, status: RunStatus
) -> None:
    # a pid that exists here means nothing for a run owned by another host
    path = make_run(tmp_path, "r", host="x1000c0s0b0n0", pid=os.getpid())
    age(path / OWNER, heartbeat_age)
    assert run_info(path).status is status


def test_a_run_without_owner_json_yet_is_starting(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", owner=False)
    assert run_info(path).status is RunStatus.STARTING


def test_a_run_that_never_wrote_owner_json_is_gone_after_a_while(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", owner=False)
    age(path / "plan.json", STARTING_GRACE_S + 5)
    assert run_info(path).status is RunStatus.GONE


def test_run_info_reads_the_plan(tmp_path: Path) -> None:
    info = run_info(make_run(tmp_path, "r", pid=dead_pid()))
    assert info.ranks == 24
    assert info.command == ("python3", "train.py")
    assert (info.job_id, info.scheduler) == ("8414055.aurora-pbs-0001", "pbs")
    assert (info.launch_style, info.rank_io) == ("pals", "label")


@pytest.mark.parametrize(
    "garbage",
    [b"", b'{"host": "h", "pi', b"[1, 2]", b'{"host": 3, "pid": "x", "start": null}', b"\xff\xfe"],
    ids=["empty", "truncated", "not-an-object", "wrong-types", "binary"],
)
def test_an_unreadable_owner_json_is_no_owner(tmp_path: Path, garbage: bytes) -> None:
    path = make_run(tmp_path, "r", owner=False)
    (path / OWNER).write_bytes(garbage)
    assert read_owner(path) is None
    assert run_info(path).status is RunStatus.STARTING


def test_owner_alive_has_no_answer_without_an_owner() -> None:
    assert owner_alive(None) is None


def test_owner_alive_takes_the_hostname_it_is_told() -> None:
    me = Owner(HERE, os.getpid(), time.time(), 2.0, mtime=0.0)
    assert owner_alive(me) is True
    # seen from another host, only the (here ancient) heartbeat counts
    assert owner_alive(me, hostname="elsewhere") is False
    assert owner_alive(me, now=5.0, hostname="elsewhere") is True


# -- files cut short or garbage ---------------------------------------------------------


def test_a_truncated_summary_still_means_finished(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", pid=dead_pid())
    (path / "summary.json").write_text('{"exit_code": 0, "rea')
    info = run_info(path)
    assert (info.status, info.exit_code, info.reason) == (RunStatus.FINISHED, None, "")


def test_a_truncated_plan_leaves_its_fields_unknown(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", pid=os.getpid(), start=time.time())
    (path / "plan.json").write_text('{"world_size": 2')
    info = run_info(path)
    assert info.status is RunStatus.RUNNING
    assert (info.ranks, info.command, info.job_id) == (None, (), None)


def test_garbage_in_events_jsonl_does_not_hide_the_finished_event(tmp_path: Path) -> None:
    path = make_run(tmp_path, "r", pid=dead_pid(), summary={})
    (path / EVENTS).write_bytes(
        b"\xff\xfe not json\n"
        + b"[1, 2]\n"
        + event_line("finished", NOW, {"code": 0, "reason": ""})
        + b'{"event": "prog'  # a line being written
    )
    info = run_info(path)
    assert (info.status, info.exit_code) == (RunStatus.FINISHED, 0)


# -- list_runs, newest_run ------------------------------------------------------------


def test_runs_are_listed_newest_first(tmp_path: Path) -> None:
    for name, start in (("b-middle", NOW - 200), ("c-oldest", NOW - 300), ("a-newest", NOW - 100)):
        make_run(tmp_path, name, start=start, pid=dead_pid())
    assert [r.path.name for r in list_runs(tmp_path)] == ["a-newest", "b-middle", "c-oldest"]
    assert newest_run(tmp_path) == tmp_path / "a-newest"


def test_list_runs_skips_what_is_not_a_run_and_survives_corrupt_files(tmp_path: Path) -> None:
    make_run(tmp_path, "good", start=NOW - 10, pid=dead_pid(), events=FINISHED_EVENTS, summary={})
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "other-dir").mkdir()
    (tmp_path / "other-dir" / "notes.txt").write_text("not a run")
    (tmp_path / "a-file.json").write_text("{}")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / OWNER).write_text('{"host": "h"')
    (broken / "plan.json").write_bytes(b"\x00\x01")
    (broken / "summary.json").write_text("[")
    (broken / EVENTS).write_bytes(b"\xff" * 100)
    runs = list_runs(tmp_path)
    assert sorted(r.path.name for r in runs) == ["broken", "good"]
    assert {r.path.name: r.status for r in runs}["broken"] is RunStatus.FINISHED


def test_a_missing_outdir_has_no_runs(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nope") == []
    assert newest_run(tmp_path / "nope") is None


def test_a_run_without_a_start_is_placed_by_its_mtime(tmp_path: Path) -> None:
    make_run(tmp_path, "with-start", start=NOW - 1000, pid=dead_pid())
    make_run(tmp_path, "no-owner", owner=False)  # STARTING, mtime now
    assert [r.path.name for r in list_runs(tmp_path)] == ["no-owner", "with-start"]


# -- attempts ---------------------------------------------------------------------------


def test_attempt_dirs_are_in_attempt_order_or_the_run_itself(tmp_path: Path) -> None:
    plain = make_run(tmp_path, "plain")
    assert attempt_dirs(plain) == [plain]
    retried = make_run(tmp_path, "retried")
    for k in (1, 2, 10):
        (retried / f"attempt-{k}").mkdir()
    (retried / "attempt-x").mkdir()
    assert [p.name for p in attempt_dirs(retried)] == ["attempt-1", "attempt-2", "attempt-10"]


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("/lus/owner/view/run/attempt-2", "attempt-2"),
        ("/lus/owner/view/run", ""),
        (None, ""),
    ],
    ids=["attempt", "the-run-itself", "missing"],
)
def test_an_attempt_event_s_directory_is_found_under_the_run_as_seen_here(
    tmp_path: Path, directory: str | None, expected: str
) -> None:
    event = {"event": "attempt", "t": 0.0, "attempt": 2, "directory": directory}
    assert attempt_dir(tmp_path, event) == (tmp_path / expected if expected else tmp_path)


# -- EventsTail ---------------------------------------------------------------------------


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def test_events_tail_takes_whole_lines_only(tmp_path: Path) -> None:
    path = tmp_path / EVENTS
    tail = EventsTail(path)
    assert tail.poll() == []  # not there yet
    line = event_line("notice", 1.0, {"level": "info", "text": "hello"})
    append(path, line[:10])
    assert tail.poll() == []
    append(path, line[10:] + event_line("progress", 2.0, {"bytes": 5})[:-1])
    assert [e["event"] for e in tail.poll()] == ["notice"]
    assert tail.poll() == []
    append(path, b"\n")
    assert tail.poll() == [{"event": "progress", "t": 2.0, "bytes": 5}]
    assert tail.offset == path.stat().st_size


def test_events_tail_skips_lines_that_are_not_events(tmp_path: Path) -> None:
    path = tmp_path / EVENTS
    path.write_bytes(
        b"garbage\n\n[1]\n"
        + b'{"no": "event"}\n'
        + b"\xff\xfe\n"
        + event_line("finished", 3.0, {"code": 0, "reason": ""})
    )
    assert EventsTail(path).poll() == [{"event": "finished", "t": 3.0, "code": 0, "reason": ""}]


def test_events_tail_reads_a_replaced_or_shrunk_file_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / EVENTS
    path.write_bytes(event_line("started", 1.0, {}) + event_line("progress", 2.0, {}))
    tail = EventsTail(path)
    assert len(tail.poll()) == 2
    path.write_bytes(event_line("started", 9.0, {}))  # truncated and rewritten
    assert tail.poll() == [{"event": "started", "t": 9.0}]
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(event_line("started", 5.0, {}) + event_line("started", 6.0, {}))
    os.replace(replacement, path)
    assert [e["t"] for e in tail.poll()] == [5.0, 6.0]


def test_events_tail_moves_past_a_line_too_long_to_be_an_event(tmp_path: Path) -> None:
    path = tmp_path / EVENTS
    path.write_bytes(b"x" * 100)
    tail = EventsTail(path, max_bytes=64)
    assert tail.poll() == []
    append(path, b"\n" + event_line("started", 1.0, {}))
    assert [e["event"] for e in tail.poll()] == ["started"]


# -- stop_hint ------------------------------------------------------------------------------

OWNER_ON_X1 = Owner("x1000c0s0b0n0", 4242, NOW, 2.0, NOW)


@pytest.mark.parametrize(
    ("owner", "job_id", "scheduler", "hint"),
    [
        (OWNER_ON_X1, None, None, "kill -INT 4242 on host x1000c0s0b0n0"),
        (
            OWNER_ON_X1,
            "8414055.aurora-pbs-0001",
            "pbs",
            "kill -INT 4242 on host x1000c0s0b0n0 "
            "(or qdel 8414055.aurora-pbs-0001 to end the whole job)",
        ),
        (None, "123456", "slurm", "scancel 123456"),
        (None, "8414055.aurora-pbs-0001", None, "qdel 8414055.aurora-pbs-0001"),
        (None, "123456", None, "scancel 123456"),
        (None, "123456_7", None, "scancel 123456_7"),
        (None, None, None, ""),
    ],
    ids=["owner", "owner-pbs", "slurm", "pbs-guessed", "slurm-guessed", "slurm-array", "nothing"],
)
def test_stop_hint(
    owner: Owner | None, job_id: str | None, scheduler: str | None, hint: str
) -> None:
    assert stop_hint(owner, job_id, scheduler) == hint


# -- real runs ------------------------------------------------------------------------------


def only_run(out: Path) -> RunInfo:
    runs = list_runs(out)
    assert len(runs) == 1, runs
    return runs[0]


HELD = """\
print("READY", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(int(sys.argv[2]))
"""


def test_a_real_run_is_running_while_it_runs_then_finished(tmp_path: Path) -> None:
    release = tmp_path / "release"
    prog = script(tmp_path, "held.py", HELD)
    command = [PY, str(prog), str(release), "5"]
    proc = start_ezpz(tmp_path, ["--launcher", "none"], command, job_env())
    out = tmp_path / "out"
    try:
        # the started event comes after owner.json and plan.json
        wait_for(
            lambda: any(p.read_bytes().endswith(b"\n") for p in out.glob(f"*/{EVENTS}")),
            "the started event",
            proc=proc,
        )
        info = only_run(out)
        assert info.status is RunStatus.RUNNING
        assert (info.host, info.pid) == (HERE, proc.pid)
        assert info.command == tuple(command)
        assert stop_hint(read_owner(info.path), info.job_id) == (
            f"kill -INT {proc.pid} on host {HERE}"
        )
    finally:
        release.touch()
    assert finish(proc, HANG_GUARD_S) == 5
    info = only_run(out)
    assert (info.status, info.exit_code, info.reason) == (RunStatus.FINISHED, 5, "")
    assert info.start is not None and info.end is not None and info.end > info.start


def test_a_real_run_whose_owner_was_killed_is_gone(tmp_path: Path) -> None:
    """SIGKILL leaves no summary and no finished event: the owner's pid is gone."""
    prog = script(tmp_path, "held.py", HELD)
    proc = start_ezpz(
        tmp_path, ["--launcher", "none"], [PY, str(prog), str(tmp_path / "never"), "0"], job_env()
    )
    out = tmp_path / "out"
    job: list[psutil.Process] = []
    try:
        wait_for(
            lambda: any(b"READY" in p.read_bytes() for p in out.glob("*/combined.log")),
            "the job's READY line",
            proc=proc,
        )
        job = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HANG_GUARD_S)
    finally:
        kill_survivors(job)  # the job outlives a SIGKILLed ezpz-tui: end it here
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert job, "the job's processes were not found"
    info = only_run(out)
    assert info.status is RunStatus.GONE
    assert info.exit_code is None and info.end is not None
