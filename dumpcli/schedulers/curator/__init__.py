"""The Actor-Curator, a problem-level selector (arXiv 2602.20532), in four parts:
`options` (its recipe options), `improvement` (the bandit maths), `network` (the scoring network
and its lazy optimiser), `features` (what the network reads of a problem), and `curator` (the
selector that ties them together)."""

from dumpcli.schedulers.curator.curator import Curator
from dumpcli.schedulers.curator.improvement import (
    importance_weighted,
    improvement_from_log_ratios,
    policy_improvement,
)
from dumpcli.schedulers.curator.options import CuratorOptions
from dumpcli.schedulers.selector import Candidate

__all__ = [
    "Candidate",
    "Curator",
    "CuratorOptions",
    "importance_weighted",
    "improvement_from_log_ratios",
    "policy_improvement",
]
