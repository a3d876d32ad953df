"""Following a submitted job (``ezpz_core.submit.follow.JobFollower``) with a fake
clock and a scripted client.

The client replays what a real Slurm 22.05 said: ``tests/data/slurm/*.txt``
(``scontrol show job -o`` of a held, a running, a cancelled and a failed job)
parsed with the real parser, plus three answers captured from the same Slurm and
kept here: a job cancelled while held, "Invalid job id specified" (a job gone
after ``MinJobAge``) and "Unable to contact slurm controller" (the controller
down). What the job's own ``ezpz-tui --run`` leaves in the run directory is
written with the runner's own writers (``Journal`` for ``owner.json`` and
``events.jsonl``, ``store.write_json`` for ``summary.json`` in the shape the
session writes). The clock is a number the test moves; nothing sleeps.
``describe`` and ``clock_text`` are tested in ``test_submit_core.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ezpz_core.run.journal import Journal
from ezpz_core.run.rundir import SUMMARY, RunStatus, run_info
from ezpz_core.run.store import write_json
from ezpz_core.submit.client import Lookup
from ezpz_core.submit.follow import QUERY_EVERY, SUMMARY_GRACE_S, Ending, JobFollower
from ezpz_core.submit.queue import JobState, QueueState, parse_scontrol_job, says_gone
from ezpz_core.submit.record import QUEUE, SubmitRecord, read_queue, write_submit

SLURM_DATA = Path(__file__).parent / "data" / "slurm"
T0 = 1_796_000_000.0  # the clock when a follower starts (a whole number: exact sums)
SUBMITTED = T0 - 30.0  # the job was submitted half a minute before we follow it

# Slurm 22.05's words (this machine's tests/slurm/cluster.sh), captured for these tests
INVALID_JOB = "slurm_load_jobs error: Invalid job id specified"
CONTROLLER_DOWN = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"
# scontrol show job -o of a job submitted with --hold, then scancel'ed: it never ran
# (it was job 2 there; job 3 here, as the other captures)
CANCELLED_WHILE_HELD = (
    "JobId=3 JobName=wrap UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=0 Nice=0 "
    "Account=(null) QOS=(null) JobState=CANCELLED Reason=JobHeldUser Dependency=(null) "
    "Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 "
    "TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-12-03T08:32:04 EligibleTime=Unknown "
    "AccrueTime=Unknown StartTime=2026-12-03T08:32:04 EndTime=2026-12-03T08:32:04 "
    "Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-12-03T08:32:04 "
    "Scheduler=Main Partition=debug AllocNode:Sid=localhost:3303 ReqNodeList=(null) "
    "ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 NumTasks=N/A CPUs/Task=1 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=1M,node=1,billing=1 Socks/Node=* "
    "NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 "
    "Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) "
    "Network=(null) Command=(null) WorkDir=/tmp StdErr=/dev/null StdIn=/dev/null "
    "StdOut=/dev/null Power= \n"
)

Answer = Callable[[float], Lookup]  # one scripted answer, given the time it is asked


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def scontrol(name: str, *replace: tuple[str, str]) -> Answer:
    """A captured ``scontrol show job -o`` answer, as the client parses it."""
    text = (SLURM_DATA / name).read_text() if name.endswith(".txt") else name
    for old, new in replace:
        assert old in text, (name, old)
        text = text.replace(old, new)

    def answer(t: float) -> Lookup:
        state = parse_scontrol_job(text, t)
        assert state is not None, name
        return Lookup(state)

    return answer


def gone(t: float) -> Lookup:
    assert says_gone(INVALID_JOB)  # what the client takes for "no longer known"
    return Lookup(None, gone=True)


def down(t: float) -> Lookup:
    assert not says_gone(CONTROLLER_DOWN)
    return Lookup(None, error=CONTROLLER_DOWN)


HELD = scontrol("scontrol-held.txt")
RUNNING = scontrol("scontrol-running.txt")
RUNNING_LATER = scontrol("scontrol-running.txt", ("RunTime=00:00:01", "RunTime=00:00:05"))
CANCELLED = scontrol("scontrol-cancelled.txt")  # cancelled while it ran: 0:15
# job 2 of the captures, as job 3 (one job through all its states)
FAILED_3 = scontrol("scontrol-completed-exit3.txt", ("JobId=2 ", "JobId=3 "))


class ScriptedClient:
    """Answers ``lookup`` with the next scripted answer; the last one repeats."""

    def __init__(self, clock: Clock, *answers: Answer) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.asked: list[tuple[str, float]] = []

    def script(self, *answers: Answer) -> None:
        self.answers = list(answers)

    def lookup(self, job_id: str) -> Lookup:
        assert self.answers, "the scripted client was asked with nothing scripted"
        self.asked.append((job_id, self.clock()))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(self.clock())


def submit_record(run_dir: Path, job_id: str | None = "3", error: str = "") -> SubmitRecord:
    """``submit.json`` as ``--submit`` writes it once sbatch answered."""
    record = SubmitRecord(
        scheduler="slurm",
        job_id=job_id,
        submitted=SUBMITTED,
        host="login1",
        submit_dir=str(run_dir.parent),
        argv=("sbatch", "--parsable", str(run_dir / "job.sh")),
        error=error,
        request={"nodes": 1, "time": "00:05:00", "job_name": "ezpz"},
    )
    write_submit(run_dir, record)
    return record


class Runner:
    """What the job's ``ezpz-tui --run --run-dir`` writes, with the runner's writers."""

    ARGV = ("/opt/venv/bin/ezpz-tui", "--run", "--quiet", "--np=2", "--", "python3", "t.py")

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.journal: Journal | None = None
        self.start = 0.0

    def starts(self, t: float) -> None:
        self.journal = Journal(self.run_dir)
        self.journal.write_owner(self.ARGV, t)
        self.journal.started(self.run_dir, self.ARGV, 2, 2, t)
        self.start = t

    def ends(self, code: int, t: float, reason: str = "") -> None:
        assert self.journal is not None, "the run must start before it ends"
        ranks = {str(r): {"exit_code": code, "lines": 12} for r in range(2)}
        summary = {  # the keys of RunSession._summary, one attempt
            "exit_code": code,
            "reason": reason,
            "start": self.start,
            "end": t,
            "duration_s": round(t - self.start, 3),
            "run_dir": str(self.run_dir),
            "argv": list(self.ARGV),
            "ranks": ranks,
            "failed_ranks": {r: code for r in ranks} if code else {},
            "first_error": None,
            "hidden_lines": {},
            "metrics_source": None,
            "metrics": {},
            "attempts": [{"attempt": 1, "exit_code": code, "reason": reason, "ranks": ranks}],
        }
        write_json(self.run_dir / SUMMARY, summary)  # first the summary, then "finished"
        self.journal.finished(code, reason, t)
        self.close()

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "outputs" / "20261203-083204-ezpz"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def runner(run_dir: Path) -> Iterator[Runner]:
    started = Runner(run_dir)
    yield started
    started.close()


def follow(run_dir: Path, *answers: Answer, job_id: str = "3") -> tuple[JobFollower, Clock]:
    """A follower of a job just submitted (its record read from ``submit.json``)."""
    clock = Clock()
    submit_record(run_dir, job_id)
    follower = JobFollower(run_dir, ScriptedClient(clock, *answers), clock=clock)  # type: ignore[arg-type]
    return follower, clock


def client_of(follower: JobFollower) -> ScriptedClient:
    assert isinstance(follower.client, ScriptedClient)
    return follower.client


def queue_file(run_dir: Path) -> JobState:
    state = read_queue(run_dir)
    assert state is not None, "queue.json is missing or unreadable"
    return state


# -- pacing ---------------------------------------------------------------------


def test_the_pace_is_one_second_then_three_then_ten() -> None:
    expected = ((10.0, 1.0), (60.0, 3.0), (float("inf"), 10.0))
    assert expected == QUERY_EVERY


def test_the_first_query_is_at_once_and_the_next_only_when_due(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD)
    client = client_of(follower)
    assert follower.job_id == "3"
    assert follower.due()
    assert follower.poll() is True  # the first answer is news
    assert client.asked == [("3", T0)]
    assert not follower.due()
    assert follower.poll() is False
    clock.advance(0.75)
    assert not follower.due() and follower.poll() is False
    assert len(client.asked) == 1  # nothing asked before it was due
    clock.advance(0.25)
    assert follower.due()
    assert follower.poll() is False  # asked, and the same answer is no news
    assert client.asked == [("3", T0), ("3", T0 + 1.0)]


def test_force_asks_at_once_even_when_not_due(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD, RUNNING)
    client = client_of(follower)
    follower.poll()
    clock.advance(0.25)
    assert not follower.due()
    assert follower.poll(force=True) is True
    assert follower.state is not None and follower.state.state is QueueState.RUNNING
    assert client.asked == [("3", T0), ("3", T0 + 0.25)]
    # forcing moves the pace along: the next unforced query is a full step later
    clock.advance(0.75)
    assert not follower.due()
    clock.advance(0.25)
    assert follower.due()


@pytest.mark.parametrize(
    ("age", "every"),
    [(0.0, 1.0), (8.0, 1.0), (10.0, 3.0), (45.0, 3.0), (60.0, 10.0), (7200.0, 10.0)],
    ids=["start", "8s", "10s", "45s", "60s", "2h"],
)
def test_the_interval_depends_on_how_long_we_have_followed(
    run_dir: Path, age: float, every: float
) -> None:
    """Quick at first (a job on an idle cluster starts in seconds), then easy on
    the controller; the age is the follower's, not the job's (a follower started
    on a job submitted long ago is quick at first too)."""
    follower, clock = follow(run_dir, RUNNING)
    client = client_of(follower)
    clock.advance(age)
    follower.poll()
    assert client.asked == [("3", T0 + age)]
    clock.advance(every - 0.25)
    assert not follower.due()
    follower.poll()
    assert len(client.asked) == 1
    clock.advance(0.25)
    assert follower.due()
    follower.poll()
    assert client.asked[-1] == ("3", T0 + age + every)


def test_due_takes_the_time_it_is_given(run_dir: Path) -> None:
    follower, _clock = follow(run_dir, RUNNING)
    follower.poll()
    assert not follower.due(T0 + 0.5)
    assert follower.due(T0 + 1.0)
    assert follower.due(T0 + 20.0)  # the step then is 3 s, counted from the last query


def test_nothing_is_asked_once_the_job_ended(run_dir: Path) -> None:
    follower, clock = follow(run_dir, RUNNING, FAILED_3)
    client = client_of(follower)
    follower.poll()
    clock.advance(1.0)
    assert follower.poll() is True
    for _ in range(5):
        clock.advance(10.0)
        assert not follower.due()
        assert follower.poll() is False
    assert len(client.asked) == 2


def test_nothing_is_asked_once_the_job_is_gone(run_dir: Path) -> None:
    follower, clock = follow(run_dir, RUNNING, gone)
    follower.poll()
    clock.advance(1.0)
    assert follower.poll() is True and follower.gone
    clock.advance(10.0)
    assert not follower.due()
    assert follower.poll() is False
    assert len(client_of(follower).asked) == 2


def test_a_refused_submission_asks_nothing_and_ends_at_once(run_dir: Path) -> None:
    clock = Clock()
    refused = "sbatch: error: Batch job submission failed: Invalid account"
    record = submit_record(run_dir, job_id=None, error=refused)
    client = ScriptedClient(clock, RUNNING)
    follower = JobFollower(run_dir, client, record, clock=clock)  # type: ignore[arg-type]
    assert follower.job_id is None
    assert not follower.due()
    assert follower.poll(force=True) is False
    assert client.asked == []
    assert follower.ending() == Ending(1, QueueState.FAILED, refused, False)


def test_without_a_client_nothing_is_asked(run_dir: Path) -> None:
    clock = Clock()
    submit_record(run_dir)
    follower = JobFollower(run_dir, None, clock=clock)
    assert not follower.due()
    assert follower.poll(force=True) is False
    assert follower.ending() is None  # nothing known: not ended either


# -- queue.json -------------------------------------------------------------------


def test_queue_json_is_written_only_when_the_state_changes(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD, HELD, RUNNING, RUNNING_LATER, down, gone)
    assert not (run_dir / QUEUE).exists()
    assert follower.state is None

    assert follower.poll() is True
    held = queue_file(run_dir)
    assert held == follower.state
    assert (held.state, held.reason, held.t) == (QueueState.HELD, "JobHeldUser", T0)

    clock.advance(1.0)
    assert follower.poll() is False  # the same state, looked at later
    assert queue_file(run_dir) == held  # not rewritten (its time is still T0)
    assert follower.state is not None and follower.state.t == T0 + 1.0

    clock.advance(1.0)
    assert follower.poll() is True
    running = queue_file(run_dir)
    assert (running.state, running.nodes, running.elapsed_s, running.t) == (
        QueueState.RUNNING,
        "vm",
        1.0,
        T0 + 2.0,
    )

    clock.advance(1.0)
    assert follower.poll() is False  # only the run time moved on
    assert queue_file(run_dir) == running

    clock.advance(1.0)
    assert follower.poll() is True and follower.error == CONTROLLER_DOWN
    clock.advance(1.0)
    assert follower.poll() is True and follower.gone
    assert queue_file(run_dir) == running  # an error or a gone job is not a state
    assert sorted(p.name for p in run_dir.iterdir()) == ["queue.json", "submit.json"]


def test_a_new_follower_remembers_the_last_state(run_dir: Path) -> None:
    first, clock = follow(run_dir, HELD, RUNNING)
    first.poll()
    clock.advance(1.0)
    first.poll()
    last = queue_file(run_dir)
    assert last.state is QueueState.RUNNING

    # the login shell was closed; a later --attach follows the same run directory
    later = Clock(T0 + 600.0)
    client = ScriptedClient(later, RUNNING_LATER)
    second = JobFollower(run_dir, client, clock=later)  # type: ignore[arg-type]
    assert second.record == first.record  # read back from submit.json
    assert second.state == last
    assert second.waited_s() is None  # it is known to have started
    assert second.ending() is None
    assert second.due()
    assert second.poll() is False  # the state it remembered: no news, no rewrite
    assert client.asked == [("3", T0 + 600.0)]
    assert queue_file(run_dir) == last


def test_a_new_follower_of_an_ended_job_asks_nothing(run_dir: Path) -> None:
    first, clock = follow(run_dir, HELD, CANCELLED)
    first.poll()
    clock.advance(1.0)
    first.poll()
    later = Clock(T0 + 3600.0)
    client = ScriptedClient(later, gone)  # Slurm forgot it long ago
    second = JobFollower(run_dir, client, clock=later)  # type: ignore[arg-type]
    assert second.state == queue_file(run_dir)
    assert not second.due()
    assert second.poll() is False and client.asked == []
    assert second.ending() == Ending(143, QueueState.CANCELLED, "cancelled", False)


# -- waiting ------------------------------------------------------------------------


def test_waited_s_counts_from_the_submission_until_the_job_starts(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD, RUNNING)
    assert follower.waited_s() == 30.0  # the queue has not answered: still waiting
    follower.poll()
    clock.advance(65.0)
    assert follower.waited_s() == 95.0
    assert follower.waited_s(SUBMITTED - 5.0) == 0.0  # another host's clock: never negative
    follower.poll()
    assert follower.waited_s() is None


# -- how it ends ------------------------------------------------------------------------


def test_a_job_gone_from_the_queue_takes_its_word_from_the_summary(
    run_dir: Path, runner: Runner
) -> None:
    follower, clock = follow(run_dir, HELD, RUNNING, gone)
    follower.poll()
    assert follower.ending() is None
    clock.advance(1.0)
    runner.starts(clock())
    follower.poll()
    assert follower.ending() is None  # running
    clock.advance(1.0)
    runner.ends(0, clock())
    assert follower.ending() is None  # the summary is here: the queue's last word is asked
    assert follower.due()  # at once
    assert follower.poll() is True and follower.gone  # (MinJobAge passed: Slurm forgot it)
    assert follower.ending() == Ending(0, QueueState.COMPLETED, "", from_summary=True)
    assert queue_file(run_dir).state is QueueState.RUNNING  # its last word stays on disk
    info = run_info(run_dir, now=clock())
    assert (info.status, info.exit_code) == (RunStatus.FINISHED, 0)


def test_a_gone_job_waits_for_a_summary_on_its_way(run_dir: Path, runner: Runner) -> None:
    follower, clock = follow(run_dir, RUNNING, gone)
    runner.starts(clock())
    follower.poll()
    clock.advance(1.0)
    follower.poll()
    assert follower.gone
    assert follower.ending() is None  # it ran: its summary is worth waiting for
    clock.advance(SUMMARY_GRACE_S - 5.0)
    assert follower.ending() is None
    runner.ends(7, clock(), reason="rank 1 exited 7")
    assert follower.ending() == Ending(7, QueueState.FAILED, "rank 1 exited 7", True)


def test_a_gone_job_that_ran_and_wrote_no_summary_is_gone_after_the_grace(
    run_dir: Path, runner: Runner
) -> None:
    follower, clock = follow(run_dir, RUNNING, gone)
    runner.starts(clock())
    follower.poll()
    clock.advance(1.0)
    follower.poll()
    assert follower.ending() is None
    clock.advance(SUMMARY_GRACE_S - 0.25)
    assert follower.ending() is None
    clock.advance(0.25)
    ending = follower.ending()
    assert ending is not None
    assert (ending.exit_code, ending.state, ending.from_summary) == (1, QueueState.GONE, False)
    assert "no summary" in ending.reason and "job.out" in ending.reason


def test_a_gone_job_that_never_ran_is_gone_at_once(run_dir: Path) -> None:
    follower, _clock = follow(run_dir, gone)
    assert follower.poll() is True and follower.gone
    ending = follower.ending()
    assert ending is not None
    assert (ending.exit_code, ending.state, ending.from_summary) == (1, QueueState.GONE, False)


def test_the_scheduler_s_exit_3_counts_when_no_summary_comes(run_dir: Path, runner: Runner) -> None:
    follower, clock = follow(run_dir, RUNNING, FAILED_3)
    runner.starts(clock())
    follower.poll()
    clock.advance(3.0)
    assert follower.poll() is True
    assert follower.state is not None and follower.state.exit_code == 3
    assert follower.ending() is None  # the grace starts now
    clock.advance(SUMMARY_GRACE_S - 0.25)
    assert follower.ending() is None
    clock.advance(0.25)
    assert follower.ending() == Ending(3, QueueState.FAILED, "NonZeroExitCode", False)
    assert queue_file(run_dir).exit_code == 3


def test_a_summary_within_the_grace_is_the_final_word(run_dir: Path, runner: Runner) -> None:
    follower, clock = follow(run_dir, RUNNING, FAILED_3)
    runner.starts(clock())
    follower.poll()
    clock.advance(3.0)
    follower.poll()
    assert follower.ending() is None
    clock.advance(5.0)  # the summary arrives over NFS after the queue said it ended
    runner.ends(3, clock(), reason="rank 0 exited 3")
    assert follower.ending() == Ending(3, QueueState.FAILED, "rank 0 exited 3", True)


def test_a_summary_that_says_0_wins_over_the_scheduler(run_dir: Path, runner: Runner) -> None:
    follower, clock = follow(run_dir, RUNNING, FAILED_3)
    runner.starts(clock())
    follower.poll()
    clock.advance(2.0)
    runner.ends(0, clock())
    clock.advance(1.0)
    follower.poll()
    assert follower.state is not None and follower.state.exit_code == 3
    ending = follower.ending()
    assert ending is not None
    assert (ending.exit_code, ending.from_summary) == (0, True)


def test_a_job_cancelled_while_held_ends_at_once_without_a_summary(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD, scontrol(CANCELLED_WHILE_HELD))
    follower.poll()
    assert follower.waited_s() == 30.0
    clock.advance(1.0)
    assert follower.poll() is True
    assert queue_file(run_dir).state is QueueState.CANCELLED
    ending = follower.ending()  # it never ran (no owner.json): no summary to wait for
    assert ending is not None
    assert (ending.state, ending.from_summary) == (QueueState.CANCELLED, False)
    assert follower.waited_s() is None


def test_a_job_cancelled_while_held_does_not_end_with_exit_0(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD, scontrol(CANCELLED_WHILE_HELD))
    follower.poll()
    clock.advance(1.0)
    follower.poll()
    ending = follower.ending()
    assert ending is not None and ending.exit_code != 0


def test_a_job_cancelled_while_it_ran_ends_with_143(run_dir: Path) -> None:
    follower, clock = follow(run_dir, HELD, RUNNING, CANCELLED)
    for _ in range(3):
        follower.poll()
        clock.advance(1.0)
    assert follower.ending() == Ending(143, QueueState.CANCELLED, "cancelled", False)


# -- a controller that does not answer ------------------------------------------------


def test_a_lookup_error_is_reported_and_does_not_end_the_follow(run_dir: Path) -> None:
    follower, clock = follow(run_dir, RUNNING, down, down, RUNNING_LATER, FAILED_3)
    follower.poll()
    running = follower.state
    clock.advance(1.0)
    assert follower.poll() is True  # the error is news
    assert follower.error == CONTROLLER_DOWN
    assert follower.state == running and not follower.gone
    assert follower.ending() is None
    clock.advance(1.0)
    assert follower.due()  # still asking, at the same pace
    assert follower.poll() is False  # the same error again is no news
    assert follower.error == CONTROLLER_DOWN
    clock.advance(1.0)
    follower.poll()  # the controller is back
    assert follower.error == ""
    assert follower.state is not None and follower.state.state is QueueState.RUNNING
    clock.advance(1.0)
    assert follower.poll() is True
    assert follower.state is not None and follower.state.state is QueueState.FAILED
    assert len(client_of(follower).asked) == 5


def test_poll_says_so_when_the_controller_answers_again(run_dir: Path) -> None:
    follower, clock = follow(run_dir, RUNNING, down, RUNNING_LATER)
    follower.poll()
    clock.advance(1.0)
    assert follower.poll() is True
    clock.advance(1.0)
    assert follower.poll() is True  # the error is gone: news


def test_a_summary_with_a_silent_queue_is_the_word_after_the_grace(
    run_dir: Path, runner: Runner
) -> None:
    """The run ended; the queue keeps saying running (a slow epilog): the summary
    decides once the grace is over, its state from its exit code."""
    follower, clock = follow(run_dir, RUNNING, RUNNING, RUNNING, RUNNING)
    follower.poll()
    runner.starts(clock())
    clock.advance(1.0)
    runner.ends(3, clock())
    assert follower.ending() is None
    follower.poll()
    clock.advance(SUMMARY_GRACE_S - 1.0)
    assert follower.ending() is None
    clock.advance(1.0)
    assert follower.ending() == Ending(3, QueueState.FAILED, "", from_summary=True)
