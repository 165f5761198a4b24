"""Schedulers side by side (issue: eval/report/compare)."""

from dumpcli.errors import NotBuiltError


def compare(*args, **kwargs):
    raise NotBuiltError("`dump compare` is not built yet (tracked in the eval/report/compare issue)")
