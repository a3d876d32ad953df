"""What the console's views share: typed access to the app's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

if TYPE_CHECKING:
    from ezpz_tui.app import EzpzApp
    from ezpz_tui.surroundings import Surroundings


class ConsoleScreen(Screen[None]):
    @property
    def console(self) -> EzpzApp:
        return cast("EzpzApp", self.app)

    @property
    def surroundings(self) -> Surroundings:
        return self.console.surroundings
