"""Regenerate the console's screenshots in docs/images/console/ (SVG, Textual's export).

Run from the repository root: ``.venv/bin/python docs/screenshots.py [NAME ...]``
(names, e.g. ``launch-aurora``, regenerate only those). Each shot opens the real app
headless in one of the emulated places of ``tests/console_fixtures.py`` (an Aurora
PBS job, a Perlmutter Slurm job, a laptop) with a fresh temporary config
directory, so nothing in your own config is read or written, and it presses the
keys a person would. The pictures are the same from run to run; the ``python``
check (job-checks) still looks up ``python3`` on this machine's disk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.console_fixtures
os.environ.pop("NO_COLOR", None)  # Textual would draw the screenshots in monochrome

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input, Tabs  # noqa: E402

from ezpz_tui.app import EzpzApp  # noqa: E402
from ezpz_tui.form import LaunchForm  # noqa: E402
from ezpz_tui.surroundings import Surroundings  # noqa: E402
from tests.console_fixtures import PLACES, aurora  # noqa: E402

OUT = ROOT / "docs" / "images" / "console"
TRAIN = LaunchForm(command="python3 train.py --lr 0.1")
WRAPPED = LaunchForm(rank_io="wrapper", command="python3 train.py --lr 0.1")  # all 4 colours

Step = Callable[[EzpzApp, Pilot[None]], Awaitable[None]]


@dataclass(frozen=True)
class Shot:
    name: str
    place: Callable[[Path], Surroundings]
    size: tuple[int, int] = (100, 30)
    steps: tuple[Step, ...] = ()
    theme: str | None = None


def place(name: str, form: LaunchForm | None = None) -> Callable[[Path], Surroundings]:
    return lambda config: PLACES[name](config, form)


def big_aurora(config: Path) -> Surroundings:
    return aurora(config, TRAIN, hosts=10624)


def aurora_with_token(config: Path) -> Surroundings:
    """Aurora with a credential among the launcher variables, to show it masked."""
    place = aurora(config, TRAIN)
    return dataclasses.replace(place, env={**place.env, "PBS_API_TOKEN": "not-a-real-token"})


async def settle(app: EzpzApp, pilot: Pilot[None]) -> None:
    """Discovery, planning and checks are thread workers: wait until all are done."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def press(*keys: str) -> Step:
    async def step(app: EzpzApp, pilot: Pilot[None]) -> None:
        await pilot.press(*keys)
        await settle(app, pilot)

    return step


def type_into(selector: str, text: str) -> Step:
    """Focus a field and type ``text`` key by key, as a person would."""

    async def step(app: EzpzApp, pilot: Pilot[None]) -> None:
        app.screen.query_one(selector, Input).focus()
        await pilot.pause()
        await pilot.press(*text)
        await settle(app, pilot)

    return step


def tab_key(key: str) -> Step:
    """Press a tab's key (c, e) from the tab bar.

    From the hosts table (the job view's first focus) the key does not stick: the
    table is hidden, the focus falls to the search field, and its pane is shown again.
    """

    async def step(app: EzpzApp, pilot: Pilot[None]) -> None:
        app.screen.query_one(Tabs).focus()
        await pilot.pause()
        await pilot.press(key)
        await settle(app, pilot)

    return step


SHOTS = (
    Shot("launch-aurora", place("aurora", TRAIN)),
    Shot("launch-error", place("perlmutter", TRAIN), steps=(type_into("#field-np", "7"),)),
    Shot("launch-laptop-80x24", place("laptop", TRAIN), size=(80, 24)),
    Shot("job-hosts", big_aurora, steps=(press("f3"),)),
    Shot("job-hosts-80x24", big_aurora, size=(80, 24), steps=(press("f3"),)),
    Shot(
        "job-search",
        big_aurora,
        steps=(press("f3"), press("slash"), type_into("#host-search", "x4100c[2-3]s[0-7]b0n0")),
    ),
    Shot("job-checks", place("perlmutter", TRAIN), steps=(press("f3"), tab_key("c"))),
    Shot("job-env", aurora_with_token, steps=(press("f3"), tab_key("e"))),
    Shot("help", place("aurora", TRAIN), steps=(press("f1"),)),
    Shot("palette", place("aurora", TRAIN), steps=(press("ctrl+p"),)),
    Shot("save-profile", place("aurora", TRAIN), steps=(press("ctrl+s"), press(*"aurora-2node"))),
    *(
        Shot(f"theme-{theme}", place("aurora", WRAPPED), theme=theme)
        for theme in ("ezpz-dark", "ezpz-light", "ezpz-high-contrast")
    ),
)


async def take(shot: Shot, config: Path) -> Path:
    app = EzpzApp(shot.place(config))
    async with app.run_test(size=shot.size) as pilot:
        await settle(app, pilot)
        if shot.theme:
            app.theme = shot.theme
            await settle(app, pilot)
        for step in shot.steps:
            await step(app, pilot)
        for field in app.screen.query(Input):
            field.cursor_blink = False  # a steady cursor: the same picture every run
        await pilot.pause()
        app.save_screenshot(filename=f"{shot.name}.svg", path=str(OUT))
    return OUT / f"{shot.name}.svg"


async def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = [s for s in SHOTS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SHOTS}
    if unknown:
        raise SystemExit(f"unknown shot(s): {', '.join(sorted(unknown))}")
    for shot in wanted:
        with tempfile.TemporaryDirectory(prefix="ezpz-tui-shots-") as config:
            path = await take(shot, Path(config))
        print(os.path.relpath(path, ROOT))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
