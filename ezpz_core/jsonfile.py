"""Reading the run directory's small JSON files, which may be half written.

A leaf module: the run directory's reader and the submit records both use it,
and neither may import the other's side for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None for a missing, partial or non-object file."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
