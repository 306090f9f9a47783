"""The task a run trains on and the held-out problems it is judged on, by the hardware (04, 06, 07, 10).

On a CPU SmolLM2-135M solves almost no GSM8K problem (notebook 04), so there it trains on seeded one-step
word problems (``grpo_helpers.arithmetic``) and is judged on others of the generator; on a GPU, GSM8K.
"""

from __future__ import annotations

TASKS = {"gsm8k": "GSM8K", "one-step": "generated one-step word problems"}
TRAIN_SEED = 0  # which generated problems (and which GSM8K sample) train_problems gives
HELD_OUT_SEED = 1000  # generated held-out problems: the generator with another seed
GUARD = 1000  # held-out problems are never among the first GUARD training problems of TRAIN_SEED


def training_task(hardware) -> str:
    """``gsm8k`` on a CUDA GPU, ``one-step`` without one (``hardware``: ``detect_hardware()``)."""
    return "gsm8k" if hardware.has_cuda else "one-step"


def _check(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task={task!r}: use one of {sorted(TASKS)} (training_task(hardware) picks it)")


def train_problems(task: str, n: int, *, tokenizer=None, max_prompt_length: int | None = None, seed: int = TRAIN_SEED):
    """``n`` training rows of ``task`` (``prompt``, ``ground_truth``): GSM8K's train split through
    ``prepare_gsm8k`` (long prompts dropped when given a tokenizer), or ``curriculum(n, 0, 0)``."""
    _check(task)
    if task == "gsm8k":
        from grpo_helpers.gsm8k import prepare_gsm8k

        return prepare_gsm8k("train", tokenizer=tokenizer, max_prompt_length=max_prompt_length, n=n, seed=seed)
    from grpo_helpers.arithmetic import curriculum

    return curriculum(n, 0, 0, seed=seed)


def held_out_problems(task: str, n: int, *, avoid=None):
    """``n`` problems of ``task`` training never sees (``question``, ``answer``, ``id``): GSM8K test rows, or one-step
    problems of seed ``HELD_OUT_SEED`` not among ``train_problems``' first ``GUARD``; raises if one is in ``avoid``."""
    _check(task)
    from grpo_helpers.evaluation import gsm8k_subset

    if task == "gsm8k":
        rows = gsm8k_subset(n, seed=0, split="test")
    else:
        from grpo_helpers.arithmetic import word_problems

        trained = set(word_problems(GUARD, 1, seed=TRAIN_SEED)["question"])
        pool = word_problems(n + GUARD, 1, seed=HELD_OUT_SEED)  # room for every guarded question
        rows = pool.filter(lambda row: row["question"] not in trained).select(range(n))
        rows = rows.add_column("id", list(range(n)))
    if avoid is not None:
        both = len(set(rows["question"]) & {row["prompt"][-1]["content"] for row in avoid})
        if both:
            raise ValueError(
                f"{both} held-out questions are also training questions: evaluate on problems never trained on"
            )
    return rows
