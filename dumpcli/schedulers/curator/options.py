"""The Actor-Curator's recipe options (`train.scheduler: {name: curator, ...}`)."""

from __future__ import annotations

from pydantic import Field

from dumpcli.schedulers.selector import SelectorOptions

# options that fix the shape of the network or the meaning of the state; a resumed run must keep them
STRUCTURAL = ("encoder", "n_features", "ngram_max", "embed_dim", "hidden", "meta_buckets", "proposal")


class CuratorOptions(SelectorOptions):
    pool_factor: int = Field(8, ge=1, description="candidates = pool_factor * prompts needed")
    floor: float = Field(0.05, ge=0, le=1, description="q = (1 - floor) softmax(scores) + floor / pool")
    warmup_steps: int = Field(
        5, ge=0, description="selections that use the proposal only (uniform on the pool)"
    )
    eta: float = Field(1.0, gt=0, description="exponentiated-gradient step size")
    clip: float = Field(0.5, gt=0, lt=1, description="proximal clip of the curator's ratio target")
    ratio_clip: float = Field(0.2, gt=0, lt=1, description="clip of pi_new/pi_old in the improvement u")
    normalize: bool = Field(True, description="divide importance-weighted u by its running RMS")
    lr: float = Field(3e-3, gt=0, description="Adam learning rate of the curator")
    update_steps: int = Field(4, ge=1, description="gradient steps per bandit update")
    encoder: str = Field("hashed", min_length=1, description="'hashed', or a Hugging Face model id / dir")
    n_features: int = Field(2**16, ge=16, le=2**24, description="hashing buckets for the text n-grams")
    ngram_max: int = Field(2, ge=1, le=4, description="word n-grams of orders 1..ngram_max")
    embed_dim: int = Field(32, ge=1, description="embedding size (text, source, difficulty)")
    hidden: int = Field(64, ge=1, description="hidden units of the MLP")
    meta_buckets: int = Field(256, ge=1, description="hashing buckets for source and difficulty")
    feature_cache: int = Field(20000, ge=1, description="problems whose features are cached")
    encoder_batch_size: int = Field(32, ge=1)
    encoder_max_length: int = Field(512, ge=8)
    encoder_device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', ...")
