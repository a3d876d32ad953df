"""Shared fixtures: emulated jobs and a clean environment."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import PbsJob, make_pbs_job
from tests.hermetic import no_scheduler_path


@pytest.fixture
def aurora(tmp_path: Path) -> PbsJob:
    """The reference's AUR2 job: two Aurora nodes, NGPU_PER_HOST=12."""
    return make_pbs_job(tmp_path, extra_env={"NGPU_PER_HOST": "12"})


@pytest.fixture
def clean_env() -> dict[str, str]:
    """A minimal environment with no scheduler, launcher or rank variables."""
    return {"PATH": no_scheduler_path(), "HOME": os.environ.get("HOME", "/root")}


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC for the test: screens that show local times (start
    times, run directory names, a script's stamp) are the same everywhere."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()
