"""Submitting a job from a login node and following it through the queue.

``batch`` writes the script (pure), ``queue`` reads what the scheduler says of a
job (pure parsers), ``client`` runs ``sbatch``/``qsub``, ``scontrol``/``squeue``/
``qstat`` and ``scancel``/``qdel`` (the I/O edge), ``record`` keeps the job id and
the last state seen in the run directory, and ``follow`` puts the queue and the
run directory together into one answer: where the job is, and how it ended.
"""
