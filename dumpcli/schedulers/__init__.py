"""Curriculum schedulers: which distribution (or problem) to train on next."""

from dumpcli.schedulers.base import Feedback, Scheduler

__all__ = ["Feedback", "Scheduler"]
