"""The console app: wires screens, global keys, themes and config, nothing else.

State shared by the views lives in three reactives: ``planner`` (the detected
job, ready to plan forms), ``preview`` (the launch form's current plan) and
``detect_error``. Discovery runs in a worker, so the first frame never waits for
``nvidia-smi`` or ``mpirun --version``.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import socket
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import ActiveBinding, Binding, BindingType
from textual.dom import DOMNode
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from ezpz_core.errors import EzpzError
from ezpz_tui.chartkeeper import ChartKeeper
from ezpz_tui.config import ConfigError
from ezpz_tui.form import LaunchForm
from ezpz_tui.messages import (
    ChartsChanged,
    DetectFailed,
    JobCancelled,
    JobDetected,
    JobSubmitted,
    RunChanged,
    StacksReady,
)
from ezpz_tui.runkeeper import RunKeeper
from ezpz_tui.screens.launch import LaunchScreen
from ezpz_tui.surroundings import Surroundings
from ezpz_tui.theming import DEFAULT_THEME, load_themes

if TYPE_CHECKING:
    from ezpz_core.kinds import SchedulerKind
    from ezpz_core.submit.follow import JobFollower
    from ezpz_tui.preview import Planner, Preview
    from ezpz_tui.submitting import BatchForm
    from ezpz_tui.watch.run import RunWatch

# Fallbacks for our theme variables, so Textual's built-in themes work too.
THEME_VARIABLE_DEFAULTS = {
    "argv-launcher": "#4EA8DE",
    "argv-flag": "#B48EAD",
    "argv-wrapper": "#7B8494",
    "argv-command": "#6CC08B",
}


def _run_screen() -> Screen[None]:
    from ezpz_tui.screens.run import RunScreen

    return RunScreen()


def _charts_screen() -> Screen[None]:
    from ezpz_tui.screens.charts import ChartsScreen

    return ChartsScreen()


def _runs_screen() -> Screen[None]:
    from ezpz_tui.screens.runs import RunsScreen

    return RunsScreen()


def _job_screen() -> Screen[None]:
    """The job view, imported when first opened (the first frame is the launch view)."""
    from ezpz_tui.screens.job import JobScreen

    return JobScreen()


class EzpzApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "ezpz-tui"
    MODES: ClassVar[dict[str, Callable[[], Screen[None]]]] = {  # type: ignore[assignment]
        "launch": LaunchScreen,
        "job": _job_screen,
        "run": _run_screen,
        "charts": _charts_screen,
        "runs": _runs_screen,
    }
    DEFAULT_MODE = "launch"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help", tooltip="Every key (? outside a text field)"),
        Binding("f2", "switch_mode('launch')", "Launch", tooltip="The launch form and preview"),
        Binding("f3", "switch_mode('job')", "Job", tooltip="Hosts, checks and environment"),
        Binding("f4", "switch_mode('run')", "Run", tooltip="The attached run: every rank"),
        Binding("f5", "switch_mode('charts')", "Charts", tooltip="Loss, throughput, any metric"),
        Binding(
            "f6", "switch_mode('runs')", "Runs", tooltip="Every run under the output directory"
        ),
        Binding("ctrl+t", "change_theme", "Theme", show=False, tooltip="Pick a theme"),
        Binding("q", "quit", "Quit", tooltip="Quit (ctrl+q works in any field)"),
    ]

    planner: reactive[Planner | None] = reactive(None, init=False)
    # always_update: a re-check gives an equal preview, and the job view must still re-run
    preview: reactive[Preview | None] = reactive(None, init=False, always_update=True)
    detect_error: reactive[str | None] = reactive(None, init=False)
    run_generation: reactive[int] = reactive(0, init=False)  # the attached run changed
    charts_generation: reactive[int] = reactive(0, init=False)  # a charted run changed

    def __init__(
        self, surroundings: Surroundings, attach: Path | None = None, history: Path | None = None
    ) -> None:
        super().__init__()
        self.surroundings = surroundings
        self.runs = RunKeeper(self)
        self.auto_dumped: set[Path] = set()  # runs whose silent ranks were dumped once
        self.charts = ChartKeeper(self)
        self._attach_first = attach
        self._history_first = history
        loaded = load_themes()
        self.theme_problems = loaded.problems
        for theme in loaded.themes:
            self.register_theme(theme)
        self.theme = self._saved_theme()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **THEME_VARIABLE_DEFAULTS}

    def _saved_theme(self) -> str:
        try:
            saved = self.surroundings.config.settings().get("theme")
        except ConfigError as exc:
            self.theme_problems.append(str(exc))
            saved = None
        if isinstance(saved, str) and saved in self.available_themes:
            return saved
        return DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        for problem in self.theme_problems:
            self.notify(problem, severity="warning")
        self.call_after_refresh(self.action_detect)  # paint first, then discover
        # What start-up made (Textual, our modules, the first screen) lives for the
        # whole session: moved out of the collector's sight, a full collection
        # during a live view costs ~10 ms instead of 40-80 (docs/performance.md)
        self.call_after_refresh(gc.freeze)
        if self._attach_first is not None:
            self.attach(self._attach_first)
        elif self._history_first is not None:
            self.charts.show_history(self._history_first)
            self.switch_mode("charts")

    def _remember_theme(self, theme: Theme) -> None:
        try:
            self.surroundings.config.save_setting("theme", theme.name)
        except ConfigError as exc:
            self.notify(str(exc), severity="warning")

    # runs ---------------------------------------------------------------------
    @property
    def run_watch(self) -> RunWatch | None:
        return self.runs.watch

    def attach(self, path: Path, process: subprocess.Popen[bytes] | None = None) -> None:
        """Follow the run in ``path`` (and show it)."""
        self.runs.attach(path, process)
        self.charts.show_run(path)
        self.switch_mode("run")

    def exit(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        """Stop the watcher thread first: the app must not wait on it to end."""
        self.runs.detach()
        self.charts.stop()
        super().exit(*args, **kwargs)  # type: ignore[arg-type]

    def on_unmount(self) -> None:
        self.runs.detach()
        self.charts.stop()

    def kick_watch(self) -> None:
        self.runs.kick()

    @on(RunChanged)
    def run_changed(self, _message: RunChanged) -> None:
        self.runs.delivered()
        self.run_generation += 1
        if self.runs.quit_when_done and not self.runs.live():
            self.exit()

    @on(ChartsChanged)
    def charts_changed(self, _message: ChartsChanged) -> None:
        self.charts.delivered()
        self.charts_generation += 1

    def start_run(self, form: LaunchForm) -> None:
        from ezpz_core.errors import EzpzError as _Error
        from ezpz_tui.spawn import start_run

        s = self.surroundings
        planner = self.planner
        job_id = planner.job.job_id if planner is not None else None
        try:
            started = start_run(
                form,
                s.outdir,
                s.env,
                s.cwd,
                job_id=job_id,
                scheduler=s.scheduler.value if s.scheduler else None,
                machine=s.machine,
                python=s.python,
            )
        except (_Error, OSError) as exc:
            self.notify(f"cannot start the run: {exc}", severity="error", timeout=10)
            return
        try:
            self.surroundings.config.remember(s.cwd, form)  # a run is a use of the command
        except ConfigError as exc:
            self.notify(str(exc), severity="warning")
        self.attach(started.run_dir, started.process)

    def stop_run(self) -> None:
        """Stop the attached run: a signal to a run started here, the scheduler's
        cancel (after a yes) for a submitted job."""
        job = self.runs.job
        if job is not None and self.runs.job_cancellable():
            self._confirm_cancel(job)
            return
        message = self.runs.stop()
        self.notify(message, timeout=6)

    def _confirm_cancel(self, job: JobFollower, then_quit: bool = False) -> None:
        from ezpz_core.submit.batch import cancel_argv
        from ezpz_tui.screens.dialogs import ChooseDialog

        assert job.client is not None and job.job_id is not None
        command = " ".join(cancel_argv(job.client.kind, job.job_id))
        then = ", then quit" if then_quit else ""
        choices = [(f"Cancel the job ({command}){then}", "yes"), ("Keep it", "no")]

        def answered(choice: str | None) -> None:
            if choice == "yes":
                self.runs.quit_when_done = then_quit
                self.cancel_job(job)

        self.push_screen(
            ChooseDialog(f"cancel {job.client.kind.value} job {job.job_id}?", choices, ""), answered
        )

    @work(thread=True, group="cancel", exit_on_error=False, description="cancel the job")
    def cancel_job(self, job: JobFollower) -> None:
        assert job.client is not None and job.job_id is not None
        answer = job.client.cancel(job.job_id)
        self.post_message(JobCancelled(job.job_id, answer.rc == 0, answer.message))

    @on(JobCancelled)
    def job_cancelled(self, message: JobCancelled) -> None:
        if message.ok:
            self.notify(f"job {message.job_id}: cancel sent; the queue says when it has ended")
            self.runs.ask_queue()
            return
        self.runs.quit_when_done = False
        self.notify(
            f"job {message.job_id} was not cancelled: {message.message}",
            severity="error",
            timeout=10,
        )

    async def action_quit(self) -> None:
        """Quitting while the attached job runs asks what to do with it."""
        if not self.runs.live():
            self.exit()
            return
        from ezpz_tui.screens.dialogs import ChooseDialog

        job = self.runs.job
        if job is not None and self.runs.job_cancellable():
            choices = [
                (f"Cancel job {job.job_id}, then quit", "stop"),
                (f"Leave it in the queue (ezpz-tui --attach {job.job_id})", "leave"),
                ("Cancel", "cancel"),
            ]
        else:
            path = self.runs.watch.path if self.runs.watch else ""
            choices = [
                ("Stop the job, then quit", "stop"),
                (f"Leave it running (ezpz-tui --attach {path})", "leave"),
                ("Cancel", "cancel"),
            ]

        def answered(choice: str | None) -> None:
            if choice == "stop" and job is not None and self.runs.job_cancellable():
                self.runs.quit_when_done = True
                self.cancel_job(job)
            elif choice == "stop":
                self.runs.quit_when_done = True
                self.stop_run()
            elif choice == "leave":
                self.exit()

        self.push_screen(ChooseDialog("The job is still running", choices, ""), answered)

    # the hang doctor ----------------------------------------------------------------
    def action_dump_stacks(self) -> None:
        """Every rank's live stack now (py-spy, in a worker), shown grouped."""
        watch = self.runs.watch
        if watch is None:
            self.notify("no run attached: f6 lists the runs", severity="warning")
            return
        self.notify("dumping every rank's stack…", timeout=2)
        self._dump_stacks(watch.path, "console")

    @work(thread=True, group="stacks-auto", exit_on_error=False, description="stacks")
    def dump_stacks_quietly(self, run_dir: Path, silent: int) -> None:
        """Ranks went silent: a dump saved and its suspect said, no panel opened."""
        from ezpz_core.errors import EzpzError as _Error
        from ezpz_core.hang.dump import take_dump

        try:
            dump = take_dump(run_dir, dict(self.surroundings.env), "silent")
        except _Error:
            return  # (the owner on another host: d says why when asked)
        suspect = dump.report.suspect
        said = f"suspect: {suspect.reason}" if suspect else "no rank stands out"
        self.call_from_thread(
            self.notify,
            f"{silent} rank(s) went silent: stacks saved ({said}); d shows them",
            title="hang doctor",
            severity="warning",
            timeout=10,
        )

    @work(thread=True, exclusive=True, group="stacks", exit_on_error=False, description="stacks")
    def _dump_stacks(self, run_dir: Path, reason: str) -> None:
        from ezpz_core.errors import EzpzError as _Error
        from ezpz_core.hang.dump import latest_report, take_dump
        from ezpz_tui.screens.stacks import moved_text

        before = latest_report(run_dir)
        try:
            dump = take_dump(run_dir, dict(self.surroundings.env), reason)
        except _Error as exc:
            self.post_message(StacksReady(None, "", "", str(exc).removeprefix("--stacks: ")))
            return
        compared = moved_text(before, dump.report)
        self.post_message(StacksReady(dump.report, compared, str(dump.text_path)))

    @on(StacksReady)
    def stacks_ready(self, message: StacksReady) -> None:
        from ezpz_tui.screens.stacks import StacksScreen

        if message.report is None:
            self.notify(f"no stacks: {message.error}", severity="error", timeout=10)
            return
        self.push_screen(StacksScreen(message.report, message.compared, message.saved))

    # batch jobs (a login node) --------------------------------------------------
    def submit_kind(self) -> SchedulerKind | None:
        """The batch system Submit goes to: set on a login node only."""
        from ezpz_tui.submitting import is_login_node

        planner = self.planner
        if planner is None:
            return None
        job = planner.job
        return job.scheduler if is_login_node(job.scheduler, job.in_job) else None

    def _outdir(self) -> Path:
        s = self.surroundings
        outdir = Path(os.path.expanduser(s.outdir))
        return outdir if outdir.is_absolute() else Path(s.cwd) / outdir

    def _batch_flags(self) -> list[str]:
        """``--run`` flags the job needs beyond the form's (what the user forced)."""
        s = self.surroundings
        flags = [f"--scheduler={s.scheduler.value}"] if s.scheduler else []
        return flags + ([f"--machine={s.machine}"] if s.machine else [])

    def script_preview(self, form: LaunchForm, batch: BatchForm) -> tuple[str, dict[str, str]]:
        from ezpz_tui.submitting import script_preview

        kind = self.submit_kind()
        if kind is None:
            return "", {"script": "no batch system here to submit to"}
        s = self.surroundings
        flags = self._batch_flags()
        host = s.hostname or socket.gethostname()
        outdir = self._outdir()
        return script_preview(kind, form, batch, outdir, s.cwd, flags, s.python, s.clock(), host)

    def last_batch(self, form: LaunchForm) -> BatchForm:
        """The batch fields of the last Submit; the nodes the form's ranks need
        when none were kept (``-n 8 --ppn 4``: 2)."""
        from ezpz_tui.submitting import BatchForm

        try:
            saved = self.surroundings.config.batch_fields()
        except ConfigError as exc:
            self.notify(str(exc), severity="warning")
            saved = {}
        batch = BatchForm.from_dict(saved)
        np_, ppn = form.np.strip(), form.ppn.strip()
        if np_.isdigit() and ppn.isdigit() and int(ppn) > 0:
            nodes = str(max(1, -(-int(np_) // int(ppn))))
            batch = dataclasses.replace(batch, nodes=nodes)
        return batch

    def submit_job(self, form: LaunchForm, batch: BatchForm) -> None:
        kind = self.submit_kind()
        if kind is None:
            self.notify("no batch system here to submit to", severity="error")
            return
        config = self.surroundings.config
        try:
            config.save_batch_fields(batch.to_dict())
            config.remember(self.surroundings.cwd, form)
        except ConfigError as exc:
            self.notify(str(exc), severity="warning")
        self.notify(f"submitting to {kind.value}…", timeout=3)
        self._submit(kind, form, batch)

    @work(thread=True, exclusive=True, group="submit", exit_on_error=False, description="submit")
    def _submit(self, kind: SchedulerKind, form: LaunchForm, batch: BatchForm) -> None:
        from ezpz_tui.submitting import submit_job

        s = self.surroundings
        done = submit_job(
            kind, form, batch, self._outdir(), s.cwd, s.env, self._batch_flags(), s.python
        )
        self.post_message(JobSubmitted(done.run_dir, done.job_id, done.message))

    @on(JobSubmitted)
    def job_submitted(self, message: JobSubmitted) -> None:
        if message.job_id is None or message.run_dir is None:
            self.notify(message.message, title="not submitted", severity="error", timeout=15)
            return
        self.notify(
            f"{message.message} {message.job_id}; following it here "
            f"(elsewhere: ezpz-tui --attach {message.job_id})",
            timeout=8,
        )
        self.attach(message.run_dir)

    # discovery --------------------------------------------------------------
    def action_detect(self) -> None:
        self.detect()

    @work(thread=True, exclusive=True, group="detect", exit_on_error=False, description="detect")
    def detect(self) -> None:
        try:
            job = self.surroundings.detect()
        except EzpzError as exc:
            self.post_message(DetectFailed(str(exc)))
            return
        self.post_message(JobDetected(job, self.surroundings.planner(job)))

    @on(JobDetected)
    def job_detected(self, message: JobDetected) -> None:
        self.detect_error = None
        self.planner = message.planner

    @on(DetectFailed)
    def detect_failed(self, message: DetectFailed) -> None:
        self.detect_error = message.error

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        """A bug in a worker is a notification, never a traceback over the screen."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{event.worker.description} failed: {type(error).__name__}: {error}",
                severity="error",
                timeout=10,
            )

    # keys and commands ------------------------------------------------------
    def our_bindings(self, screen: Screen[object]) -> Iterator[ActiveBinding]:
        """The bindings active on ``screen`` that help and the palette list: those of
        the app, the screen and our widgets with a description; not Textual's widget
        internals (an Input's cursor keys), nor the key of the view already shown."""
        here = f"switch_mode('{self.current_mode}')"
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.system or not binding.description or binding.action == here:
                continue
            if binding.action.startswith("app.focus"):
                continue
            node = active.node
            if node in (self, screen) or type(node).__module__.startswith("ezpz_tui."):
                yield active

    def key_rows(self) -> list[tuple[str, str]]:
        """(key, description) for the help screen: the app's and the view's keys
        first, then those of our widgets."""
        screen = self.screen
        ours: dict[str, tuple[str, str]] = {}
        widget: dict[str, tuple[str, str]] = {}
        for active in self.our_bindings(screen):
            binding = active.binding
            rows = ours if active.node in (self, screen) else widget
            text = binding.tooltip or binding.description
            rows.setdefault(binding.action, (self.get_key_display(binding), text))
        ours.setdefault("quit-q", ("q", "Quit (outside a text field; ctrl+q anywhere)"))
        return [*ours.values(), *widget.values()]

    def action_help(self) -> None:
        from ezpz_tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        view = {
            "launch": "launch",
            "job": "job",
            "run": "run",
            "charts": "charts",
            "runs": "runs",
        }.get(self.current_mode, "job")
        self.push_screen(HelpScreen(view, self.key_rows()))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen = {"Quit", "Theme", "Keys", "Screenshot", "Maximize", "Minimize"}
        for active in self.our_bindings(screen):
            binding = active.binding
            if binding.description in seen:
                continue
            seen.add(binding.description)
            key = self.get_key_display(binding)

            async def run(action: str = binding.action, node: DOMNode = active.node) -> None:
                await self.run_action(action, node)

            yield SystemCommand(binding.description, f"{binding.tooltip} ({key})", run)
