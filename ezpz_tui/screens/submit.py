"""The Submit dialog: the batch fields, and the ``job.sh`` they make, live.

Opened from the launch view on a login node. The launch form says what to run;
these fields say what to ask the scheduler for. Each keystroke redraws the
script (building it is pure and takes microseconds) and shows each field's
error beside it; enter (or ctrl+n again) returns the fields only when the
script could be written. Submitting itself happens in the app's worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ezpz_tui.submitting import BatchForm

Preview = Callable[[BatchForm], tuple[str, dict[str, str]]]

# (field, label, placeholder): what each batch field asks the scheduler for
BATCH_FIELDS = (
    ("nodes", "nodes", "1"),
    ("time", "walltime", "the queue's default (HH:MM:SS)"),
    ("queue", "queue", "the default partition / queue"),
    ("account", "account", "your default account / project"),
    ("job_name", "job name", "ezpz"),
    ("scheduler_args", "directives", "e.g. --gpus-per-node=4 or '-l filesystems=home'"),
)


class SubmitDialog(ModalScreen[BatchForm | None]):
    CSS_PATH = "submit.tcss"
    AUTO_FOCUS = "#batch-nodes"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+n", "submit", "Submit", tooltip="Submit the script shown"),
    ]

    def __init__(self, title: str, batch: BatchForm, preview: Preview) -> None:
        super().__init__()
        self.title_text = title
        self.batch = batch
        self.preview = preview
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="submit-box"):
            yield Label(self.title_text, classes="dialog-title")
            with Vertical(id="batch-form"):
                for name, label, placeholder in BATCH_FIELDS:
                    yield Label(label, classes="field-label", id=f"batch-label-{name}")
                    yield Input(
                        getattr(self.batch, name),
                        placeholder=placeholder,
                        id=f"batch-{name}",
                        compact=True,
                    )
                    yield Label("", classes="field-error", id=f"batch-error-{name}", markup=False)
            yield Label("", classes="field-error", id="batch-error-script", markup=False)
            yield Static("job.sh", classes="heading")
            with VerticalScroll(id="script-box"):
                yield Static("", id="script", markup=False)
            yield Label(
                "enter or ctrl+n submits, then follows the job · escape cancels",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self._redraw()

    def read(self) -> BatchForm:
        values = {
            f.name: self.query_one(f"#batch-{f.name}", Input).value for f in fields(BatchForm)
        }
        return BatchForm(**values)

    @on(Input.Changed)
    def changed(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        script, self.errors = self.preview(self.read())
        for name in (*(f for f, _, _ in BATCH_FIELDS), "script"):
            error = self.errors.get(name, "")
            label = self.query_one(f"#batch-error-{name}", Label)
            label.update(error)
            label.set_class(bool(error), "-invalid")
            if name != "script":
                self.query_one(f"#batch-label-{name}").set_class(bool(error), "-invalid")
        self.query_one("#script", Static).update(script or "(fix the fields above)")

    @on(Input.Submitted)
    def enter(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        if self.errors:
            self.notify("fix the batch fields first", severity="warning")
            return
        if self.is_current:
            self.dismiss(self.read())

    def action_cancel(self) -> None:
        if self.is_current:
            self.dismiss(None)
