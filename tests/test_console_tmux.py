"""The interactive console in a real terminal (tmux): it starts on the plan,
shows the exact command, and quits on q with exit code 0."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
EZPZ_TUI = Path(sys.executable).parent / "ezpz-tui"

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")


def tmux(*args: str) -> str:
    done = subprocess.run(
        [str(TMUX), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout


def wait_for_screen(session: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.1)
    pytest.fail(f"{text!r} never appeared on the screen:\n{screen}")


def test_console_shows_the_plan_and_quits_on_q(tmp_path: Path) -> None:
    """A Slurm job emulated by its env vars, so the screen does not depend on this host."""
    session = f"ezpz-{uuid.uuid4().hex[:8]}"
    status = tmp_path / "status"
    env = {
        "SLURM_JOB_ID": "1234",
        "SLURM_JOB_NODELIST": "nid[001-002]",
        "NGPU_PER_HOST": "4",
        "PATH": f"{EZPZ_TUI.parent}{os.pathsep}{os.defpath}",
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
    }
    argv = [str(EZPZ_TUI), "-n", "4", "--", "python3", "train.py", "--lr", "0.1"]
    inner = f"{shlex.join(argv)}; echo $? > {shlex.quote(str(status))}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    tmux(
        "new-session", "-d", "-s", session, "-x", "120", "-y", "32",
        f"env -i {exports} sh -c {shlex.quote(inner)}",
    )  # fmt: skip
    try:
        screen = wait_for_screen(session, "srun --label")
        assert (
            "srun --label --verbose -N2 -n4 --gpus-per-node=2 python3 train.py --lr 0.1" in screen
        )
        assert "4 rank(s) = 2 host(s) x 2 per host" in screen
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status.read_text().strip() == "0"
    finally:
        subprocess.run([str(TMUX), "kill-session", "-t", session], capture_output=True, check=False)
