"""Per-distribution evaluation of checkpoints (issue: eval/report/compare)."""

from dumpcli.errors import NotBuiltError


def evaluate_cli(*args, **kwargs):
    raise NotBuiltError("`dump eval` is not built yet (tracked in the eval/report/compare issue)")
