"""Notebook 11's exercise, solved: ``length_limit``, the smallest ``max_completion_length`` that cuts off at
most a ``share`` of completions whose lengths (in tokens) were measured without a tight limit."""


def length_limit(lengths: list[int], share: float) -> int:
    """The smallest limit L (a measured length) with at most ``share`` of ``lengths`` longer than L."""
    for limit in sorted(set(lengths)):
        if sum(n > limit for n in lengths) / len(lengths) <= share:
            return limit
    raise ValueError("lengths is empty")
