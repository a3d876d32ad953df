"""Widget CSS kept in ``.tcss`` files beside each widget module."""

from __future__ import annotations

from pathlib import Path


def css_beside(module_file: str) -> str:
    """The text of ``<module>.tcss``: a widget's DEFAULT_CSS without CSS in Python strings."""
    return Path(module_file).with_suffix(".tcss").read_text(encoding="utf-8")
