"""Notebook 11's fourth exercise, solved: ``on_policy_loss``, the loss TRL logs when the importance ratio is 1
(one update per generation) and beta is 0: minus an average of the advantages, weighed by ``loss_type``."""


def on_policy_loss(advantages: list[float], lengths: list[int], loss_type: str) -> float:
    """grpo: each completion's tokens averaged first (each completion counts once); dapo: every token counts once,
    so a completion of L tokens weighs L."""
    if loss_type == "grpo":
        return -sum(advantages) / len(advantages)
    if loss_type == "dapo":
        return -sum(a * n for a, n in zip(advantages, lengths, strict=True)) / sum(lengths)
    raise ValueError(f"loss_type {loss_type!r}: this exercise covers 'grpo' and 'dapo'")
