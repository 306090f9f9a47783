"""Notebook 08's exercise, solved: ``zero_std_share``, the share of groups whose rewards are all equal
(their std is 0, their advantages are 0, they add no policy gradient); TRL logs it as ``frac_reward_zero_std``."""

import torch


def zero_std_share(rewards: torch.Tensor, G: int) -> float:
    """The share of the groups of ``G`` consecutive rewards in ``rewards`` that are flat (all rewards equal)."""
    groups = rewards.view(-1, G)  # one row per prompt
    flat = (groups == groups[:, :1]).all(dim=1)  # every reward equals the group's first one
    return flat.float().mean().item()
