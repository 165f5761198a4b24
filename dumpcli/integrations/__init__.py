"""Adapters that run dumpcli's curricula inside other training stacks (verl)."""
