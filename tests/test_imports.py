"""What importing the core and the non-interactive CLI drags in.

The core must stay fast on login nodes and usable without the console: importing
``ezpz_core`` and every one of its submodules loads no Textual, torch, wandb or
mpi4py. ``ezpz-tui --dry-run``, ``--check`` and a headless ``--run`` (with its
metrics and charts) load none of them either (only the interactive console
imports Textual). All four are installed in this venv, so a
stray import would show. Each probe runs in a fresh interpreter with a minimal
environment (no ``PBS_*``/``SLURM_*`` variables), so nothing the test process
imported can leak in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.hermetic import no_scheduler_path

HEAVY = ("textual", "torch", "wandb", "mpi4py")
VENV_BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{VENV_BIN}{os.pathsep}{no_scheduler_path()}", "HOME": str(home)}


def loaded_modules(code: str, tmp_path: Path) -> set[str]:
    """Run ``code`` in a fresh interpreter; it writes sorted ``sys.modules`` keys to OUT."""
    out = tmp_path / "modules.json"
    prelude = f"import json, sys\nOUT = {str(out)!r}\n"
    epilogue = "\nwith open(OUT, 'w') as fh:\n    json.dump(sorted(sys.modules), fh)\n"
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code) + epilogue],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return set(json.loads(out.read_text()))


def heavy_in(modules: set[str]) -> list[str]:
    """The heavy packages (or any of their submodules) among ``modules``."""
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    """The probe itself works: importing textual shows up."""
    assert "textual" in heavy_in(loaded_modules("import textual", tmp_path))


def test_importing_every_ezpz_core_module_loads_no_ui_or_training_stack(tmp_path: Path) -> None:
    code = """
        import importlib, pkgutil
        import ezpz_core
        names = [m.name for m in pkgutil.walk_packages(ezpz_core.__path__, "ezpz_core.")]
        for name in names:
            importlib.import_module(name)
        assert len(names) > 10, names
    """
    modules = loaded_modules(code, tmp_path)
    assert "ezpz_core.launch.plan" in modules
    assert "ezpz_core.doctor" in modules
    assert heavy_in(modules) == []


def test_importing_the_cli_loads_no_ui_or_training_stack(tmp_path: Path) -> None:
    modules = loaded_modules("import ezpz_tui.cli", tmp_path)
    assert "ezpz_tui.cli" in modules
    assert heavy_in(modules) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--dry-run"],
        ["--dry-run", "--json"],
        ["--dry-run", "--", "python3", "x.py"],
        ["--check"],
        ["--check", "--json"],
    ],
    ids=lambda args: " ".join(args),
)
def test_dry_run_and_check_load_no_ui_or_training_stack(tmp_path: Path, args: list[str]) -> None:
    code = f"""
        from ezpz_tui.cli import main
        rc = main({args!r})
        assert rc in (0, 1), rc
    """
    modules = loaded_modules(code, tmp_path)
    assert "ezpz_core.launch.plan" in modules  # the plan was really made
    assert heavy_in(modules) == []


def test_a_headless_run_with_metrics_and_charts_loads_no_ui_or_training_stack(
    tmp_path: Path,
) -> None:
    """``--run`` reads metrics from the job's log and draws its charts (plotext)
    without importing torch, wandb, mpi4py or Textual in our own process."""
    log = tmp_path / "steps.log"
    log.write_text("".join(f"step={i} loss={1 / i} dt=0.1\n" for i in range(1, 6)))
    args = ["--run", "--launcher", "none", "--outdir", str(tmp_path / "out"), "--", "cat", str(log)]
    code = f"""
        from ezpz_tui.cli import main
        rc = main({args!r})
        assert rc == 0, rc
    """
    modules = loaded_modules(code, tmp_path)
    assert "ezpz_core.run.metricwatch" in modules
    assert "plotext" in modules  # the chart was drawn
    assert heavy_in(modules) == []


def test_the_console_running_loads_no_training_stack(tmp_path: Path) -> None:
    """The console, started for real (headless), with discovery and a plan done,
    imports Textual but not torch, wandb or mpi4py."""
    code = """
        import asyncio
        from ezpz_tui.app import EzpzApp
        from ezpz_tui.config import ConsoleConfig
        from ezpz_tui.surroundings import Surroundings
        from pathlib import Path
        import os

        async def main():
            s = Surroundings(env=dict(os.environ), config=ConsoleConfig(Path("cfg")), cwd=".")
            app = EzpzApp(s)
            async with app.run_test() as pilot:
                for _ in range(3):
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                assert app.preview is not None and app.preview.plan is not None

        asyncio.run(main())
    """
    modules = loaded_modules(code, tmp_path)
    assert "ezpz_tui.screens.launch" in modules
    assert "textual" in modules
    assert [m for m in heavy_in(modules) if m.split(".")[0] != "textual"] == []
