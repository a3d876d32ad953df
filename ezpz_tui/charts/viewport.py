"""Zoom and pan along the steps, with the right edge pinned while following.

A live chart is mostly watched at its newest end: while ``follow`` is on, the
window's right edge is the newest step and new points scroll in. Panning left
pins the window where the user put it; panning back to the newest step follows
again. A value, so the widget swaps it on each key and redraws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MIN_SPAN = 2.0  # steps: zooming in further shows nothing more


@dataclass(frozen=True)
class Viewport:
    """What part of the steps a chart shows, and how its y axis is scaled."""

    follow: bool = True  # right edge pinned to the newest step
    span: float | None = None  # steps shown; None: all of them
    right: float | None = None  # right edge when not following
    log_y: bool = False

    def window(self, lo: float, hi: float) -> tuple[float, float]:
        """The x range to draw, given the data's x range [lo, hi].

        Following: the last ``span`` steps; pinned: ``span`` steps ending at
        ``right``, kept inside the data; never a zero-width range.
        """
        if hi < lo:
            lo, hi = hi, lo
        if self.span is None or self.span >= hi - lo:
            left, right = lo, hi
        else:
            right = hi if self.follow or self.right is None else self.right
            right = min(max(right, lo + self.span), hi)
            left = right - self.span
        if left == right:
            return (left - 0.5, right + 0.5)
        return (left, right)

    def zoom(self, factor: float, lo: float, hi: float) -> Viewport:
        """Zoom in (``factor`` < 1) or out (> 1) around the right edge.

        The right edge stays where it is; a span covering all the data becomes
        None (all steps, following); no span is narrower than ``MIN_SPAN``.
        """
        if not factor > 0:
            raise ValueError(f"zoom factor {factor} is out of range; pass a number above 0")
        if hi < lo:
            lo, hi = hi, lo
        left, right = self.window(lo, hi)
        span = max((right - left) * factor, MIN_SPAN)
        if span >= hi - lo:
            return replace(self, follow=True, span=None, right=None)
        if self.follow:
            return replace(self, span=span, right=None)
        return replace(self, span=span, right=right)

    def pan(self, fraction: float, lo: float, hi: float) -> Viewport:
        """Move by ``fraction`` of the span (negative: towards older steps).

        Panning left stops following; reaching the newest step follows again;
        with all steps shown there is nothing to pan.
        """
        if hi < lo:
            lo, hi = hi, lo
        if self.span is None or self.span >= hi - lo:
            return self
        _, right = self.window(lo, hi)
        target = right + fraction * self.span
        if target >= hi:
            return replace(self, follow=True, right=None)
        return replace(self, follow=False, right=max(target, lo + self.span))

    def reset(self) -> Viewport:
        """Follow all the data again; the y scale stays."""
        return Viewport(log_y=self.log_y)

    def toggle_log(self) -> Viewport:
        """Switch the y axis between linear and log."""
        return replace(self, log_y=not self.log_y)

    def describe(self) -> str:
        """What the window shows, for a status line: "all steps", "last 500 steps"."""
        if self.span is None:
            return "all steps"
        if self.follow or self.right is None:
            return f"last {_steps(self.span)} steps"
        return f"steps {_steps(self.right - self.span)}-{_steps(self.right)}"


def _steps(value: float) -> str:
    """A step count or position as people write it: 500, not 500.0; 12.5 stays."""
    return str(round(value)) if abs(value - round(value)) < 1e-9 else f"{value:.4g}"
