"""A one-line choice among a few values: ``< auto >``, cycled with keys or a click.

Lighter than a ``Select`` (one widget, no overlay), so a form of ten fields paints
its first frame fast on a login node, and it needs no mouse: left/right (or
space/enter) step through the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ezpz_tui.widgets.styles import css_beside


class Choice(Static, can_focus=True):
    DEFAULT_CSS = css_beside(__file__)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,space,enter", "step(1)", "Next value", show=False),
        Binding("left", "step(-1)", "Previous value", show=False),
    ]

    value: reactive[str] = reactive("", init=False)

    @dataclass
    class Changed(Message):
        choice: Choice
        value: str

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, options: list[tuple[str, str]], value: str, id: str | None = None) -> None:
        if value and value not in [v for _, v in options]:
            options = [*options, (value, value)]  # a bad flag stays, so its error shows
        self.options = options
        self.values = [v for _, v in options]
        chosen = value if value in self.values else self.values[0]
        label = next(text for text, v in options if v == chosen)
        super().__init__(f"< {label} >", id=id, markup=False)
        self.set_reactive(Choice.value, chosen)

    def _label(self) -> str:
        return next((label for label, v in self.options if v == self.value), self.value)

    def _show(self) -> None:
        self.update(f"< {self._label()} >")

    def validate_value(self, value: str) -> str:
        return value if value in self.values else self.value

    def watch_value(self) -> None:
        self._show()
        self.post_message(self.Changed(self, self.value))

    def action_step(self, step: int) -> None:
        values = self.values
        self.value = values[(values.index(self.value) + step) % len(values)]

    def on_click(self) -> None:
        self.action_step(1)
