"""Notebook 11's third exercise, solved: ``collapsed``, the dashboard's entropy-collapse check by hand."""


def collapsed(entropies: list[float], window: int = 3, floor: float = 0.25) -> bool:
    """True when the mean of the last ``window`` entropies is at most ``floor`` times the mean of the first
    ``window`` (and there are two windows of values to compare)."""
    if len(entropies) < 2 * window:
        return False
    first, last = sum(entropies[:window]) / window, sum(entropies[-window:]) / window
    return first > 0 and last <= floor * first
