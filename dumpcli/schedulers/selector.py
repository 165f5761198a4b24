"""The problem-level interface: a `ProblemSelector` chooses *which problems* of a candidate pool
to train on, where a `Scheduler` chooses *which distribution* to draw from.

The `Curriculum` composes the two. Each generation step it draws a pool of `pool_size(n)` problems
from the distribution-level scheduler (the selector's `proposal`: uniform over problems by default),
then asks the selector for the n prompts to train on:

    candidates --select()--> chosen pool indices (+ the probability q of each draw, when it has one)
    feedback   --update()--> every scored completion of the step (reward, advantage, success)
    improvement --update_improvement()--> only for selectors with `learns_from_improvement`: how
                  much the optimizer step changed the policy on each chosen problem's completions

The trainer and the CLI never know which selector runs: they call the Curriculum, which forwards.
Like a scheduler, a selector must be deterministic given its seed, the rng it is handed and the
feedback, so every rank of a distributed run chooses the same problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dumpcli.schedulers.base import Feedback, Method, Options

if TYPE_CHECKING:  # torch only in annotations: every recipe load imports this module (registry)
    import torch


class Candidate(NamedTuple):
    """A problem offered to a selector: its id, prompt text and tags."""

    problem_id: str
    text: str
    source: str
    difficulty: str
    distribution: str


@dataclass(frozen=True)
class Improvement:
    """What one optimizer step did on the completions of the chosen problems, in draw order
    (groups of `group_size` contiguous completions, one group per chosen prompt):
    `log_ratio[k]` = mean over completion k's tokens of log pi_new - log pi_old, and its advantage."""

    log_ratio: torch.Tensor  # [B] float64
    advantages: torch.Tensor  # [B] float64
    group_size: int | tuple[int, ...]  # or each group's size, when `train.rollouts` makes them differ

    def groups(self) -> int:
        if isinstance(self.group_size, int):
            return self.log_ratio.shape[0] // self.group_size
        return len(self.group_size)


# 'uniform' as a proposal means uniform over *problems*: distributions in proportion to their sizes
UNIFORM_OVER_PROBLEMS = "uniform"


def proposal_scheduler(proposal: str) -> str:
    """The distribution-level scheduler that draws a selector's candidate pool."""
    return "proportional" if proposal == UNIFORM_OVER_PROBLEMS else proposal


class SelectorOptions(Options):
    """Options every selector has: what draws its candidate pool."""

    proposal: str = Field(
        UNIFORM_OVER_PROBLEMS,
        description="'uniform' over problems, or a distribution-level scheduler that draws the pool",
    )
    proposal_options: dict[str, Any] = Field(default_factory=dict, description="options of that scheduler")

    @field_validator("proposal")
    @classmethod
    def _known_proposal(cls, v: str) -> str:
        from dumpcli.plugins import is_import_path
        from dumpcli.schedulers import registry

        if is_import_path(v):  # a distribution-level scheduler of the user's code
            problem = registry.problem(v)
            if problem is None and registry.is_problem_level(v):
                problem = f"{v!r} is a problem-level selector; a proposal is a distribution-level scheduler"
            if problem:
                raise PydanticCustomError("bad_proposal", "{problem}", {"problem": problem})
            return v
        allowed = [UNIFORM_OVER_PROBLEMS, *[n for n in registry.distribution_level() if n != "uniform"]]
        if v not in allowed:
            raise PydanticCustomError(
                "unknown_proposal",
                "unknown proposal '{v}' (available: {names})",
                {"v": v, "names": ", ".join(allowed)},
            )
        return v

    @field_validator("proposal_options")
    @classmethod
    def _proposal_options_valid(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from dumpcli.schedulers import registry

        proposal = info.data.get("proposal")  # absent if the proposal itself was invalid
        if proposal is None:
            return v
        if proposal == UNIFORM_OVER_PROBLEMS:
            if v:
                raise PydanticCustomError(
                    "no_options", "proposal 'uniform' takes no options, got {keys}", {"keys": ", ".join(v)}
                )
            return v
        problems = registry.check_options(proposal, v)
        if problems:
            raise PydanticCustomError("bad_options", "{problems}", {"problems": "; ".join(problems)})
        return v


class ProblemSelector(Method):
    Options: ClassVar[type[SelectorOptions]] = SelectorOptions
    # whether the trainer must measure, after each optimizer step, how the policy moved on the
    # chosen problems (costs one extra forward pass of the policy per generation batch)
    learns_from_improvement: ClassVar[bool] = False

    def pool_size(self, n: int) -> int:
        """Candidates to draw from the proposal for n prompts."""
        raise NotImplementedError

    def select(
        self, candidates: Sequence[Candidate], n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(n pool indices, the probability each was drawn with, or None if the rule has none)."""
        raise NotImplementedError

    def update(self, feedback: Sequence[Feedback]) -> None:
        """Every scored completion of the step's chosen problems."""

    def update_improvement(
        self, selected: Sequence[Candidate], q: np.ndarray | None, improvement: Improvement
    ) -> dict[str, float]:
        """Selectors with `learns_from_improvement`: learn from the optimizer step; returns metrics."""
        return {}

    def stats(self) -> dict[str, dict[str, float]]:
        """Per-distribution statistics of the latest selection, logged to curriculum.jsonl."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- helpers for subclasses -------------------------------------------------------
    def dist_index(self, candidates: Sequence[Candidate]) -> np.ndarray:
        try:
            return np.fromiter(
                (self.index[c.distribution] for c in candidates), dtype=np.int64, count=len(candidates)
            )
        except KeyError as e:
            raise ValueError(f"candidate from unknown distribution {e.args[0]!r}") from None


def check_select_args(candidates: Sequence[Candidate], n: int) -> None:
    if not candidates:
        raise ValueError("select: the candidate pool is empty")
    if n < 1:
        raise ValueError(f"select: n must be >= 1, got {n}")
