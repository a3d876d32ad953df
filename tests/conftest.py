"""Shared fixtures: emulated jobs and a clean environment."""

from __future__ import annotations

import os
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
