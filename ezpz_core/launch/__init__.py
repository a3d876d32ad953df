"""Launch plans: from a job and a request to the exact argv (see ``plan.py``).

Nothing is imported here, so ``ezpz_core.launch.request`` (what the console's form
builds) stays cheap to import: the planner loads when a plan is made.
"""
