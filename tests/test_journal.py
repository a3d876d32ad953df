"""The run's journal, end to end: ``owner.json``, ``events.jsonl``, the line-aligned
``combined.log``, ``--run-dir`` and ``--quiet``.

Every test runs the real ``ezpz-tui --run`` console script (helpers shared with
``test_run_e2e.py``): Open MPI or MPICH/Hydra ranks, or ``--launcher none`` with a
small Python program. Where a test must see the run while it runs, it polls a file
with a deadline and releases the job through a file: never a bare sleep.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ezpz_core.run.journal import EVENTS, OWNER, ProgressMeter, event_line
from tests.test_run_e2e import (
    EZPZ_TUI,
    HANG_GUARD_S,
    PY,
    describe,
    finish,
    job_env,
    load,
    run_ezpz,
    script,
    start_ezpz,
    wait_for,
)

# -- helpers -------------------------------------------------------------------


def events_of(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of ``events.jsonl``: each ends in a newline and is one object."""
    data = (run_dir / EVENTS).read_bytes()
    assert data.endswith(b"\n"), data[-200:]
    events = [json.loads(line) for line in data[:-1].split(b"\n")]
    for event in events:
        assert isinstance(event["event"], str) and isinstance(event["t"], float), event
    return events


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


def the_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def release_file_program(tmp_path: Path, release: Path, before: str = "") -> Path:
    """A rank program that prints READY, then waits (60 s at most) for ``release``."""
    return script(
        tmp_path,
        "held.py",
        before + 'print(f"READY {RANK}", flush=True)\n'
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n",
    )


# -- events.jsonl --------------------------------------------------------------


RANK_1_EXITS_3 = 'print(f"rank {RANK} up", flush=True)\nif RANK == 1:\n    sys.exit(3)\n'


def test_events_tell_start_attempt_each_rank_s_exit_and_the_end(tmp_path: Path) -> None:
    """Hydra lets rank 0 finish, and our wrapper reports every rank's exit code."""
    prog = script(tmp_path, "fail.py", RANK_1_EXITS_3)
    result = run_ezpz(
        tmp_path, ["-n", "2", "--launcher", "mpirun"], [PY, str(prog)], job_env(mpich=True)
    )
    assert result.code == 3, describe(result)
    run_dir = result.run_dir
    events = events_of(run_dir)
    assert events[0]["event"] == "started"
    assert events[-1] == {"event": "finished", "t": events[-1]["t"], "code": 3, "reason": ""}

    started = events[0]
    plan = load(run_dir / "plan.json")
    assert started["host"] == socket.gethostname()
    assert started["run_dir"] == str(run_dir)
    # the plan's argv, and the wrapper told where the run directory is and to
    # dump its rank's stacks on request
    wrapper = plan["argv"].index("ezpz_core.rankio") + 1
    told = ["--run-dir", str(run_dir), "--stacks"]
    run_argv = [*plan["argv"][:wrapper], *told, *plan["argv"][wrapper:]]
    assert started["argv"] == run_argv
    assert (started["world_size"], started["ranks_expected"]) == (2, 2)

    (attempt,) = of_kind(events, "attempt")
    assert attempt["attempt"] == 1
    assert attempt["directory"] == str(run_dir)
    assert attempt["argv"] == run_argv
    assert isinstance(attempt["pid"], int) and attempt["pid"] != started["pid"]

    exits = {e["rank"]: e["code"] for e in of_kind(events, "rank_exit")}
    assert exits == {0: 0, 1: 3}
    assert {e["attempt"] for e in of_kind(events, "rank_exit")} == {1}
    assert load(run_dir / "summary.json")["exit_code"] == 3
    summary_end = load(run_dir / "summary.json")["end"]
    assert started["t"] <= attempt["t"] <= summary_end <= events[-1]["t"]


def test_the_pid_in_started_and_owner_json_is_ezpz_tui_s(tmp_path: Path) -> None:
    release = tmp_path / "release"
    prog = release_file_program(tmp_path, release)
    proc = start_ezpz(tmp_path, ["--launcher", "none"], [PY, str(prog)], job_env())
    try:
        out = tmp_path / "out"
        wait_for(lambda: list(out.glob(f"*/{EVENTS}")), "events.jsonl", proc=proc)
        run_dir = the_run_dir(out)
        wait_for(lambda: (run_dir / EVENTS).read_bytes().endswith(b"\n"), "a whole event")
        started = events_of(run_dir)[0]
        assert started["event"] == "started"
        assert started["pid"] == proc.pid
        assert (started["world_size"], started["ranks_expected"]) == (None, None)
    finally:
        release.touch()
        finish(proc, HANG_GUARD_S)


def test_a_refused_command_still_journals_its_notice_and_end(tmp_path: Path) -> None:
    result = run_ezpz(tmp_path, ["--launcher", "none"], ["no-such-command-xyz"])
    assert result.code == 127, describe(result)
    events = events_of(result.run_dir)
    assert [e["event"] for e in events] == ["started", "notice", "finished"]
    notice = events[1]
    assert notice["level"] == "error" and "no-such-command-xyz" in notice["text"]
    assert (events[-1]["code"], events[-1]["reason"]) == (127, "not-found")


def test_notices_of_the_runner_are_journaled_with_their_level(tmp_path: Path) -> None:
    result = run_ezpz(
        tmp_path,
        ["--launcher", "none", "--retries", "1", "--retry-backoff", "0"],
        ["sh", "-c", "echo failing; exit 1"],
    )
    assert result.code == 1, describe(result)
    notices = of_kind(events_of(result.run_dir), "notice")
    assert [(n["level"], n["text"]) for n in notices] == [
        ("warning", "retry 1/1 (exit 1); waiting 0 s")
    ]


def test_each_attempt_names_its_directory_and_ends_with_its_log_size(tmp_path: Path) -> None:
    result = run_ezpz(
        tmp_path,
        ["--launcher", "none", "--retries", "2", "--retry-backoff", "0"],
        ["sh", "-c", "echo trying; echo to stderr >&2; exit 1"],
    )
    assert result.code == 1, describe(result)
    run_dir = result.run_dir
    events = events_of(run_dir)
    attempts = of_kind(events, "attempt")
    assert [(a["attempt"], a["directory"]) for a in attempts] == [
        (k, str(run_dir / f"attempt-{k}")) for k in (1, 2, 3)
    ]
    for k in (1, 2, 3):
        log = run_dir / f"attempt-{k}" / "combined.log"
        last = [p for p in of_kind(events, "progress") if p["attempt"] == k][-1]
        assert (last["bytes"], last["lines"]) == (log.stat().st_size, 2)
    # every attempt's events come after its attempt event, in order
    order = [e.get("attempt") for e in events if e["event"] in ("attempt", "progress")]
    assert order == sorted(order)


FLOWING = """\
end = time.monotonic() + 3.2
i = 0
while time.monotonic() < end:
    print(f"line {i:05d} " + "x" * 50, flush=True)
    i += 1
    time.sleep(0.01)
sys.stdout.write("no newline at the end")
"""


def test_progress_maps_combined_log_offsets_to_time_at_most_once_a_second(
    tmp_path: Path,
) -> None:
    prog = script(tmp_path, "flowing.py", FLOWING)
    result = run_ezpz(tmp_path, ["--launcher", "none"], [PY, str(prog)])
    assert result.code == 0, describe(result)
    run_dir = result.run_dir
    events = events_of(run_dir)
    progress = of_kind(events, "progress")
    assert len(progress) >= 3, progress  # while the lines flowed, and the end
    sizes = [(p["bytes"], p["lines"]) for p in progress]
    assert sizes == sorted(sizes)
    while_running = progress[:-1]
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(while_running)]
    assert all(gap >= 0.99 for gap in gaps), gaps
    data = (run_dir / "combined.log").read_bytes()
    assert (progress[-1]["bytes"], progress[-1]["lines"]) == (len(data), data.count(b"\n"))
    assert data.endswith(b"no newline at the end")
    # a progress point names a whole-line prefix of the file, written by then
    for point in while_running:
        assert data[: point["bytes"]].endswith(b"\n")
        assert data[: point["bytes"]].count(b"\n") == point["lines"]


def test_progress_meter_waits_for_new_output_and_for_its_interval() -> None:
    meter = ProgressMeter(interval=1.0)
    assert not meter.due((0, 0), 100.0)  # nothing written yet
    assert meter.due((10, 1), 100.0)
    assert not meter.due((20, 2), 100.5)  # too soon
    assert meter.due((20, 2), 101.0)
    assert not meter.due((20, 2), 105.0)  # nothing new


def test_an_event_line_is_one_ascii_json_object_and_a_newline() -> None:
    line = event_line("notice", 1.5, {"level": "info", "text": "caf\u00e9 \udcff\nnext"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.isascii()
    assert json.loads(line) == {
        "event": "notice",
        "t": 1.5,
        "level": "info",
        "text": "caf\u00e9 \udcff\nnext",
    }


# -- owner.json ------------------------------------------------------------------


def test_owner_json_names_the_run_s_owner_and_its_heartbeat_advances(tmp_path: Path) -> None:
    release = tmp_path / "release"
    prog = release_file_program(tmp_path, release)
    proc = start_ezpz(tmp_path, ["--launcher", "none"], [PY, str(prog)], job_env())
    try:
        out = tmp_path / "out"
        wait_for(lambda: list(out.glob(f"*/{OWNER}")), "owner.json", proc=proc)
        path = the_run_dir(out) / OWNER
        owner = json.loads(path.read_text())  # written whole, at once
        assert owner["host"] == socket.gethostname()
        assert owner["pid"] == proc.pid
        assert owner["argv"][0] == str(EZPZ_TUI) and owner["argv"][1] == "--run"
        assert owner["argv"][-2:] == [PY, str(prog)]
        assert owner["heartbeat_s"] == 2.0
        assert owner["start"] <= time.time()
        first = path.stat().st_mtime
        wait_for(
            lambda: path.stat().st_mtime > first,
            "the heartbeat to touch owner.json",
            timeout=3 * owner["heartbeat_s"] + 5,
            proc=proc,
        )
        assert json.loads(path.read_text()) == owner  # touched, not rewritten
    finally:
        release.touch()
    assert finish(proc, HANG_GUARD_S) == 0
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


# -- combined.log: line-aligned per stream ------------------------------------------

INTERLEAVED = """\
for i in range(20):
    sys.stdout.write(f"out {i} first half")
    sys.stdout.flush()
    time.sleep(0.01)
    sys.stderr.write(f"err {i} whole\\n")
    sys.stderr.flush()
    time.sleep(0.01)
    sys.stdout.write(" second half\\n")
    sys.stdout.flush()
sys.stdout.write("out tail")
sys.stderr.write("err tail")
"""


def test_combined_log_never_glues_a_stdout_line_to_a_stderr_line(tmp_path: Path) -> None:
    prog = script(tmp_path, "interleaved.py", INTERLEAVED)
    result = run_ezpz(tmp_path, ["--launcher", "none"], [PY, str(prog)])
    assert result.code == 0, describe(result)
    data = (result.run_dir / "combined.log").read_bytes()
    expected = [f"out {i} first half second half" for i in range(20)]
    expected += [f"err {i} whole" for i in range(20)]
    whole, tail = data.decode().rsplit("\n", 1)
    assert sorted(whole.split("\n")) == sorted(expected)
    # the streams' unfinished ends come last, each whole: every byte is there
    assert tail in ("out tailerr tail", "err tailout tail")
    expected_size = sum(len(line) + 1 for line in expected) + len("out tailerr tail")
    assert len(data) == expected_size
    # and each stream kept its order
    lines = whole.split("\n")
    assert [s for s in lines if s.startswith("out")] == expected[:20]
    assert [s for s in lines if s.startswith("err")] == expected[20:]


# -- --run-dir ---------------------------------------------------------------------


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty"])
def test_run_dir_puts_the_run_there(tmp_path: Path, exists: bool) -> None:
    target = tmp_path / "runs" / "lr0.1"
    if exists:
        target.mkdir(parents=True)
    result = run_ezpz(tmp_path, ["-n", "2", "--run-dir", str(target)], [PY, "-c", "print('hello')"])
    assert result.code == 0, describe(result)
    assert not (tmp_path / "out").exists()  # nothing under --outdir
    assert load(target / "plan.json")["run_dir"] == str(target)
    assert load(target / "summary.json")["run_dir"] == str(target)
    assert events_of(target)[0]["run_dir"] == str(target)
    assert {"owner.json", "events.jsonl", "combined.log", "ranks"} <= {
        p.name for p in target.iterdir()
    }
    assert f"ezpz-tui: run dir {target}\n" in result.stderr


@pytest.mark.parametrize("kind", ["non-empty", "a-file"])
def test_a_run_dir_that_is_taken_is_refused_with_one_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "taken"
    if kind == "non-empty":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    else:
        target.write_text("a file")
    proc = subprocess.run(
        [str(EZPZ_TUI), "--run", "--run-dir", str(target), "--launcher", "none", "--", "true"],
        cwd=tmp_path,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"ezpz-tui: error: --run-dir {target}")
    assert "give a new or empty directory" in line
    if kind == "non-empty":
        assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    else:
        assert target.read_text() == "a file"


@pytest.mark.parametrize("flag", [["--run-dir", "somewhere"], ["--quiet"]], ids=str)
@pytest.mark.parametrize("mode", [[], ["--dry-run"]], ids=["console", "dry-run"])
def test_run_dir_and_quiet_need_run(tmp_path: Path, flag: list[str], mode: list[str]) -> None:
    proc = subprocess.run(
        [str(EZPZ_TUI), *mode, *flag, "--", "true"],
        cwd=tmp_path,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"ezpz-tui: error: {flag[0]} needs --run or --submit\n"), (
        proc.stderr
    )
    assert not (tmp_path / "somewhere").exists()


# -- --quiet -----------------------------------------------------------------------


def test_quiet_prints_no_job_line_but_the_files_get_every_one(tmp_path: Path) -> None:
    prog = script(tmp_path, "talk.py", 'for i in range(5):\n    print(f"rank {RANK} says {i}")\n')
    result = run_ezpz(tmp_path, ["-n", "2", "--quiet"], [PY, str(prog)])
    assert result.code == 0, describe(result)
    assert result.stdout == ""
    assert "exit code   0" in result.stderr
    assert "ezpz-tui: started pid" in result.stderr
    run_dir = result.run_dir
    for rank in range(2):
        log = (run_dir / "ranks" / f"rank-{rank}.log").read_text()
        assert log == "".join(f"rank {rank} says {i}\n" for i in range(5))
    assert events_of(run_dir)[-1]["event"] == "finished"


def test_help_describes_run_dir_and_quiet(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(EZPZ_TUI), "--help"], env=job_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # argparse wraps the help text
    assert "--run-dir PATH write this run into PATH" in text
    assert "it must be empty" in text
    assert "--quiet print no job lines to stdout" in text


def test_journal_files_are_written_by_the_owner_only(tmp_path: Path) -> None:
    """No temporary file is left beside owner.json, and events.jsonl is appended,
    never replaced, during the run (a reader's offsets stay valid)."""
    release = tmp_path / "release"
    prog = release_file_program(tmp_path, release)
    proc = start_ezpz(tmp_path, ["--launcher", "none"], [PY, str(prog)], job_env())
    try:
        out = tmp_path / "out"
        wait_for(lambda: list(out.glob(f"*/{EVENTS}")), "events.jsonl", proc=proc)
        events = the_run_dir(out) / EVENTS
        inode = os.stat(events).st_ino
    finally:
        release.touch()
    assert finish(proc, HANG_GUARD_S) == 0
    assert os.stat(events).st_ino == inode
    assert not [p for p in events.parent.iterdir() if p.name.endswith(".tmp")]
