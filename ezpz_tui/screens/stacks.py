"""The stacks panel: one dump of every rank's live stack, grouped, the suspect
first, and which ranks moved since the dump before it.

The dump itself (py-spy on each rank, in parallel) runs in the app's worker;
this screen only shows a report and asks for another (``d``).
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ezpz_core.hang.groups import Report, moved, rank_ranges, render_text


def moved_text(before: Report | None, after: Report) -> str:
    """What changed since the dump before (the point of taking two)."""
    if before is None:
        return "first dump of this run: d takes another to see which ranks move"
    ranks = moved(before, after)
    took = after.t - before.t
    if not ranks:
        return f"no rank moved in the {took:.0f} s since the dump before (stuck where shown)"
    return f"moved in the {took:.0f} s since the dump before: ranks {rank_ranges(ranks)}"


class StacksScreen(ModalScreen[None]):
    CSS_PATH = "stacks.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("d", "again", "Dump again", tooltip="Take another dump and compare"),
    ]

    def __init__(self, report: Report, compared: str, saved: str) -> None:
        super().__init__()
        self.report, self.compared, self.saved = report, compared, saved
        self.text = render_text(report)

    def compose(self) -> ComposeResult:
        with Vertical(id="stacks-box"):
            yield Label("live stacks of every rank", classes="dialog-title")
            yield Label(self.compared, id="stacks-moved", markup=False)
            with VerticalScroll(id="stacks-scroll"):
                yield Static(self.text, id="stacks-text", markup=False)
            yield Label(
                f"saved: {self.saved} · d dumps again · escape closes",
                classes="dialog-hint",
                markup=False,
            )

    def on_resize(self, _event: events.Resize) -> None:
        """The report drawn to the panel's width (its lines wrap where they fit)."""
        width = self.query_one("#stacks-scroll").content_size.width
        if width > 20:
            self.text = render_text(self.report, width - 1)
            self.query_one("#stacks-text", Static).update(self.text)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_again(self) -> None:
        self.dismiss(None)
        self.app.run_worker(self.app.run_action("dump_stacks"), exclusive=False)
