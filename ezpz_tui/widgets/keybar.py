"""The key bar at the bottom: the keys the focused view offers, with what they do.

One widget that draws text, instead of Textual's ``Footer`` (a widget per key,
recomposed on every focus change): the console's first frame is cheaper, and the
bar still follows the focus, because it redraws on the screen's
``bindings_updated_signal``.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widgets import Static

from ezpz_tui.widgets.styles import css_beside


class KeyBar(Static):
    DEFAULT_CSS = css_beside(__file__)
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        text_style = self.get_component_rich_style("keybar--description")
        text = Text(no_wrap=True, overflow="ellipsis")
        here = f"switch_mode('{self.app.current_mode}')"  # no key for the view you are in
        shown: set[str] = {here}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in shown or not binding.description:
                continue
            shown.add(binding.action)
            text.append(f" {self.app.get_key_display(binding)} ", key_style)
            text.append(f"{binding.description} ", text_style)
        if text.cell_len + 11 <= self.size.width:
            text.append(" ^p ", key_style)
            text.append("palette", text_style)
        return text
