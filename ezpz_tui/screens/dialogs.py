"""Small modal dialogs: a name, one choice from a list, a file.

Each is a ``ModalScreen[str | None]``: it returns the answer, or None on escape.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label, OptionList
from textual.widgets.option_list import Option


class _Dialog(ModalScreen[str | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def answer(self, value: str | None) -> None:
        """Dismiss once: a second event (a double enter) must not pop another screen."""
        if self.is_current:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.answer(None)


class NameDialog(_Dialog):
    """Ask for a name; ``check`` returns an error message for a name it refuses."""

    def __init__(self, title: str, placeholder: str = "", value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="name", compact=True)
            yield Label("enter to accept, escape to cancel", classes="dialog-hint")

    @on(Input.Submitted)
    def accept(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if name:
            self.answer(name)


class ChooseDialog(_Dialog):
    """Pick one of ``choices`` ((label, value) pairs)."""

    def __init__(self, title: str, choices: list[tuple[str, str]], empty: str) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.empty = empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.choices:
                options = [Option(label, id=str(i)) for i, (label, _) in enumerate(self.choices)]
                yield OptionList(*options, id="choices")
            else:
                yield Label(self.empty, classes="dialog-hint")
            yield Label("enter to choose, escape to cancel", classes="dialog-hint")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.answer(self.choices[int(event.option.id or 0)][1])


class FilePicker(_Dialog):
    """Browse for a file from ``start``; the path can also be typed."""

    def __init__(self, start: str) -> None:
        super().__init__()
        # a working directory that was removed (or a stale one) must not break the picker
        candidates = (Path(start), Path.home(), Path("/"))
        self.start = next(p for p in candidates if p.is_dir())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -tall"):
            yield Label("hostfile: choose a file, or type its path", classes="dialog-title")
            yield Input(placeholder="path, then enter", id="path", compact=True)
            yield DirectoryTree(self.start, id="tree")
            yield Label("enter to choose, escape to cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(DirectoryTree).focus()

    @on(DirectoryTree.FileSelected)
    def file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.answer(str(event.path))

    @on(Input.Submitted, "#path")
    def path_typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.answer(event.value.strip())


class SearchPicker(_Dialog):
    """Pick one of ``names``, narrowed as you type (every word must appear)."""

    def __init__(self, title: str, names: list[str], empty: str) -> None:
        super().__init__()
        self.title_text = title
        self.names = names
        self.empty = empty
        self.shown: list[str] = list(names)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -tall"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder="type to narrow, enter to choose", id="query", compact=True)
            yield OptionList(*[Option(n) for n in self.names], id="choices")
            yield Label(
                self.empty if not self.names else "up/down to move, escape to cancel",
                classes="dialog-hint",
                id="picker-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        if self.names:
            self.query_one("#choices", OptionList).highlighted = 0

    @on(Input.Changed, "#query")
    def narrow(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        self.shown = [n for n in self.names if all(w in n.lower() for w in words)]
        options = self.query_one("#choices", OptionList)
        options.clear_options()
        options.add_options([Option(n) for n in self.shown])
        if self.shown:
            options.highlighted = 0
        hint = f"{len(self.shown)} of {len(self.names)}" if words else ""
        self.query_one("#picker-hint", Label).update(hint or "up/down to move, escape to cancel")

    def on_key(self, event: events.Key) -> None:
        """Up and down move in the list while typing in the field."""
        options = self.query_one("#choices", OptionList)
        if event.key in ("up", "down") and self.shown:
            current = options.highlighted or 0
            step = 1 if event.key == "down" else -1
            options.highlighted = max(0, min(len(self.shown) - 1, current + step))
            event.stop()

    @on(Input.Submitted, "#query")
    def typed(self, _event: Input.Submitted) -> None:
        index = self.query_one("#choices", OptionList).highlighted
        if self.shown and index is not None:
            self.answer(self.shown[index])

    @on(OptionList.OptionSelected, "#choices")
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.answer(self.shown[event.option_index])
