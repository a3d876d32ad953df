"""The interactive console in a real terminal (tmux): the real binary opens on the
launch form filled from its flags, the preview follows keys typed into a field,
q quits with exit code 0, and NO_COLOR gives a screen without hues (greys only)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hermetic import no_scheduler_path

TMUX = shutil.which("tmux")
EZPZ_TUI = Path(sys.executable).parent / "ezpz-tui"

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")

SGR = re.compile(r"\x1b\[([0-9;]*)m")
GREY_BASIC = {30, 37, 40, 47, 90, 97, 100, 107}  # black and white of the 16 colours


def _grey_index(n: int) -> bool:
    """A 256-colour index without hue: black/white/grey of the 16, the cube's
    diagonal, or the 24-step grey ramp."""
    if n < 16:
        return n in (0, 7, 8, 15)
    if n >= 232:
        return True
    r, g, b = (n - 16) // 36, (n - 16) // 6 % 6, (n - 16) % 6
    return r == g == b


def hues(screen: str) -> list[str]:
    """Every colour with a hue that the screen's escape codes set (greys are fine:
    Textual honours NO_COLOR by drawing in monochrome)."""
    found = []
    for match in SGR.finditer(screen):
        params = [int(p) for p in match.group(1).split(";") if p]
        i = 0
        while i < len(params):
            p = params[i]
            if p in (38, 48) and i + 1 < len(params) and params[i + 1] == 5:
                if not _grey_index(params[i + 2]):
                    found.append(match.group(0))
                i += 3
            elif p in (38, 48) and i + 1 < len(params) and params[i + 1] == 2:
                r, g, b = params[i + 2 : i + 5]
                if not r == g == b:
                    found.append(match.group(0))
                i += 5
            else:
                basic = 30 <= p <= 47 or 90 <= p <= 107
                if basic and p not in (38, 39, 48, 49, *GREY_BASIC):
                    found.append(match.group(0))
                i += 1
    return found


def tmux(*args: str) -> str:
    done = subprocess.run(
        [str(TMUX), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout


def screen_of(session: str, escapes: bool = False) -> str:
    return tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", session)


def wait_for_screen(session: str, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = screen_of(session)
        if text in screen:
            return screen
        time.sleep(0.1)
    pytest.fail(f"{text!r} never appeared on the screen:\n{screen}")


def wait_for_exit(status: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status.exists() and status.read_text().strip():
            return status.read_text().strip()
        time.sleep(0.1)
    pytest.fail("the console did not exit")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A tmux session name, the exit-status file, and the env of an emulated Slurm job
    (2 nodes x 4 GPUs, so the screen does not depend on this host)."""
    session = f"ezpz-{uuid.uuid4().hex[:8]}"
    env = {
        "SLURM_JOB_ID": "1234",
        "SLURM_JOB_NODELIST": "nid[001-002]",
        "NGPU_PER_HOST": "4",
        "PATH": f"{EZPZ_TUI.parent}{os.pathsep}{no_scheduler_path()}",
        "HOME": str(tmp_path),
        "EZPZ_TUI_CONFIG_DIR": str(tmp_path / "config"),
        "TERM": "xterm-256color",
    }
    yield session, tmp_path / "status", env
    subprocess.run([str(TMUX), "kill-session", "-t", session], capture_output=True, check=False)


def start(session: str, status: Path, env: dict[str, str], argv: list[str]) -> None:
    inner = f"{shlex.join(argv)}; echo $? > {shlex.quote(str(status))}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    tmux(
        "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
        f"env -i {exports} sh -c {shlex.quote(inner)}",
    )  # fmt: skip


def test_console_preview_follows_keys_and_q_quits(
    console: tuple[str, Path, dict[str, str]],
) -> None:
    session, status, env = console
    start(session, status, env, [str(EZPZ_TUI), "-n", "4", "--", "python3", "train.py"])
    wait_for_screen(session, "python3 train.py")
    screen = wait_for_screen(session, "-n4 --gpus-per-node=2")  # detected and planned
    assert "slurm" in screen.splitlines()[0]
    # the np field has focus: replace 4 by 8 and the preview follows
    tmux("send-keys", "-t", session, "BSpace")
    tmux("send-keys", "-t", session, "8")
    screen = wait_for_screen(session, "-n8 --gpus-per-node=4")
    assert "srun --label --verbose -N2 -n8 --gpus-per-node=4 python3 train.py" in screen
    # a value that cannot fit shows its error beside the field, not a traceback
    tmux("send-keys", "-t", session, "BSpace")
    wait_for_screen(session, "hosts x ppn")  # the field is empty: its placeholder shows
    tmux("send-keys", "-t", session, "7")
    screen = wait_for_screen(session, "would fail")
    assert "does not divide evenly over 2 host(s)" in screen
    assert "Traceback" not in screen
    # q types into a text field; from the job view it quits
    tmux("send-keys", "-t", session, "F3")
    wait_for_screen(session, "nid002")
    tmux("send-keys", "-t", session, "q")
    assert wait_for_exit(status) == "0"


def test_console_honours_no_color(console: tuple[str, Path, dict[str, str]]) -> None:
    session, status, env = console
    start(session, status, {**env, "NO_COLOR": "1"}, [str(EZPZ_TUI), "-n", "4"])
    wait_for_screen(session, "-n4 --gpus-per-node=2")
    assert hues(screen_of(session, escapes=True)) == []
    tmux("send-keys", "-t", session, "C-q")
    assert wait_for_exit(status) == "0"


def test_console_colours_without_no_color(console: tuple[str, Path, dict[str, str]]) -> None:
    """The NO_COLOR test can fail: the same screen has colours when it is not set."""
    session, status, env = console
    start(session, status, env, [str(EZPZ_TUI), "-n", "4"])
    wait_for_screen(session, "-n4 --gpus-per-node=2")
    assert hues(screen_of(session, escapes=True))
    tmux("send-keys", "-t", session, "C-q")
    assert wait_for_exit(status) == "0"


def test_console_runs_the_default_job_and_quits(tmp_path: Path) -> None:
    """The whole loop in a real terminal: ctrl+g starts the reference workload on 2
    ranks (a real ``ezpz-tui --run`` in its own session, real MPI on this host),
    both ranks' step lines appear in the merged pane, the run bar reports the end,
    and q quits with 0; the run directory says the job exited 0."""
    session = f"ezpz-{uuid.uuid4().hex[:8]}"
    status = tmp_path / "status"
    env = {
        "PATH": f"{EZPZ_TUI.parent}{os.pathsep}{no_scheduler_path()}",
        "HOME": str(tmp_path),
        "EZPZ_TUI_CONFIG_DIR": str(tmp_path / "config"),
        "TERM": "xterm-256color",
    }
    inner = f"cd {shlex.quote(str(tmp_path))} && {shlex.join([str(EZPZ_TUI), '-n', '2'])}"
    inner += f"; echo $? > {shlex.quote(str(status))}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    try:
        tmux(
            "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
            f"env -i {exports} sh -c {shlex.quote(inner)}",
        )  # fmt: skip
        wait_for_screen(session, "ezpz_core.workload", timeout=60)  # detected and planned
        tmux("send-keys", "-t", session, "C-g")
        screen = wait_for_screen(session, "finished: exit", timeout=120)
        assert "finished: exit 0" in screen, screen
        steps = {line[1] for line in screen.splitlines() if re.match(r"│[01] step=\d+", line)}
        assert steps == {"0", "1"}, screen
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(status) == "0"
    finally:
        subprocess.run([str(TMUX), "kill-session", "-t", session], capture_output=True, check=False)
    runs = list((tmp_path / "outputs" / "ezpz-tui").iterdir())
    assert len(runs) == 1
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["exit_code"] == 0


def test_job_outlives_a_closed_terminal(tmp_path: Path) -> None:
    """Closing the terminal (tmux kills the session: SIGHUP to the console) does not
    stop a job started from the console: it runs in its own session and ends with 0."""
    session = f"ezpz-{uuid.uuid4().hex[:8]}"
    job = tmp_path / "job.py"
    job.write_text(
        "import time\n"
        "for i in range(30):\n"
        "    print(f'tick {i}', flush=True)\n"
        "    time.sleep(0.1)\n"
    )
    env = {
        "PATH": f"{EZPZ_TUI.parent}{os.pathsep}{no_scheduler_path()}",
        "HOME": str(tmp_path),
        "EZPZ_TUI_CONFIG_DIR": str(tmp_path / "config"),
        "TERM": "xterm-256color",
    }
    argv = [str(EZPZ_TUI), "-n", "2", "--", sys.executable, str(job)]
    inner = f"cd {shlex.quote(str(tmp_path))} && {shlex.join(argv)}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    tmux(
        "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
        f"env -i {exports} sh -c {shlex.quote(inner)}",
    )  # fmt: skip
    try:
        wait_for_screen(session, str(job), timeout=60)
        tmux("send-keys", "-t", session, "C-g")
        wait_for_screen(session, "tick 3", timeout=60)
    finally:
        subprocess.run([str(TMUX), "kill-session", "-t", session], capture_output=True, check=False)
    runs = list((tmp_path / "outputs" / "ezpz-tui").iterdir())
    assert len(runs) == 1
    summary = runs[0] / "summary.json"
    deadline = time.monotonic() + 60
    while not summary.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert summary.exists(), "the job died with its terminal"
    done = json.loads(summary.read_text())
    assert done["exit_code"] == 0
    assert done["ranks"]["0"]["lines"] == 30 and done["ranks"]["1"]["lines"] == 30


def test_history_opens_on_the_charts_of_the_real_ezpz_sample(
    console: tuple[str, Path, dict[str, str]],
) -> None:
    """``ezpz-tui --history FILE``: the real binary draws the sample's loss and
    throughput charts (braille), keys work, q quits with 0."""
    session, status, env = console
    sample = Path(__file__).parent / "data" / "ezpz-test-2ranks" / "metrics.jsonl"
    start(session, status, env, [str(EZPZ_TUI), "--history", str(sample)])
    screen = wait_for_screen(session, " rows")
    rows = sum(json.loads(line)["rank"] == 0 for line in sample.read_text().splitlines())
    assert f"metrics.jsonl {rows} rows" in screen and "loss" in screen and "tflops" in screen
    assert any(0x2801 <= ord(ch) <= 0x28FF for ch in screen)  # lines drawn in braille
    assert "Traceback" not in screen
    tmux("send-keys", "-t", session, "s")
    wait_for_screen(session, "smoothing 0.3")
    tmux("send-keys", "-t", session, "q")
    assert wait_for_exit(status) == "0"
