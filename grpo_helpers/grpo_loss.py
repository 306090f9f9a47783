"""grpo_loss: notebook 08's GRPO step by hand, in plain PyTorch, as TRL's ``GRPOTrainer`` computes it.

TRL 1.15/1.16's formulas (advantages, per-token log-probs, ``_compute_loss``) for one step on one
process; notebook 08 writes each out in a cell and checks these agree:

    advantages, std, zero_std = group_advantages(rewards, num_generations=4, scale_rewards="group")
    logps = completion_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature=0.7)
    loss = grpo_loss(logps, old_logps, advantages, completion_mask, "dapo", epsilon=0.2, epsilon_high=0.28)
"""

from __future__ import annotations

import math

import torch

SCALE_REWARDS = ("group", "batch", "none")
STD_EPS = 1e-4  # TRL divides by (std + 1e-4): a group whose rewards are all equal gets advantages 0, not NaN
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")  # TRL 1.15 and 1.16
VESPO_DEFAULTS = {"k_pos": 2.0, "lambda_pos": 3.0, "k_neg": 3.0, "lambda_neg": 2.0}  # GRPOConfig's vespo_* defaults


def group_advantages(rewards, num_generations: int, scale_rewards: str = "group"):
    """``(advantages, std, zero_std)`` for rewards laid out group after group (``num_generations`` each).

    advantage = reward - its group's mean, divided by (std + 1e-4) unless ``scale_rewards="none"``; std
    is the group's ("group", also reported for "none") or the whole batch's ("batch"), with Bessel's
    correction (torch.std). ``zero_std``: completions whose group std is 0, i.e. that teach nothing."""
    rewards = torch.as_tensor(rewards, dtype=torch.float32).flatten()
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards={scale_rewards!r}: use one of {SCALE_REWARDS}")
    if num_generations < 2 or rewards.numel() % num_generations:
        raise ValueError(
            f"{rewards.numel()} rewards do not make groups of num_generations={num_generations} "
            "(it must be >= 2 and divide the number of rewards)"
        )
    groups = rewards.view(-1, num_generations)
    mean = groups.mean(dim=1).repeat_interleave(num_generations)
    if scale_rewards == "batch":
        std = rewards.std().expand_as(rewards)
    else:
        std = groups.std(dim=1).repeat_interleave(num_generations)
    advantages = rewards - mean
    if scale_rewards != "none":
        advantages = advantages / (std + STD_EPS)
    return advantages, std, torch.isclose(std, torch.zeros_like(std))


def completion_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature: float = 1.0):
    """log p(token | everything before it) for each completion token, shape (B, T): one forward pass over
    prompt + completion, the logits at the positions that predict the completion (the prompt's own
    positions are dropped: the prompt is masked out), divided by the sampling temperature as TRL does."""
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    logits = logits[:, -completion_ids.size(1) - 1 : -1].float() / temperature  # position t predicts token t + 1
    return torch.log_softmax(logits, dim=-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)


def per_token_kl(logps, ref_logps):
    """TRL's KL estimator (Schulman's k3): exp(ref - logp) - (ref - logp) - 1, >= 0, 0 where they agree."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


def log_importance_weights(logps, old_logps, mask, level: str = "token"):
    """log(pi / pi_old) per token (B, T), or its mean over each completion's tokens (B, 1) for "sequence" (GSPO)."""
    log_ratio = logps - old_logps
    if level == "token":
        return log_ratio
    if level == "sequence":
        return ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
    raise ValueError(f"importance_sampling_level={level!r}: use 'token' or 'sequence'")


def vespo_weights(advantages, log_ratio, mask, k_pos=2.0, lambda_pos=3.0, k_neg=3.0, lambda_neg=2.0):
    """VESPO's gradient scale phi(w) = exp(lambda) * w^k * exp(-lambda * w) of the sequence ratio w (no gradient)."""
    with torch.no_grad():
        log_w = torch.clamp((torch.clamp(log_ratio, -20.0, 20.0) * mask).sum(-1, keepdim=True), math.log(1e-8), 20.0)
        positive = advantages >= 0
        k = torch.where(positive, k_pos, k_neg)
        lam = torch.where(positive, lambda_pos, lambda_neg).clamp(min=1e-4)
        return torch.exp(lam + k * log_w - lam * torch.exp(log_w)).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)


def grpo_loss(
    logps,
    old_logps,
    advantages,
    mask,
    loss_type: str = "dapo",
    *,
    ref_logps=None,
    beta: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    importance_sampling_level: str = "token",
    max_completion_length: int | None = None,
    num_items_in_batch=None,
    delta: float | None = None,
    use_bias_correction_kl: bool = True,
    sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05,
    vespo: dict | None = None,
):
    """The loss TRL's ``_compute_loss`` returns for one step (no gradient accumulation, one process).

    ``logps`` (B, T) carry the gradient; ``old_logps`` are the sampling policy's (= logps.detach() when
    generating every step); ``advantages`` (B,); ``mask`` (B, T) 1 on completion tokens. Settings are
    GRPOConfig's names and defaults; ``num_items_in_batch``: the generation batch's completion tokens
    (dapo / cispo / vespo; default ``mask.sum()``); ``max_completion_length``: dr_grpo's constant."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type={loss_type!r}: use one of {LOSS_TYPES}")
    mask, adv = mask.to(logps.dtype), advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    epsilon_high = epsilon if epsilon_high is None else epsilon_high
    ratio = torch.exp(log_importance_weights(logps, old_logps, mask, importance_sampling_level))
    if loss_type == "cispo":  # the clipped ratio is a constant weight on log p (REINFORCE-like)
        per_token = -torch.clamp(ratio, max=epsilon_high).detach() * adv * logps
    elif loss_type == "sapo":  # a smooth sigmoid gate instead of the hard clip
        temperature = torch.where(adv > 0, sapo_temperature_pos, sapo_temperature_neg)
        per_token = -torch.sigmoid(temperature * (ratio - 1)) * 4 / temperature * adv
    elif loss_type == "vespo":
        per_token = -vespo_weights(adv, logps - old_logps, mask, **(vespo or VESPO_DEFAULTS)) * adv * logps
    else:  # grpo, bnpo, dr_grpo, dapo, luspo: PPO's clipped surrogate
        clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon_high)
        ratio = ratio if delta is None else torch.clamp(ratio, max=delta)
        per_token = -torch.min(ratio * adv, clipped * adv)
    if beta != 0.0:
        if ref_logps is None:
            raise ValueError("beta != 0 needs ref_logps, the reference model's log-probabilities of the same tokens")
        kl = per_token_kl(logps, ref_logps)
        weights = torch.exp(log_importance_weights(logps, old_logps, mask, importance_sampling_level))
        per_token = per_token + beta * (kl * weights if use_bias_correction_kl else kl)
    total = per_token * mask
    if loss_type in ("grpo", "sapo"):  # each completion's mean over its tokens, then the mean over completions
        return (total.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":  # the mean over this batch's tokens
        return total.sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":  # a constant: completions x max_completion_length
        if max_completion_length is None:
            raise ValueError("loss_type='dr_grpo' divides by max_completion_length: pass it")
        return total.sum() / (per_token.size(0) * max_completion_length)
    if loss_type == "luspo":  # each completion's sum over its tokens, then the mean
        return total.sum(-1).mean()
    items = mask.sum() if num_items_in_batch is None else torch.as_tensor(num_items_in_batch, dtype=logps.dtype)
    return total.sum() / items.clamp(min=1.0)  # dapo, cispo, vespo: the generation batch's tokens
