"""Notebook 06's exercise, solved: ``first_right_step``, the first logged step at which a reward's mean was
above 0 (for the correctness reward: the first step with a right answer among its completions)."""


def first_right_step(log_history: list[dict], key: str) -> int | None:
    """The ``step`` of the first row of ``log_history`` whose ``key`` is above 0; None when there is none."""
    for row in log_history:
        if row.get(key) is not None and row[key] > 0:
            return row["step"]
    return None
