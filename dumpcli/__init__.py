"""dumpcli: RL post-training on a mixture of distributions with an automatic curriculum."""

__version__ = "0.1.0"
