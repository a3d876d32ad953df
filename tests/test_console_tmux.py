"""The interactive console in a real terminal (tmux): the real binary opens on the
launch form filled from its flags, the preview follows keys typed into a field,
q quits with exit code 0, and NO_COLOR gives a screen without hues (greys only)."""

from __future__ import annotations

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
        "PATH": f"{EZPZ_TUI.parent}{os.pathsep}{os.defpath}",
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
    screen = wait_for_screen(session, "python3 train.py")
    wait_for_screen(session, "-n4 --gpus-per-node=2")
    assert "slurm" in screen.splitlines()[0]
    # the np field has focus: replace 4 by 8 and the preview follows
    tmux("send-keys", "-t", session, "BSpace")
    tmux("send-keys", "-t", session, "8")
    screen = wait_for_screen(session, "-n8 --gpus-per-node=4")
    assert "srun --label --verbose -N2 -n8 --gpus-per-node=4 python3 train.py" in screen
    # a value that cannot fit shows its error beside the field, not a traceback
    tmux("send-keys", "-t", session, "BSpace")
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
