"""Seeded GSM8K-style word problems of one or two arithmetic steps, with exact answers (notebook 10).

SmolLM2-135M solves almost no GSM8K problem, so its groups tie on correctness and nothing is learnt.
These sit at its edge, in GSM8K's shape (``question``, ``answer`` ending ``#### N``, so ``format_chat``
works unchanged); ``curriculum`` orders one step, two steps, then easy GSM8K problems.
"""

from __future__ import annotations

import random

NAMES = ("Tom", "Ana", "Sam", "Mia", "Leo", "Zoe", "Ben", "Ivy", "Max", "Lily")
ITEMS = ("apples", "pencils", "stickers", "marbles", "cookies", "books", "cards", "shells", "stamps", "balloons")


def word_problem(rng: random.Random, steps: int) -> dict:
    """One problem of ``steps`` (1 or 2) arithmetic steps: ``{"question", "answer"}``, the answer a
    GSM8K-style solution (``a + b = <<a+b=c>>c`` lines, then ``#### c``) with the exact result."""
    if steps not in (1, 2):
        raise ValueError(f"steps must be 1 or 2 (one or two arithmetic operations), got {steps!r}")
    name, items = rng.choice(NAMES), rng.choice(ITEMS)
    if rng.random() < 0.4:  # start with a multiplication, which is the first step
        a, b = rng.randint(2, 9), rng.randint(2, 10)
        value, steps = a * b, steps - 1
        story = [f"{name} buys {a} bags of {items} with {b} {items} in each bag."]
        lines = [f"{name} buys {a} * {b} = <<{a}*{b}={a * b}>>{a * b} {items}."]
    else:
        value = rng.randint(3, 30)
        story, lines = [f"{name} has {value} {items}."], []
    for _ in range(steps):
        if rng.random() < 0.5 or value < 3:
            b = rng.randint(2, 20)
            story.append(f"{name} gets {b} more {items}.")
            lines.append(f"{name} then has {value} + {b} = <<{value}+{b}={value + b}>>{value + b} {items}.")
            value += b
        else:
            b = rng.randint(2, value - 1)
            story.append(f"{name} gives {b} {items} to a friend.")
            lines.append(f"{name} then has {value} - {b} = <<{value}-{b}={value - b}>>{value - b} {items}.")
            value -= b
    question = " ".join(story) + f" How many {items} does {name} have now?"
    return {"question": question, "answer": "\n".join(lines) + f"\n#### {value}"}


def word_problems(n: int, steps: int, seed: int = 0):
    """``n`` problems of ``steps`` steps as a ``datasets.Dataset`` (``question``, ``answer``); the same seed gives
    the same rows."""
    from datasets import Dataset

    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive number of problems, got {n!r}")
    rng = random.Random(f"{seed}-{steps}")
    return Dataset.from_list([word_problem(rng, steps) for _ in range(n)])


def curriculum(one_step: int, two_step: int, gsm8k: int = 0, seed: int = 0, max_solution_lines: int = 2):
    """Chat prompts and ``ground_truth`` (``format_chat``), easy first: ``one_step`` problems, then
    ``two_step``, then ``gsm8k`` GSM8K train problems whose solution has at most ``max_solution_lines``
    lines. Train on it with ``shuffle_dataset=False`` in the config, or the trainer mixes the levels."""
    from datasets import concatenate_datasets

    from grpo_helpers.gsm8k import format_chat, load_gsm8k

    parts = [word_problems(n, steps, seed) for steps, n in ((1, one_step), (2, two_step)) if n]
    if gsm8k:
        easy = load_gsm8k("train").filter(lambda row: row["answer"].count("\n") <= max_solution_lines)
        parts.append(easy.shuffle(seed=seed).select(range(min(gsm8k, len(easy)))))
    if not parts:
        raise ValueError("the curriculum is empty: ask for one_step, two_step or gsm8k problems")
    data = concatenate_datasets(parts)
    return data.map(format_chat, remove_columns=data.column_names)
