"""The statistics `dump compare` states its verdicts with: paired differences over seeds, their 95%
interval, and curves read on a compute axis.

A verdict compares a method with the reference (uniform by default) **paired by seed**: the same
seed gives both runs the same warm start, data and evaluation problems, so the seed-to-seed
noise that both share cancels in the difference d_s = metric(method, s) - metric(reference, s).
Over n seeds, mean d and its 95% interval by Student's t:

    d_mean +- t(0.975, n - 1) * sd(d) / sqrt(n)        (sd: sample standard deviation)

*better* where the interval lies above 0, *worse* where it lies below, *level* where it holds 0.
One seed has no interval and no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# t(0.975, df) for df = 1..30 (two-sided 95%); past 30 the value at 30 (slightly conservative)
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return T_975[min(df, len(T_975)) - 1]


def paired_verdict(method: Sequence[float], reference: Sequence[float]) -> dict[str, float | int | str | None]:
    """{diff, lo, hi, n, verdict} of method - reference, paired item by item (by seed)."""
    if len(method) != len(reference):
        raise ValueError(f"paired values: {len(method)} vs {len(reference)}")
    diffs = [m - r for m, r in zip(method, reference, strict=True)]
    n = len(diffs)
    if n == 0:
        return {"diff": None, "lo": None, "hi": None, "n": 0, "verdict": "-"}
    mean = sum(diffs) / n
    if n == 1:
        return {"diff": mean, "lo": None, "hi": None, "n": 1, "verdict": "-"}
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "level"
    return {"diff": mean, "lo": lo, "hi": hi, "n": n, "verdict": verdict}


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """y at x on the polyline through (x, y) points sorted by x (clamped at the ends)."""
    if not points:
        raise ValueError("no points")
    if x <= points[0][0]:
        return float(points[0][1])
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x <= x1:
            return float(y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    return float(points[-1][1])


def mean_over(points: Sequence[tuple[float, float]], end: float) -> float:
    """Mean of y over x in [x_0, end] under the polyline (trapezoids), the curve cut at `end`:
    area under the curve per unit of x. With end <= x_0: y at x_0."""
    if not points:
        raise ValueError("no points")
    start = points[0][0]
    if end <= start:
        return float(points[0][1])
    cut = [(x, y) for x, y in points if x < end] + [(end, interpolate(points, end))]
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(cut, cut[1:], strict=False))
    return float(area / (end - start))


def first_reaching(points: Sequence[tuple[float, float]], target: float) -> float | None:
    """x of the first point whose y reaches target (None: never)."""
    for x, y in points:
        if y >= target - 1e-12:
            return float(x)
    return None
