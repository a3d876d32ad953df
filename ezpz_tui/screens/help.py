"""The help screen: every key of the view it was opened from, with what it does."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close help"),
    ]

    def __init__(self, view: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.view = view
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label(f"keys of the {self.view} view", id="help-title")
            yield DataTable(id="help-keys", show_cursor=False, zebra_stripes=True)
            yield Label("tab / shift+tab: next / previous field · escape: close", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "does")
        for key, does in self.keys:
            table.add_row(key, does)

    def action_close(self) -> None:
        self.dismiss(None)
