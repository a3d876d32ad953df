"""Smoothing as TensorBoard users know it: a debiased exponential moving average.

People compare our charts with TensorBoard's and wandb's, so the slider means the
same thing: weight 0.6 here looks like 0.6 there. The average is debiased (divided
by ``1 - w**n``) so that the first points are not dragged towards zero.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

WEIGHTS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)  # the steps keys move through (0: off)


def ema(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's debiased EMA of ``values``; non-finite values come out NaN.

    A non-finite value neither enters the average nor counts for the debias, so
    the line resumes after a NaN where it left off. A constant input comes back
    unchanged (as TensorBoard does): debiasing in floating point would otherwise
    leave last-digit noise that an auto-scaled y axis blows up into a wobble.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight} is out of range; pass 0 <= weight < 1")
    out = [v if math.isfinite(v) else math.nan for v in values]
    if weight == 0.0:
        return out
    finite = [v for v in out if not math.isnan(v)]
    if not finite or min(finite) == max(finite):
        return out
    last = 0.0
    seen = 0
    keep = 1.0 - weight
    for i, v in enumerate(out):
        if math.isnan(v):
            continue
        last = last * weight + keep * v
        seen += 1
        out[i] = last / (1.0 - weight**seen)
    return out


def ema_buckets(means: Sequence[float], weight: float, per: int) -> list[float]:
    """The EMA over bucket means, each standing for ``per`` points.

    The weight per bucket is ``weight**per``: ``per`` steps of the point-wise
    average in one, so a chart keeps its look when its buckets merge.
    """
    if per < 1:
        raise ValueError(f"points per bucket {per} is out of range; pass 1 or more")
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight {weight} is out of range; pass 0 <= weight < 1")
    return ema(means, weight**per)


def step_weight(weight: float, direction: int) -> float:
    """The next (``direction`` > 0) or previous (< 0) weight of ``WEIGHTS``, clamped.

    A weight between two steps (set in a config) moves to the neighbouring step
    in that direction; ``direction`` 0 leaves it as it is.
    """
    if direction > 0:
        return WEIGHTS[min(bisect_right(WEIGHTS, weight), len(WEIGHTS) - 1)]
    if direction < 0:
        return WEIGHTS[max(bisect_left(WEIGHTS, weight) - 1, 0)]
    return weight
