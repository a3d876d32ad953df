"""The argv the form would run, highlighted by part, and what is wrong with it.

Words are shell-quoted, so what is shown is what ``ctrl+y`` copies. A word longer
than the screen is folded; every other line breaks between words.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.widgets import Static

from ezpz_tui.widgets.styles import css_beside

if TYPE_CHECKING:
    from ezpz_tui.preview import Preview


class ArgvPreview(Static):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "argv--launcher",
        "argv--flag",
        "argv--wrapper",
        "argv--command",
        "argv--problem",
        "argv--warning",
    }

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.preview: Preview | None = None

    def show(self, preview: Preview | None) -> None:
        self.preview = preview
        self.refresh(layout=True)

    @property
    def command_line(self) -> str:
        """The shell line of the current plan ("" when there is none)."""
        plan = self.preview.plan if self.preview else None
        return shlex.join(plan.argv) if plan else ""

    def render(self) -> Text:
        from ezpz_tui.preview import argv_parts  # loaded with the first plan

        preview = self.preview
        if preview is None:
            return Text("planning...", style=self.get_component_rich_style("argv--wrapper"))
        text = Text(overflow="fold")
        if preview.plan is not None:
            for i, (word, part) in enumerate(argv_parts(preview.plan)):
                if i:
                    text.append(" ")
                text.append(shlex.quote(word), self.get_component_rich_style(f"argv--{part}"))
            for warning in preview.warnings:
                text.append(f"\n! {warning}", self.get_component_rich_style("argv--warning"))
        else:
            problem = preview.problem or "the form is incomplete"
            text.append(f"would fail: {problem}", self.get_component_rich_style("argv--problem"))
        return text
