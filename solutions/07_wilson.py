"""Notebook 07's exercise, solved: ``wilson``, the 95% Wilson score interval of an accuracy of k right
answers out of n (sound at k = 0 and k = n, where p +/- 2 standard errors is not)."""

import math


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """(low, high): the centre (p + z²/2n) / (1 + z²/n), plus or minus
    z sqrt(p (1 - p) / n + z² / 4n²) / (1 + z²/n), kept within [0, 1]."""
    p = k / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - spread), min(1.0, centre + spread)
