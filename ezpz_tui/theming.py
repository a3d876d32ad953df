"""Themes as data: the TOML files of ``ezpz_tui.themes`` (the repository's ``themes/``).

Each file holds the fields of ``textual.theme.Theme``; unknown keys and bad
files are reported, never fatal, so a broken theme cannot stop the console.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.theme import Theme

DEFAULT_THEME = "ezpz-dark"


@dataclass(frozen=True)
class LoadedThemes:
    themes: list[Theme]
    problems: list[str]  # one line per file that could not be used


def _theme_from(data: dict[str, Any], source: str) -> Theme:
    from textual.theme import Theme

    known = {f.name for f in fields(Theme)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}")
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ValueError(f"{source}: needs name and primary")
    return Theme(**data)


def load_themes() -> LoadedThemes:
    themes: list[Theme] = []
    problems: list[str] = []
    folder = resources.files("ezpz_tui.themes")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            themes.append(_theme_from(tomllib.loads(entry.read_text("utf-8")), entry.name))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError, TypeError) as e:
            problems.append(f"theme {entry.name} skipped: {e}")
    return LoadedThemes(themes, problems)
