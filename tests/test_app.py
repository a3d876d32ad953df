"""The console's plan screen: Pilot tests that press keys, and a snapshot."""

from __future__ import annotations

import shlex

from textual.widgets import DataTable, Static

from ezpz_core.kinds import RankIO
from ezpz_core.launch.plan import LaunchPlan, plan_launch
from ezpz_core.launch.request import LaunchRequest
from ezpz_tui.app import EzpzApp
from tests.fakes import FakeProbe, detect

SLURM_ENV = {
    "PATH": "/usr/bin:/bin",
    "SLURM_JOB_ID": "1234",
    "SLURM_JOB_NODELIST": "nid[001-002]",
    "NGPU_PER_HOST": "4",
}


def slurm_plan(**fields: object) -> LaunchPlan:
    """A Slurm job emulated by its env vars (no Slurm server needed for a plan)."""
    job = detect(SLURM_ENV, hostname="nid001")
    fields.setdefault("command", ("python3", "train.py", "--lr", "0.1"))
    request = LaunchRequest(rank_io=RankIO.AUTO, **fields)  # type: ignore[arg-type]
    return plan_launch(
        job, request, env=SLURM_ENV, probe=FakeProbe(found={"srun": "srun"}), python="python3"
    )


async def test_plan_screen_shows_the_exact_command() -> None:
    plan = slurm_plan()
    app = EzpzApp(plan)
    async with app.run_test(size=(100, 30)):
        argv = app.query_one("#argv", Static)
        assert str(argv.render()) == shlex.join(plan.argv)
        table = app.query_one("#facts", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        facts = {str(key): str(value) for key, value in rows}
        assert facts["topology"] == "8 rank(s) = 2 host(s) x 4 per host"
        assert facts["scheduler"].startswith("slurm, inside job 1234")


async def test_warnings_are_shown_when_the_plan_has_some() -> None:
    plan = slurm_plan(np=4)
    assert plan.warnings
    app = EzpzApp(plan)
    async with app.run_test(size=(100, 30)):
        text = str(app.query_one("#warnings", Static).render())
        assert "using 4 of the job's 8 accelerators" in text


async def test_q_quits() -> None:
    app = EzpzApp(slurm_plan())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


def test_plan_screen_snapshot(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(EzpzApp(slurm_plan(np=4)), terminal_size=(100, 30))
