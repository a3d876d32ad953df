"""Time to the first frame of the console (``ezpz-tui``, no flags) in a real terminal.

Baseline, timed in the same run: a minimal Textual app with one ``Static``, written
to a temporary file and run with the venv's Python. Runs alternate (baseline,
console, baseline, console ...), ``--runs`` of each after one untimed warm-up of
each (bytecode caches, page cache); the medians are compared.

Method: each run gets a new pseudo-terminal (``os.openpty``) of 80x24 columns
(``TIOCSWINSZ`` on it before the spawn); stdin, stdout and stderr are its slave
side, the child starts a new session with the pty as its controlling terminal.
The clock starts just before the spawn and stops when a marker text appears in
what the app writes (read from the master side without blocking, escape
sequences stripped, only between entering and leaving the alternate screen, so a
traceback that quotes the marker does not count): ``hello-first-frame`` for the
baseline, ``--marker`` (default ``command``, a label of the launch form) for the
console. Then the process group gets SIGTERM (SIGKILL after 2 s) and is reaped.
A run that shows no marker in ``--timeout`` seconds (20) fails the benchmark
with the screen text it did show.

Environment (both apps): this process's, less PBS_*, SLURM_*, SBATCH_*,
SALLOC_*, EZPZ_*, TEXTUAL_*, NO_COLOR, COLUMNS and LINES; HOME and
EZPZ_TUI_CONFIG_DIR in a temporary directory, TERM=xterm-256color, the venv's
bin first on PATH. So the console sees no job (a laptop).

Target: console median <= 2x the baseline median.

Side check: whether importing ``ezpz_tui.app`` imports torch, wandb or mpi4py
(it must not: the list must be empty).

Run alone: ``.venv/bin/python bench/firstframe.py [--runs N] [--marker TEXT]``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

RUNS = 7
TIMEOUT_S = 20.0
TARGET_RATIO = 2.0
COLS, ROWS = 80, 24
MARKER = "command"
BASE_MARKER = "hello-first-frame"
HEAVY = ("torch", "wandb", "mpi4py")

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"
EZPZ_TUI = VENV_BIN / "ezpz-tui"

MINIMAL_APP = f'''\
from textual.app import App, ComposeResult
from textual.widgets import Static


class Minimal(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("{BASE_MARKER}")


Minimal().run()
'''

_DROP_PREFIXES = ("PBS_", "SLURM_", "SBATCH_", "SALLOC_", "EZPZ_", "TEXTUAL_")
_DROP = {"NO_COLOR", "COLUMNS", "LINES"}
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/PM/APC strings, other ESC x
_ANSI = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b[\]PX^_].*?(?:\x07|\x1b\\)"
    rb"|\x1b[()*+][0-~]"
    rb"|\x1b[@-Z\\-~]",
    re.DOTALL,
)
ALT_ON = b"\x1b[?1049h"
ALT_OFF = b"\x1b[?1049l"


class FirstFrameError(RuntimeError):
    pass


def bench_env(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES) and k not in _DROP
    }
    env.update(
        HOME=str(home),
        EZPZ_TUI_CONFIG_DIR=str(home / "ezpz-tui-config"),
        TERM="xterm-256color",
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
    )
    return env


def screen_text(raw: bytes) -> str:
    """What the app wrote, escape sequences removed (cursor moves become nothing)."""
    return _ANSI.sub(b"", raw).decode("utf-8", "replace")


def _found(raw: bytes, marker: str) -> bool:
    start = raw.find(ALT_ON)
    if start < 0:
        return False
    end = raw.find(ALT_OFF, start)
    return marker in screen_text(raw[start : end if end >= 0 else len(raw)])


def _make_ctty() -> None:  # in the child, after setsid: the pty becomes its terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _drain(fd: int, buf: bytearray, wait: float) -> bool:
    """Read what is there within ``wait`` s; False once the slave side is closed."""
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return True
    except OSError:  # EIO: every slave fd closed (the child exited)
        return False
    if not chunk:
        return False
    buf += chunk
    return True


def _stop(proc: subprocess.Popen[bytes], master: int, buf: bytearray) -> None:
    """SIGTERM the process group, SIGKILL after 2 s; keep reading so it cannot block."""
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            _drain(master, buf, 0.02)
        if proc.poll() is not None:
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def first_frame(argv: list[str], marker: str, env: dict[str, str], timeout: float) -> float:
    """Seconds from just before the spawn to ``marker`` on the screen."""
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        os.set_blocking(master, False)
        buf = bytearray()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=env["HOME"],
            start_new_session=True,
            preexec_fn=_make_ctty,  # after setsid; the harness runs no threads
        )
        os.close(slave)
        slave = -1
        seconds = None
        try:
            deadline = t0 + timeout
            open_ = True
            while open_ and time.perf_counter() < deadline:
                open_ = _drain(master, buf, min(0.05, max(0.0, deadline - time.perf_counter())))
                if _found(buf, marker):
                    seconds = time.perf_counter() - t0
                    break
        finally:
            _stop(proc, master, buf)
        if seconds is None:
            lines = [line.rstrip() for line in screen_text(bytes(buf)).splitlines()]
            tail = "\n".join(line for line in lines if line.strip())[-1500:]
            why = (
                f"exited {proc.returncode} before showing {marker!r}"
                if not open_
                else f"showed no {marker!r} within {timeout:g} s"
            )
            raise FirstFrameError(
                f"{' '.join(argv)} {why}; what it wrote, escapes stripped:\n{tail or '(nothing)'}"
            )
        return seconds
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def heavy_imports(env: dict[str, str]) -> list[str]:
    """The torch/wandb/mpi4py modules that importing the console pulls in."""
    code = (
        "import json, sys; import ezpz_tui.app; print(json.dumps(sorted(m for m in "
        f"sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    proc = subprocess.run(
        [str(PYTHON), "-c", code],
        env=env,
        cwd=env["HOME"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise FirstFrameError(f"import ezpz_tui.app failed:\n{proc.stderr.strip()[-1500:]}")
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(
    runs: int = RUNS,
    marker: str = MARKER,
    timeout: float = TIMEOUT_S,
    workdir: Path | None = None,
    log=print,
) -> dict[str, Any]:
    if runs < 1:
        raise ValueError("--runs must be >= 1")
    tmp = Path(tempfile.mkdtemp(prefix="ezpz-bench-firstframe-", dir=workdir))
    try:
        home = tmp / "home"
        home.mkdir()
        env = bench_env(home)
        app = tmp / "minimal_app.py"
        app.write_text(MINIMAL_APP)
        base_argv = [str(PYTHON), str(app)]
        ours_argv = [str(EZPZ_TUI)]
        first_frame(base_argv, BASE_MARKER, env, timeout)  # warm-up, untimed
        first_frame(ours_argv, marker, env, timeout)
        base_s: list[float] = []
        ours_s: list[float] = []
        for _ in range(runs):
            base_s.append(first_frame(base_argv, BASE_MARKER, env, timeout))
            ours_s.append(first_frame(ours_argv, marker, env, timeout))
        heavy = heavy_imports(env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base, ours = statistics.median(base_s), statistics.median(ours_s)
    ratio = ours / base
    log(
        f"firstframe: minimal Textual app (one Static) median {base * 1000:.0f} ms "
        f"(runs {', '.join(f'{s * 1000:.0f}' for s in base_s)})"
    )
    log(
        f"firstframe: ezpz-tui median {ours * 1000:.0f} ms "
        f"(runs {', '.join(f'{s * 1000:.0f}' for s in ours_s)}), marker {marker!r}"
    )
    log(
        f"firstframe: ratio x{ratio:.2f} ({'PASS' if ratio <= TARGET_RATIO else 'FAIL'} vs "
        f"<= {TARGET_RATIO:g}x); torch/wandb/mpi4py imported by ezpz_tui.app: {heavy} "
        f"({'PASS' if not heavy else 'FAIL'}: must be empty)"
    )
    return {
        "runs": runs,
        "marker": marker,
        "base_marker": BASE_MARKER,
        "terminal": f"pty {COLS}x{ROWS}, TERM=xterm-256color",
        "ours_argv": ours_argv,
        "base_argv": [str(PYTHON), "minimal_app.py"],
        "base_runs_s": base_s,
        "ours_runs_s": ours_s,
        "base_median_s": base,
        "ours_median_s": ours,
        "ratio": ratio,
        "heavy_imports": heavy,
        "targets": {
            "ratio": {"target": TARGET_RATIO, "value": ratio, "pass": ratio <= TARGET_RATIO},
            "heavy_imports": {"target": [], "value": heavy, "pass": not heavy},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Target: ezpz-tui's median <= 2x the minimal app's. "
        "Exit 1 with --strict when missed, 2 when a run fails.",
    )
    parser.add_argument("--runs", type=int, default=RUNS, help=f"timed runs of each ({RUNS})")
    parser.add_argument(
        "--marker", default=MARKER, help=f"text that ends ezpz-tui's clock ({MARKER!r})"
    )
    parser.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, help=f"seconds per run ({TIMEOUT_S:g})"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    try:
        results = run(args.runs, args.marker, args.timeout)
    except FirstFrameError as exc:
        print(f"firstframe: FAILED: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(results, indent=2))
    missed = [k for k, t in results["targets"].items() if not t["pass"]]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
