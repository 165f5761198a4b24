"""The Actor-Curator's recipe options (`train.scheduler: {name: curator, ...}`)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from dumpcli.schedulers.selector import SelectorOptions

# options that fix the shape of the network or the meaning of the state; a resumed run must keep them
STRUCTURAL = ("encoder", "n_features", "ngram_max", "embed_dim", "hidden", "meta_buckets", "proposal")
MAX_PARAMETERS = 2**27  # of the curator's net (512 MB in float32, 4x that with Adam's state)


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
    meta_buckets: int = Field(256, ge=1, le=2**20, description="hashing buckets for source and difficulty")
    feature_cache: int = Field(20000, ge=1, description="problems whose features are cached")
    encoder_batch_size: int = Field(32, ge=1)
    encoder_max_length: int = Field(512, ge=8)
    encoder_device: str = Field(
        "auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="'auto', 'cpu', 'cuda', 'cuda:1', ..."
    )

    @model_validator(mode="after")
    def _net_fits(self) -> CuratorOptions:
        """parameters = (n_features [hashed only] + 2 meta_buckets) embed_dim + (3 embed_dim + 4) hidden + 1"""
        table = self.n_features if self.encoder == "hashed" else 0
        count = (table + 2 * self.meta_buckets) * self.embed_dim + (3 * self.embed_dim + 4) * self.hidden + 1
        if count > MAX_PARAMETERS:
            raise PydanticCustomError(
                "too_large",
                "the curator's net would have {count} parameters, at most {limit}: "
                "lower n_features, embed_dim, hidden or meta_buckets",
                {"count": f"{count:,}", "limit": f"{MAX_PARAMETERS:,}"},
            )
        return self
