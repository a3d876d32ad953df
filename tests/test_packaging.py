"""What ``pip install ezpz-tui`` (not editable) installs: every package of the
source tree. ``pyproject.toml`` lists packages by hand; a package left off that
list works in the editable install the tests use and is missing from a wheel
(``--submit`` and the charts view were, until this test)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_tree_is_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("ezpz_core", "ezpz_tui")
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set()
    assert listed - found == {"ezpz_tui.themes"}  # the top-level themes/ folder, mapped
