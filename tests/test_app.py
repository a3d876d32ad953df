"""The console app, driven as a person would: snapshots of every view, and Pilot
tests that press keys in emulated places (an Aurora PBS job, a Perlmutter-like
Slurm job, a laptop; see ``tests/console_fixtures.py``).

Discovery and planning run in thread workers, so after the app starts and after
each keystroke a test waits for the workers and the messages they post
(``settle``) before it looks at the screen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual import events
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static, TabbedContent
from textual.worker import WorkerCancelled, WorkerState

from ezpz_core.launch.plan import plan_launch
from ezpz_core.launch.request import LaunchRequest
from ezpz_tui.app import EzpzApp
from ezpz_tui.form import LaunchForm
from ezpz_tui.screens.dialogs import ChooseDialog, NameDialog
from ezpz_tui.screens.help import HelpScreen
from ezpz_tui.screens.job import JobScreen
from ezpz_tui.screens.launch import LaunchScreen
from ezpz_tui.widgets.argv_preview import ArgvPreview
from ezpz_tui.widgets.hosts_table import HostsTable
from ezpz_tui.widgets.keybar import KeyBar
from tests.console_fixtures import PLACES, aurora, aurora_hosts, laptop, perlmutter

THEMES = ("ezpz-dark", "ezpz-light", "ezpz-high-contrast")
SIZES = ((80, 24), (160, 48))
SIZE = (100, 30)

_ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)
SnapCompare = Callable[..., bool]  # pytest-textual-snapshot's snap_compare fixture


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The console's config directory (settings, profiles, recent), empty."""
    return tmp_path / "config"


async def settle(app: EzpzApp, pilot: Pilot[None]) -> None:
    """Wait until no worker runs and the messages they posted are handled.

    A keystroke supersedes the planning worker of the one before (exclusive
    workers), so a cancelled worker is expected, not an error.
    """
    for round_ in range(50):
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if round_ >= 2 and not any(w.state in _ACTIVE for w in app.workers):
            return
    raise AssertionError("workers still running after 50 rounds")


def launch_screen(app: EzpzApp) -> LaunchScreen:
    screen = app.screen
    assert isinstance(screen, LaunchScreen)
    return screen


def job_screen(app: EzpzApp) -> JobScreen:
    screen = app.screen
    assert isinstance(screen, JobScreen)
    return screen


def shown(app: EzpzApp, selector: str) -> str:
    """The text a Static shows on the current screen."""
    return str(app.screen.query_one(selector, Static).render())


def command_line(app: EzpzApp) -> str:
    return app.screen.query_one("#argv", ArgvPreview).command_line


def preview_text(app: EzpzApp) -> str:
    rendered = app.screen.query_one("#argv", ArgvPreview).render()
    return rendered.plain


def table_cells(table: DataTable[object]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def key_bar_keys(app: EzpzApp) -> list[str]:
    """The keys the key bar at the bottom shows (drawn in the key style)."""
    bar = app.screen.query_one(KeyBar)
    text = bar.render()
    assert isinstance(text, Text)
    key_style = bar.get_component_rich_style("keybar--key")
    return [text.plain[s.start : s.end].strip() for s in text.spans if s.style == key_style]


def errors(app: EzpzApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def type_into(app: EzpzApp, pilot: Pilot[None], field: str, text: str) -> None:
    """Replace what ``field`` holds with ``text``, key by key."""
    app.screen.query_one(field, Input).focus()
    await pilot.press("end", "ctrl+u", *text)
    await settle(app, pilot)


async def paste_into(app: EzpzApp, pilot: Pilot[None], field: str, text: str) -> None:
    """Replace what ``field`` holds with ``text``, pasted in one go (as a terminal does)."""
    widget = app.screen.query_one(field, Input)
    widget.focus()
    await pilot.press("end", "ctrl+u")
    widget.post_message(events.Paste(text))
    await settle(app, pilot)


def no_blinking(app: EzpzApp) -> None:
    """Steady cursors, so a snapshot never catches a blink half way."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


# --- snapshots ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", ["launch", "job"])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_view_matches_its_snapshot(
    snap_compare: SnapCompare, config: Path, place: str, view: str, size: tuple[int, int]
) -> None:
    app = EzpzApp(PLACES[place](config))

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(app, pilot)
        if view == "job":
            await pilot.press("f3")
            await settle(app, pilot)
        no_blinking(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", THEMES)
def test_launch_view_matches_its_snapshot_in_each_theme(
    snap_compare: SnapCompare, config: Path, theme: str
) -> None:
    config.mkdir(parents=True)
    (config / "settings.toml").write_text(f'theme = "{theme}"\n')
    app = EzpzApp(aurora(config))

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(app, pilot)
        assert app.theme == theme
        no_blinking(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# --- the preview follows the form ---------------------------------------------------------


async def test_typing_np_shows_the_plan_ezpz_core_makes_for_it(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        before = command_line(app)
        await pilot.click("#field-np")
        await pilot.press("4")
        await settle(app, pilot)
        assert app.planner is not None
        surroundings = app.surroundings
        assert surroundings.probe is not None
        plan = plan_launch(
            app.planner.job,
            LaunchRequest(np=4),
            env=surroundings.env,
            probe=surroundings.probe,
            python=surroundings.python,
        )
        assert command_line(app) == shlex.join(plan.argv) != before
        assert " -N2 -n4 --gpus-per-node=2 " in command_line(app)
        assert preview_text(app).startswith(command_line(app))


async def test_the_preview_follows_the_last_keystroke(config: Path) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", "12")
        assert app.planner is not None
        expected = app.planner.preview(LaunchForm(np="12")).plan
        assert expected is not None
        assert command_line(app) == shlex.join(expected.argv)
        assert " --np=12 --ppn=6 " in command_line(app)


async def test_the_command_field_ends_the_argv(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await paste_into(app, pilot, "#field-command", "python3 train.py --lr 0.1")
        assert app.planner is not None
        expected = app.planner.preview(LaunchForm(command="python3 train.py --lr 0.1")).plan
        assert expected is not None
        assert command_line(app) == shlex.join(expected.argv)
        assert command_line(app).endswith(" python3 train.py --lr 0.1")


# --- errors beside their field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("np", "says"),
    [
        ("0", "whole number >= 1"),
        ("abc", "whole number >= 1"),
        ("7", "does not divide evenly over 2 host(s)"),
    ],
)
async def test_an_invalid_np_shows_its_error_beside_the_field(
    config: Path, np: str, says: str
) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", np)
        error = app.screen.query_one("#error-np", Static)
        assert says in str(error.render())
        assert error.has_class("-invalid")
        assert error.display
        assert app.screen.query_one("#label-np").has_class("-invalid")
        assert preview_text(app).startswith("would fail: ")
        assert says in preview_text(app)
        assert command_line(app) == ""
        assert app.is_running
        assert app.return_code is None
        assert errors(app) == []


async def test_fixing_np_clears_its_error(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", "7")
        assert shown(app, "#error-np")
        await type_into(app, pilot, "#field-np", "8")
        error = app.screen.query_one("#error-np", Static)
        assert str(error.render()) == ""
        assert not error.has_class("-invalid")
        assert not error.display
        assert " -n8 " in command_line(app)


async def test_a_missing_hostfile_says_it_does_not_exist_until_fixed(
    config: Path, tmp_path: Path
) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        missing = tmp_path / "no-such-hostfile"
        await paste_into(app, pilot, "#field-hostfile", str(missing))
        assert "does not exist" in shown(app, "#error-hostfile")
        assert app.screen.query_one("#error-hostfile").has_class("-invalid")
        assert preview_text(app).startswith("would fail: ")
        assert app.is_running

        missing.write_text("nid001000\nnid001001\n")
        await paste_into(app, pilot, "#field-hostfile", str(missing))
        assert shown(app, "#error-hostfile") == ""
        assert not app.screen.query_one("#error-hostfile").has_class("-invalid")
        assert command_line(app)


# --- profiles and recent commands ---------------------------------------------------------


async def test_a_saved_profile_loads_back_into_the_form(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", "4")
        await paste_into(app, pilot, "#field-command", "python3 train.py")
        saved_form = launch_screen(app).read_form()
        saved_line = command_line(app)

        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, NameDialog)
        await pilot.press(*"pm-2node", "enter")
        await settle(app, pilot)
        assert (config / "profiles" / "pm-2node.toml").is_file()

        await type_into(app, pilot, "#field-np", "8")
        assert command_line(app) != saved_line

        await pilot.press("ctrl+o")
        await settle(app, pilot)
        assert isinstance(app.screen, ChooseDialog)
        options = app.screen.query_one(OptionList)
        assert [str(o.prompt) for o in options.options] == ["pm-2node"]
        await pilot.press("enter")
        await settle(app, pilot)
        assert launch_screen(app).read_form() == saved_form
        assert launch_screen(app).query_one("#field-np", Input).value == "4"
        assert command_line(app) == saved_line


@pytest.mark.parametrize("name", ["bad name!", "../escape", "-starts-with-dash"])
async def test_a_bad_profile_name_is_an_error_and_writes_nothing(config: Path, name: str) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await pilot.press(*name, "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LaunchScreen)
        assert any("is not allowed" in message for message in errors(app))
        assert not list(config.rglob("*.toml"))


async def test_copy_puts_the_exact_command_on_the_clipboard(config: Path) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", "12")
        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert app.planner is not None
        plan = app.planner.preview(LaunchForm(np="12")).plan
        assert plan is not None
        assert app.clipboard == shlex.join(plan.argv) == command_line(app)


async def test_a_copied_form_is_in_recent_and_fills_the_form_back(config: Path) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", "12")
        await paste_into(app, pilot, "#field-command", "python3 train.py")
        copied_form = launch_screen(app).read_form()
        await pilot.press("ctrl+y")
        await settle(app, pilot)
        copied = app.clipboard

        await type_into(app, pilot, "#field-np", "24")
        assert command_line(app) != copied

        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert isinstance(app.screen, ChooseDialog)
        options = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
        assert options == ["np=12 · python3 train.py"]
        await pilot.press("enter")
        await settle(app, pilot)
        assert launch_screen(app).read_form() == copied_form
        assert command_line(app) == copied


async def test_copy_with_an_invalid_form_copies_nothing(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await type_into(app, pilot, "#field-np", "0")
        await pilot.press("ctrl+y")
        await settle(app, pilot)
        assert app.clipboard == ""
        assert not (config / "recent.json").exists()
        assert app.is_running


# --- themes -------------------------------------------------------------------------------


def test_the_three_themes_are_registered(config: Path) -> None:
    app = EzpzApp(laptop(config))
    assert set(THEMES) <= set(app.available_themes)
    assert app.theme == "ezpz-dark"


async def test_the_theme_survives_a_restart(config: Path) -> None:
    first = EzpzApp(laptop(config))
    async with first.run_test(size=SIZE) as pilot:
        await settle(first, pilot)
        first.theme = "ezpz-light"
        await settle(first, pilot)
    assert 'theme = "ezpz-light"' in (config / "settings.toml").read_text()

    second = EzpzApp(laptop(config))
    async with second.run_test(size=SIZE) as pilot:
        await settle(second, pilot)
        assert second.theme == "ezpz-light"


# --- keys, help and the command palette ---------------------------------------------------


@pytest.mark.parametrize("key", ["f1", "question_mark"])
async def test_help_opens_with_f1_or_question_mark_and_escape_closes_it(
    config: Path, key: str
) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")  # focus out of the form's fields, so ? is a key
        await settle(app, pilot)
        await pilot.press(key)
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, JobScreen)


async def test_f1_opens_help_from_inside_a_text_field(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.focused, Input)
        await pilot.press("f1")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, LaunchScreen)


async def test_question_mark_in_a_text_field_is_typed_not_help(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.screen.query_one("#field-command", Input).focus()
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, LaunchScreen)
        assert app.screen.query_one("#field-command", Input).value == "?"


@pytest.mark.parametrize("view", ["launch", "job"])
async def test_help_lists_every_key_the_key_bar_shows(config: Path, view: str) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        if view == "job":
            await pilot.press("f3")
            await settle(app, pilot)
        footer = key_bar_keys(app)
        assert footer
        await pilot.press("f1")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        rows = table_cells(app.screen.query_one("#help-keys", DataTable))
        listed = {key: does for key, does in rows}
        assert [key for key in footer if key not in listed] == []
        assert all(listed[key] for key in footer)
        expected = (
            {"^y": "Copy the command (OSC 52)", "f3": "Hosts, checks and environment"}
            if view == "launch"
            else {"r": "Detect the job again and re-run checks", "q": "Quit"}
        )
        for key, does in expected.items():
            assert listed[key].startswith(does)


async def test_q_quits_from_the_job_view(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
        assert app.return_code == 0


async def test_q_in_the_command_field_is_typed_not_quit(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.screen.query_one("#field-command", Input).focus()
        await pilot.press("q")
        await settle(app, pilot)
        assert app.is_running
        assert app.screen.query_one("#field-command", Input).value == "q"
        assert command_line(app).endswith(" q")


async def test_the_command_palette_offers_the_views_keys(config: Path) -> None:
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for title in ("Copy", "Save", "Load", "Recent", "Hostfile", "Job", "Help"):
            assert title in commands
        assert "(f3)" in commands["Job"].help
        await commands["Job"].callback()
        await settle(app, pilot)
        assert isinstance(app.screen, JobScreen)
        on_job = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Re-check", "Search hosts", "Launch"} <= on_job


# --- the job view -------------------------------------------------------------------------

BIG = 10_624


async def test_the_hosts_table_holds_every_host_of_a_big_job(config: Path) -> None:
    app = EzpzApp(aurora(config, hosts=BIG))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        table = job_screen(app).query_one(HostsTable)
        assert len(table.rows) == BIG
        assert [r.host for r in table.rows] == list(aurora_hosts(BIG))
        assert shown(app, "#hosts-count") == f"{BIG} of {BIG} host(s)"


async def test_a_hostlist_search_narrows_the_hosts(config: Path) -> None:
    app = EzpzApp(aurora(config, hosts=BIG))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        await pilot.press("slash", *"x4000c0s[0-3]b0n0")
        await settle(app, pilot)
        rows = job_screen(app).query_one(HostsTable).rows
        assert [r.host for r in rows] == list(aurora_hosts(4))
        assert shown(app, "#hosts-count") == f"4 of {BIG} host(s)"


async def test_a_substring_search_narrows_the_hosts(config: Path) -> None:
    app = EzpzApp(aurora(config, hosts=BIG))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        await paste_into(app, pilot, "#host-search", "X4001C7")
        rows = job_screen(app).query_one(HostsTable).rows
        assert len(rows) == 8
        assert all(r.host.startswith("x4001c7s") for r in rows)


async def test_a_malformed_search_is_an_error_in_the_count_never_a_traceback(
    config: Path,
) -> None:
    app = EzpzApp(aurora(config, hosts=BIG))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        await paste_into(app, pilot, "#host-search", "x4000c0s[0-")
        count = shown(app, "#hosts-count")
        assert count.startswith(f"0 of {BIG} host(s): ")
        assert len(count) > len(f"0 of {BIG} host(s): ")
        assert job_screen(app).query_one(HostsTable).rows == []
        assert app.is_running
        assert errors(app) == []

        await type_into(app, pilot, "#host-search", "")
        assert len(job_screen(app).query_one(HostsTable).rows) == BIG


async def open_job_tab(app: EzpzApp, pilot: Pilot[None], tab: str) -> None:
    """The job view, then ``tab`` by a click on its name in the tab bar."""
    await pilot.press("f3")
    await settle(app, pilot)
    await pilot.click(f"#--content-tab-{tab}")
    await settle(app, pilot)
    assert job_screen(app).query_one(TabbedContent).active == tab


async def test_the_environment_tab_shows_launcher_variables_with_secrets_masked(
    config: Path,
) -> None:
    place = aurora(config)
    token = "pbs-token-value-9876543210"
    place = dataclasses.replace(place, env={**place.env, "PBS_API_TOKEN": token})
    app = EzpzApp(place)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await open_job_tab(app, pilot, "env")
        cells = table_cells(job_screen(app).query_one("#env-table", DataTable))
        env = {name: value for name, value in cells}
        assert env["PBS_JOBID"] == place.env["PBS_JOBID"]
        assert env["PBS_API_TOKEN"] == "******"
        everything = " ".join(" ".join(row) for row in cells)
        assert token not in everything
        assert place.env["WANDB_API_KEY"] not in everything


async def test_the_checks_tab_lists_every_check(config: Path) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await open_job_tab(app, pilot, "checks")
        text = shown(app, "#checks-text")
        for name in ("scheduler", "hostfile", "launcher", "accelerators", "plan"):
            assert name in text
        assert "r re-runs the checks" in text


@pytest.mark.parametrize(("key", "tab"), [("c", "checks"), ("e", "env"), ("h", "hosts")])
async def test_tab_keys_switch_tabs_from_the_tab_bar(config: Path, key: str, tab: str) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await open_job_tab(app, pilot, "checks" if tab != "checks" else "env")
        await pilot.press(key)
        await settle(app, pilot)
        assert job_screen(app).query_one(TabbedContent).active == tab


@pytest.mark.parametrize(("key", "tab"), [("c", "checks"), ("e", "env")])
async def test_tab_keys_switch_tabs_from_the_hosts_table(config: Path, key: str, tab: str) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert isinstance(app.focused, HostsTable)
        await pilot.press(key)
        await settle(app, pilot)
        assert job_screen(app).query_one(TabbedContent).active == tab


async def test_r_reruns_the_checks(config: Path) -> None:
    app = EzpzApp(aurora(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert "scheduler" in shown(app, "#checks-text")
        await pilot.press("r")
        await settle(app, pilot)
        text = shown(app, "#checks-text")
        assert "scheduler" in text
        assert "launcher" in text


async def test_a_hostfile_typed_in_the_form_shows_in_the_job_view(
    config: Path, tmp_path: Path
) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("nid001000\n")
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await paste_into(app, pilot, "#field-hostfile", str(hostfile))
        await pilot.press("f3")
        await settle(app, pilot)
        assert shown(app, "#hostfile") == f"hostfile: {hostfile} (from the launch form)"
        assert [r.host for r in job_screen(app).query_one(HostsTable).rows] == ["nid001000"]


# --- the terminal -------------------------------------------------------------------------


def test_no_color_turns_colour_off(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert EzpzApp(laptop(config)).no_color


def test_colour_is_on_without_no_color(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert not EzpzApp(laptop(config)).no_color


async def test_the_file_picker_opens_when_the_working_directory_is_gone(config: Path) -> None:
    """The fixtures' working directory does not exist: the picker starts at home, and
    escape brings the form back (it crashed the console once)."""
    from ezpz_tui.screens.dialogs import FilePicker

    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert isinstance(app.screen, FilePicker)
        assert app.screen.start.is_dir()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)
        assert app.is_running


async def test_an_unknown_filter_profile_from_the_flags_shows_its_error(config: Path) -> None:
    app = EzpzApp(laptop(config, form=LaunchForm(filter_profile="bogus")))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "unknown filter profile 'bogus'" in shown(app, "#error-filter_profile")
        assert app.preview is not None and app.preview.plan is None


@pytest.mark.parametrize(
    ("flags", "profile"),
    [([], ""), (["--no-filter"], "none"), (["--filter-profile", "aurora"], "aurora")],
)
def test_the_flags_fill_the_console_form(flags: list[str], profile: str) -> None:
    from ezpz_tui.cli import build_parser, console_form, split_argv

    parser = build_parser()
    ours, command = split_argv(parser, [*flags, "-n", "8", "--ppn", "4", "--", "python3", "t.py"])
    form = console_form(parser.parse_args(ours), command)
    assert (form.np, form.ppn, form.command, form.filter_profile) == (
        "8",
        "4",
        "python3 t.py",
        profile,
    )


async def test_the_job_view_catches_up_with_edits_made_while_it_was_hidden(
    config: Path, tmp_path: Path
) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("nid001001\n")
    app = EzpzApp(perlmutter(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert len(job_screen(app).query_one(HostsTable).rows) == 2
        await pilot.press("f2")
        await settle(app, pilot)
        await paste_into(app, pilot, "#field-hostfile", str(hostfile))
        await pilot.press("f3")
        await settle(app, pilot)
        assert [r.host for r in job_screen(app).query_one(HostsTable).rows] == ["nid001001"]
        assert shown(app, "#hostfile") == f"hostfile: {hostfile} (from the launch form)"


async def test_a_corrupt_settings_file_starts_with_the_default_theme_and_says_so(
    config: Path,
) -> None:
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.toml").write_text("theme = [unclosed\n")
    app = EzpzApp(laptop(config))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.theme == "ezpz-dark"
        messages = [n.message for n in app._notifications]
        assert any("settings.toml" in m for m in messages), messages


async def test_run_pressed_before_the_plan_starts_once_it_is_ready(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ctrl+g while the job is still detected is not lost: the run starts with the
    form as soon as its plan is ready (the start itself is recorded, not spawned)."""
    app = EzpzApp(laptop(config, LaunchForm(np="2", command="python3 train.py")))
    started: list[LaunchForm] = []
    monkeypatch.setattr(app, "start_run", started.append)
    async with app.run_test(size=SIZE) as pilot:
        screen = launch_screen(app)
        app.preview = None  # as before the first plan arrives
        screen.action_run()
        assert started == [] and screen.run_when_planned
        screen.replan()
        await settle(app, pilot)
        assert started == [screen.read_form()]
        assert not screen.run_when_planned
        screen.action_run()  # the plan is here: at once
        assert len(started) == 2
