"""Dynamic sampling decisions (train.filter) and the merging of generation rounds."""

from __future__ import annotations

import pytest
import torch

from dumpcli.recipe import FilterSpec
from dumpcli.train.filters import keep_groups, merge_groups


def test_zero_variance_drops_groups_whose_rewards_are_all_equal():
    rewards = [1.0, 1.0, 3.0, -3.0, -1.0, -1.0, 0.5, 0.5 + 1e-12]
    success = [1, 1, 1, 0, 0, 0, 0, 0]
    assert keep_groups(rewards, success, 2, zero_variance="drop") == [False, True, False, False]
    assert keep_groups(rewards, success, 2) == [True] * 4  # the default keeps everything
    assert keep_groups(rewards, success, 4, zero_variance="drop") == [True, True]
    assert keep_groups([2.0] * 4, [1] * 4, 4, zero_variance="drop") == [False]


def test_band_keeps_groups_whose_success_rate_is_inside():
    success = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]  # rates 1.0, 0.25, 0.0 with groups of 4
    rewards = [float(s) for s in success]
    assert keep_groups(rewards, success, 4, band=(0.2, 0.8)) == [False, True, False]
    assert keep_groups(rewards, success, 4, band=(0.25, 1.0)) == [True, True, False]  # bounds included
    assert keep_groups(rewards, success, 4, zero_variance="drop", band=(0.0, 1.0)) == [False, True, False]
    with pytest.raises(ValueError, match="groups of 5"):
        keep_groups(rewards, success, 5)


def test_filter_spec_validation():
    assert not FilterSpec().active
    assert FilterSpec(zero_variance="drop").active and FilterSpec(band=(0.2, 0.8)).active
    for band in [(0.8, 0.2), (-0.1, 0.5), (0.5, 1.5)]:
        with pytest.raises(ValueError, match="band"):
            FilterSpec(band=band)
    with pytest.raises(ValueError):
        FilterSpec(max_rounds=0)


def test_merge_groups_repads_rounds_of_different_widths():
    pad = 0
    r0 = {
        "prompt_ids": torch.tensor([[0, 5], [0, 6], [7, 8], [7, 9]]),
        "prompt_mask": torch.tensor([[0, 1], [0, 1], [1, 1], [1, 1]]),
        "completion_ids": torch.tensor([[1], [2], [3], [4]]),
        "completion_mask": torch.ones(4, 1, dtype=torch.long),
        "advantages": torch.tensor([0.0, 0.0, 1.0, -1.0]),
        "num_items_in_batch": torch.tensor(4),
    }
    r1 = {
        "prompt_ids": torch.tensor([[11], [12], [13], [14]]),
        "prompt_mask": torch.ones(4, 1, dtype=torch.long),
        "completion_ids": torch.tensor([[21, 22], [23, 0], [24, 0], [25, 26]]),
        "completion_mask": torch.tensor([[1, 1], [1, 0], [1, 0], [1, 1]]),
        "advantages": torch.tensor([2.0, -2.0, 0.5, -0.5]),
        "num_items_in_batch": torch.tensor(6),
    }
    merged = merge_groups([r0, r1], [(0, 1), (1, 0)], 2, pad)
    assert merged["prompt_ids"].tolist() == [[7, 8], [7, 9], [0, 11], [0, 12]]  # prompts padded left
    assert merged["prompt_mask"].tolist() == [[1, 1], [1, 1], [0, 1], [0, 1]]
    assert merged["completion_ids"].tolist() == [[3, 0], [4, 0], [21, 22], [23, 0]]  # completions right
    assert merged["completion_mask"].tolist() == [[1, 0], [1, 0], [1, 1], [1, 0]]
    assert merged["advantages"].tolist() == [1.0, -1.0, 2.0, -2.0]
    with pytest.raises(ValueError, match="cannot merge"):
        merge_groups([{**r0, "pixel_values": [1, 2]}], [(0, 0)], 2, pad)
