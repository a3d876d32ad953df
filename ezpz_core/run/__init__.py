"""Running a plan: process group, per-rank streams, run directory, signals."""
