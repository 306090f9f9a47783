"""Notebook 10's exercise, solved: ``smallest_group``, the smallest ``num_generations`` for which a prompt the
model solves with probability ``p`` gives a group whose correctness scores all tie (all wrong or all right,
so it teaches nothing about being right) with a chance below ``bound``."""


def smallest_group(p: float, bound: float) -> int:
    """The smallest G >= 2 with p^G + (1 - p)^G < bound (0 < p < 1, 0 < bound)."""
    G = 2
    while p**G + (1 - p) ** G >= bound:
        G += 1
    return G
