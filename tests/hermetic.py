"""A PATH with every program of this machine's but no batch-system client.

Installing Debian's ``slurm-wlm`` (as ``.ci/run`` does for the real-Slurm tests)
puts ``sbatch`` in ``/usr/bin``, and ``sbatch`` on PATH is how a login node is
told apart from a laptop. Tests of a laptop use this PATH instead of
``/usr/bin:/bin``, so what they see does not depend on what else is installed.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

# every client a scheduler is recognised by or driven with
SCHEDULER_CLIENTS = frozenset(
    {
        *("sbatch", "srun", "salloc", "squeue", "scontrol", "scancel", "sinfo"),
        *("sacct", "sattach", "sstat"),
        *("qsub", "qstat", "qdel", "qalter", "qrls", "qhold", "pbsnodes"),
    }
)
ROOT = Path("/tmp/ezpz-tui-hermetic-path")


@cache
def no_scheduler_path(dirs: tuple[str, ...] = ("/usr/bin", "/bin")) -> str:
    """One directory of links to the programs in ``dirs`` (first wins), less the
    scheduler clients; built once per test process, atomically."""
    target = ROOT / f"bin-{os.getpid()}"
    if not target.exists():
        tmp = ROOT / f".tmp-{os.getpid()}"
        tmp.mkdir(parents=True, exist_ok=True)
        for directory in dirs:
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                link = tmp / entry.name
                if entry.name in SCHEDULER_CLIENTS or os.path.lexists(link):
                    continue
                os.symlink(entry.path, link)
        os.replace(tmp, target)
    return str(target)
