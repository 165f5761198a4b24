"""Plots and summary of a run (issue: eval/report/compare)."""

from dumpcli.errors import NotBuiltError


def report(*args, **kwargs):
    raise NotBuiltError("`dump report` is not built yet (tracked in the eval/report/compare issue)")
