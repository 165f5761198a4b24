"""Training stage: tiny model, warm start, CurriculumGRPOTrainer, `dump train`."""

from transformers.utils import logging as _hf_logging

_hf_logging.disable_progress_bar()  # Rich draws the progress; no tqdm bars for loading/saving weights
