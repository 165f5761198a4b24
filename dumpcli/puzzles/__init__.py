"""Puzzle families (generator + verifier each) and the reward schemes built on verifiers."""
