"""The hang doctor: live stacks of every rank, grouped, with the suspect named."""
