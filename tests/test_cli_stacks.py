"""``ezpz-tui --stacks`` refusing what it cannot dump: one line naming the flag,
exit 2, never a traceback (the real dumps are in ``tests/test_hang_e2e.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ezpz_tui.cli import main


def started(run_dir: Path, **fields: object) -> Path:
    run_dir.mkdir(parents=True)
    event = {"event": "started", "t": 1.0, "pid": 1, "host": "elsewhere", "world_size": 2}
    (run_dir / "events.jsonl").write_text(json.dumps({**event, **fields}) + "\n")
    (run_dir / "plan.json").write_text("{}")
    return run_dir


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p / "nowhere", "--stacks {}: no such directory, and not a job id"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "--stacks {}: not a run directory"),
        (
            lambda p: started(p / "old"),
            "--stacks: {} was started by an ezpz-tui without stack dumps",
        ),
        (
            lambda p: started(p / "done", marker="0123abcd"),
            "--stacks: no rank of this run is running on",
        ),
    ],
    ids=["missing", "not-a-run", "no-marker", "not-running-here"],
)
def test_stacks_refuses_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, said: str
) -> None:  # type: ignore[no-untyped-def]
    target = make(tmp_path)
    assert main(["--stacks", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ezpz-tui: error: " + said.format(target)), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_run_elsewhere_says_where_to_run_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = started(tmp_path / "far", marker="0123abcd", host="x1000c0s0b0n0")
    assert main(["--stacks", str(run_dir)]) == 2
    assert "(its owner is on x1000c0s0b0n0; run --stacks there)" in capsys.readouterr().err


def test_stacks_is_a_mode_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--stacks", "--run"])
    assert exited.value.code == 2
    assert "separate modes" in capsys.readouterr().err
