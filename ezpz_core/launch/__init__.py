"""Launch plans: from a job and a request to the exact argv (see ``plan.py``)."""

from ezpz_core.launch.plan import LaunchPlan, make_plan, plan_launch
from ezpz_core.launch.request import LaunchRequest

__all__ = ["LaunchPlan", "LaunchRequest", "make_plan", "plan_launch"]
