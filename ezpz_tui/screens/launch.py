"""The launch view (the default): a form whose argv preview follows every keystroke.

Each change of a field starts a planning worker (exclusive: a newer keystroke
supersedes it) that runs ``ezpz_core``'s planner and posts ``PreviewReady``; the
answer for an older form state is dropped. The screen then shows the argv, each
field's error beside it, and publishes the preview on the app for the job bar and
the job view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Static

from ezpz_core.kinds import LauncherChoice, RankIO
from ezpz_tui.config import ConfigError, ConsoleConfig
from ezpz_tui.form import FIELD_SPECS, LaunchForm, filter_choices
from ezpz_tui.messages import PreviewReady
from ezpz_tui.screens.base import ConsoleScreen
from ezpz_tui.widgets.argv_preview import ArgvPreview
from ezpz_tui.widgets.choice import Choice
from ezpz_tui.widgets.jobbar import JobBar
from ezpz_tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from ezpz_tui.preview import Planner
    from ezpz_tui.submitting import BatchForm

CHOICES: dict[str, list[tuple[str, str]]] = {
    "launcher": [(c.value, c.value) for c in LauncherChoice],
    "rank_io": [(r.value, r.value) for r in RankIO],
}


def describe_form(form: LaunchForm) -> str:
    """One line for a recent form: its non-default fields, then the command."""
    defaults = LaunchForm()
    parts = [
        f"{spec.label}={getattr(form, spec.name)}"
        for spec in FIELD_SPECS
        if spec.name != "command" and getattr(form, spec.name) != getattr(defaults, spec.name)
    ]
    parts.append(form.command or "(the reference workload)")
    return " · ".join(parts)


class LaunchScreen(ConsoleScreen):
    CSS_PATH = "launch.tcss"
    AUTO_FOCUS = "#field-np"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+g", "run", "Run", tooltip="Start the job and watch every rank"),
        Binding(
            "ctrl+n",
            "submit",
            "Submit",
            tooltip="Submit it as a batch job (sbatch / qsub), then follow it",
        ),
        Binding("ctrl+y", "copy_command", "Copy", tooltip="Copy the command (OSC 52)"),
        Binding("ctrl+s", "save_profile", "Save", tooltip="Save the form as a named profile"),
        Binding("ctrl+o", "load_profile", "Load", tooltip="Load a saved profile"),
        Binding("ctrl+r", "recent", "Recent", tooltip="Commands used in this directory"),
        Binding("ctrl+b", "browse_hostfile", "Hostfile", tooltip="Choose the hostfile"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.generation = 0  # of the form state last sent to the planner
        self.run_when_planned = False  # ctrl+g came before the plan

    def compose(self) -> ComposeResult:
        form = self.surroundings.form
        yield JobBar()
        with VerticalScroll(id="form"):
            for spec in FIELD_SPECS:
                yield Label(spec.label, classes="field-label", id=f"label-{spec.name}")
                yield self._control(spec.name, spec.placeholder, form, spec.help)
                yield Label("", classes="field-error", id=f"error-{spec.name}", markup=False)
        yield Static("command preview", classes="heading")
        with VerticalScroll(id="preview"):
            yield ArgvPreview(id="argv")
        yield KeyBar()

    def _control(self, name: str, placeholder: str, form: LaunchForm, help: str) -> Input | Choice:
        value = getattr(form, name)
        options = filter_choices() if name == "filter_profile" else CHOICES.get(name, [])
        if options:
            choice = Choice(options, value, id=f"field-{name}")
            choice.tooltip = f"{help}: left/right or space to change"
            return choice
        field = Input(value, placeholder=placeholder, id=f"field-{name}", compact=True)
        field.tooltip = help
        return field

    # state ------------------------------------------------------------------
    def read_form(self) -> LaunchForm:
        values: dict[str, str] = {}
        for spec in FIELD_SPECS:
            widget = self.query_one(f"#field-{spec.name}")
            value = widget.value
            values[spec.name] = value if isinstance(value, str) else ""
        return LaunchForm(**values)

    def fill_form(self, form: LaunchForm) -> None:
        """Put ``form`` in the fields (a profile, a recent command); each change
        re-plans, and the answer for the last one wins."""
        for spec in FIELD_SPECS:
            widget = self.query_one(f"#field-{spec.name}")
            widget.value = getattr(form, spec.name)  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.watch(self.app, "planner", self._planner_changed)
        self.watch(self.app, "detect_error", self._detect_failed)

    def _planner_changed(self, planner: Planner | None) -> None:
        self.refresh_bindings()  # Submit shows once the job says this is a login node
        self.replan()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit":
            return self.console.submit_kind() is not None
        return True

    def _detect_failed(self, error: str | None) -> None:
        if error:
            self.query_one(JobBar).show(None, None, error)

    @on(Input.Changed)
    @on(Choice.Changed)
    def field_changed(self) -> None:
        self.replan()

    def replan(self) -> None:
        planner = self.console.planner
        if planner is None:
            return
        self.generation += 1
        self.plan_form(planner, self.read_form(), self.generation)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False, description="plan")
    def plan_form(self, planner: Planner, form: LaunchForm, generation: int) -> None:
        self.post_message(PreviewReady(planner.preview(form), generation))

    @on(PreviewReady)
    def show_preview(self, message: PreviewReady) -> None:
        if message.generation != self.generation:
            return  # an older keystroke's answer
        preview = message.preview
        for spec in FIELD_SPECS:
            error = preview.errors.get(spec.name, "")
            self.query_one(f"#error-{spec.name}", Label).update(error)
            self.query_one(f"#error-{spec.name}").set_class(bool(error), "-invalid")
            self.query_one(f"#label-{spec.name}").set_class(bool(error), "-invalid")
        self.query_one(ArgvPreview).show(preview)
        planner = self.console.planner
        self.query_one(JobBar).show(planner.job if planner else None, preview, None)
        self.console.preview = preview
        if self.run_when_planned:
            self.action_run()

    # actions ----------------------------------------------------------------
    @property
    def _config(self) -> ConsoleConfig:
        return self.surroundings.config

    def action_run(self) -> None:
        """Start the previewed job (``ezpz-tui --run`` in its own session) and attach."""
        preview = self.console.preview
        form = self.read_form()
        if preview is None or preview.form != form:
            # the job is still being detected or planned: run once the plan is here
            self.run_when_planned = True
            self.notify("planning the job: it starts as soon as the plan is ready", timeout=3)
            return
        self.run_when_planned = False
        if preview.plan is None or preview.errors or preview.problem:
            self.notify("fix the form first: the preview shows what is wrong", severity="warning")
            return
        self.console.start_run(form)

    def action_submit(self) -> None:
        """Ask for the batch fields, showing the script they make; the app submits."""
        from ezpz_tui.form import parse_form
        from ezpz_tui.screens.submit import SubmitDialog

        kind = self.console.submit_kind()
        form = self.read_form()
        if kind is None:
            self.notify("Submit needs a login node of a batch system (PBS or Slurm)")
            return
        # each field must make sense; how they fit the nodes is the job's to check
        # (this login node is not the job: "-n 24 needs 2 hosts" is no error here)
        parsed = parse_form(form)
        if parsed.request is None:
            problems = "; ".join(parsed.errors.values())
            self.notify(f"fix the form first: {problems}", severity="warning")
            return

        def submit(batch: BatchForm | None) -> None:
            if batch is not None:
                self.console.submit_job(form, batch)

        self.app.push_screen(
            SubmitDialog(
                f"submit to {kind.value} ({'sbatch' if kind.value == 'slurm' else 'qsub'})",
                self.console.last_batch(form),
                lambda batch: self.console.script_preview(form, batch),
            ),
            submit,
        )

    def action_copy_command(self) -> None:
        line = self.query_one(ArgvPreview).command_line
        if not line:
            self.notify("nothing to copy: the form has an error", severity="warning")
            return
        self.app.copy_to_clipboard(line)
        self._remember()
        self.notify("command copied to the clipboard (OSC 52)")

    def _remember(self) -> None:
        try:
            self._config.remember(self.surroundings.cwd, self.read_form())
        except ConfigError as exc:
            self.notify(str(exc), severity="warning")

    def action_save_profile(self) -> None:
        from ezpz_tui.screens.dialogs import NameDialog

        def save(name: str | None) -> None:
            if not name:
                return
            try:
                path = self._config.save_profile(name, self.read_form())
            except ConfigError as exc:
                self.notify(str(exc), severity="error")
                return
            self._remember()
            self.notify(f"profile {name} saved to {path}")

        self.app.push_screen(NameDialog("save the form as profile", "e.g. aurora-2node"), save)

    def action_load_profile(self) -> None:
        from ezpz_tui.screens.dialogs import ChooseDialog

        def load(name: str | None) -> None:
            if not name:
                return
            try:
                form = self._config.load_profile(name)
            except ConfigError as exc:
                self.notify(str(exc), severity="error")
                return
            self.fill_form(form)
            self.notify(f"profile {name} loaded")

        names = self._config.profile_names()
        choices = [(n, n) for n in names]
        empty = f"no profiles yet in {self._config.profiles_dir} (ctrl+s saves one)"
        self.app.push_screen(ChooseDialog("load a profile", choices, empty), load)

    def action_recent(self) -> None:
        from ezpz_tui.screens.dialogs import ChooseDialog

        try:
            forms = self._config.recent(self.surroundings.cwd)
        except ConfigError as exc:
            self.notify(str(exc), severity="error")
            return
        by_key = {str(i): f for i, f in enumerate(forms)}

        def pick(key: str | None) -> None:
            if key is not None:
                self.fill_form(by_key[key])

        choices = [(describe_form(f), str(i)) for i, f in enumerate(forms)]
        empty = "no commands used here yet (ctrl+y copies one and remembers it)"
        self.app.push_screen(
            ChooseDialog("recent commands in this directory", choices, empty), pick
        )

    def action_browse_hostfile(self) -> None:
        from ezpz_tui.screens.dialogs import FilePicker

        def chosen(path: str | None) -> None:
            if path:
                self.query_one("#field-hostfile", Input).value = path

        self.app.push_screen(FilePicker(self.surroundings.cwd), chosen)
