"""Evaluation (notebook 07): chat with a model, and measure GSM8K accuracy on held-out problems.

    base = evaluate_gsm8k(model, tokenizer, n_examples=200, label="base")      # inside model.disable_adapter()
    trained = evaluate_gsm8k(model, tokenizer, n_examples=200, label="trained")
    compare_results(base, trained)
    changed_examples(base, trained)     # the problems that went wrong -> right and right -> wrong

Held-out: a seeded sample of GSM8K's test split, the training prompt, greedy replies, in batches;
``pass_at_k``/``learnability``/``at_the_edge``: can a run learn (notebooks 04, 10).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from grpo_helpers.gsm8k import training_prompt

CHANGES = ("wrong -> right", "right -> wrong")


def chat_generate(model, tokenizer, messages, max_new_tokens: int = 128, do_sample: bool = False, **generate_kwargs):
    """Reply to ``messages`` (a chat list of ``{"role", "content"}`` dicts, or one user string).

    Several conversations (a list of chat lists) are generated as one left-padded batch and get a
    list of replies. Greedy by default, so the same model gives the same reply.
    """
    import torch

    batch = isinstance(messages, list) and messages and isinstance(messages[0], list)
    chats = messages if batch else [messages]
    chats = [[{"role": "user", "content": c}] if isinstance(c, str) else c for c in chats]
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    # Pad on the left, so every prompt ends where generation starts (Unsloth's for_training()
    # switches the tokenizer to right padding; this call leaves the setting as it found it).
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    finally:
        tokenizer.padding_side = side
    # In eval mode: a trainer leaves the model in train mode, and on a GPU after GRPOTrainer.train() (gradient
    # checkpointing on, the KV cache off) greedy replies in train mode differed from the same weights' in eval
    # mode after the first token (H200, 2026-12-04). The mode it was in comes back afterwards.
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=do_sample,
                pad_token_id=tokenizer.pad_token_id,
                **generate_kwargs,
            )
    finally:
        model.train(training)
    replies = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    return replies if batch else replies[0]


def gsm8k_subset(n_examples: int, seed: int = 0, split: str = "test", dataset=None):
    """``n_examples`` problems of GSM8K's ``split``, the same ones for the same ``seed``; each row
    keeps its position in the split as ``id``. ``dataset``: rows with ``question`` and ``answer``
    to sample from instead (default: ``load_gsm8k(split)``)."""
    if dataset is None:
        from grpo_helpers.gsm8k import load_gsm8k

        dataset = load_gsm8k(split)
    missing = {"question", "answer"} - set(dataset.column_names)
    if missing:
        raise ValueError(
            f"dataset needs GSM8K's columns 'question' and 'answer'; it lacks {sorted(missing)} "
            f"(it has {dataset.column_names})"
        )
    if not isinstance(n_examples, int) or not 0 < n_examples <= len(dataset):
        raise ValueError(
            f"n_examples must be between 1 and {len(dataset)} (the rows of the {split} split), got {n_examples!r}"
        )
    ids = sorted(random.Random(seed).sample(range(len(dataset)), n_examples))
    rows = dataset.select(ids)
    return rows.add_column("id", ids) if "id" not in rows.column_names else rows


@dataclass
class EvalResult:
    """One model's answers to a fixed set of GSM8K problems.

    ``table`` has a row per problem: ``id`` (its row in the split), ``question``, ``reference``
    (the correct answer), ``completion`` (what the model wrote), ``predicted`` (the answer
    extracted from it, None when there is none), ``formatted`` (answer format followed) and
    ``correct``.
    """

    label: str
    table: object  # pandas.DataFrame
    settings: dict = field(default_factory=dict)

    @property
    def correct(self) -> int:
        return int(self.table["correct"].sum())

    @property
    def accuracy(self) -> float:
        return float(self.table["correct"].mean())

    @property
    def interval(self) -> tuple[float, float]:  # the accuracy's 95% Wilson interval
        return wilson_interval(self.correct, self.n_examples)

    @property
    def format_rate(self) -> float:
        return float(self.table["formatted"].mean())

    @property
    def n_examples(self) -> int:
        return len(self.table)

    def __str__(self) -> str:
        t, (low, high) = self.table, self.interval
        return (
            f"{self.label}: accuracy {self.correct}/{len(t)} = {self.accuracy:.1%} "
            f"(95% interval {low:.1%}-{high:.1%}), "
            f"answer format followed {int(t['formatted'].sum())}/{len(t)} = {self.format_rate:.1%}"
        )

    def numbers(self) -> dict:
        """What ``evaluation.json`` records of this result: n, correct, accuracy, interval, format rate, settings."""
        settings = {name: value for name, value in self.settings.items() if name != "n_examples"}  # that is "n"
        return {
            "label": self.label,
            "n": self.n_examples,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "interval95": [round(x, 4) for x in self.interval],
            "format_rate": round(self.format_rate, 4),
            **settings,
        }

    def _repr_html_(self) -> str:
        return f"<p><b>{self}</b></p>" + self.table.head(5)._repr_html_()


def evaluate_gsm8k(
    model,
    tokenizer,
    n_examples: int = 100,
    seed: int = 0,
    batch_size: int = 8,
    max_new_tokens: int = 256,
    label: str = "model",
    split: str = "test",
    dataset=None,
    prompt_fn=None,
    progress: bool = True,
) -> EvalResult:
    """Accuracy of ``model`` on ``n_examples`` held-out GSM8K problems (``gsm8k_subset(n_examples,
    seed, split)``), answered greedily in batches of ``batch_size`` with at most
    ``max_new_tokens`` tokens each. Returns an ``EvalResult`` (``.accuracy``, ``.format_rate``,
    ``.table``).

    The same call measures the base model: run it inside ``with model.disable_adapter():``.
    ``prompt_fn`` turns a question into chat messages (default: the training prompt). The model is
    put in eval mode and back (Unsloth's ``generate`` switches to its inference mode by itself,
    and its trainer back to training mode when ``train()`` starts).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from grpo_helpers.answers import answers_match, extract_answer, extract_gsm8k_answer
    from grpo_helpers.rewards import strict_format_reward

    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer (8 suits a T4 and a CPU), got {batch_size!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be a positive number of tokens, got {max_new_tokens!r}")
    rows = gsm8k_subset(n_examples, seed, split, dataset)
    prompt_fn = prompt_fn or training_prompt
    questions = list(rows["question"])
    completions = []
    with tqdm(total=len(questions), desc=f"Evaluating {label}", unit="problem", disable=not progress) as bar:
        for start in range(0, len(questions), batch_size):
            chats = [prompt_fn(q) for q in questions[start : start + batch_size]]
            completions += chat_generate(model, tokenizer, chats, max_new_tokens=max_new_tokens)  # in eval mode
            bar.update(len(chats))

    references = [extract_gsm8k_answer(a) for a in rows["answer"]]
    predicted = [extract_answer(c) for c in completions]
    # "formatted": the strict format reward's test (reasoning, then one <answer>N</answer>, nothing after)
    formatted = [s > 0 for s in strict_format_reward(prompts=[None] * len(completions), completions=completions)]
    table = pd.DataFrame(
        {
            "id": list(rows["id"]),
            "question": questions,
            "reference": references,
            "completion": completions,
            "predicted": pd.Series(predicted, dtype=object),  # None stays None
            "formatted": formatted,
            "correct": [p is not None and answers_match(p, r) for p, r in zip(predicted, references, strict=True)],
        }
    )
    source = {"split": split} if dataset is None else {"dataset": "given"}  # a given dataset is no GSM8K split
    settings = {
        "n_examples": n_examples,
        "seed": seed,
        **source,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
    }
    result = EvalResult(label, table, settings)
    print(result)
    return result


def compare_results(*results: EvalResult):
    """One row per result: right answers, problems, accuracy with its 95% Wilson interval, format rate."""
    import pandas as pd

    if not results:
        raise ValueError("pass one or more EvalResult objects, e.g. compare_results(base, trained)")
    rows = [
        {
            "model": r.label,
            "right": r.correct,
            "problems": r.n_examples,
            "accuracy": r.accuracy,
            "95% interval from": round(r.interval[0], 3),
            "to": round(r.interval[1], 3),
            "answer format followed": r.format_rate,
        }
        for r in results
    ]
    return pd.DataFrame(rows).set_index("model")


def difference_interval(
    before: EvalResult, after: EvalResult, z: float = 1.96, column: str = "correct"
) -> tuple[float, float]:
    """The 95% interval of ``after - before`` accuracy (``column="formatted"``: format rate), Newcombe's hybrid
    score interval of two independent rates; when it excludes 0, chance is unlikely (for one problem set,
    conservative)."""
    k1, n1, k2, n2 = (
        int(before.table[column].sum()),
        before.n_examples,
        int(after.table[column].sum()),
        after.n_examples,
    )
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_interval(k1, n1, z), wilson_interval(k2, n2, z)
    d = p2 - p1
    return d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def save_evaluation(path, task: str, before: EvalResult, after: EvalResult, **extra) -> dict:
    """Write ``evaluation.json``: ``task``, ``before``/``after`` (``EvalResult.numbers()``), the difference, its
    interval, whether the two intervals are apart, ``extra``."""
    low, high = difference_interval(before, after)
    record = {
        "task": task,
        "before": before.numbers(),
        "after": after.numbers(),
        "difference": round(after.accuracy - before.accuracy, 4),
        "difference_interval95": [round(low, 4), round(high, 4)],
        "intervals_apart": before.interval[1] < after.interval[0] or after.interval[1] < before.interval[0],
        **extra,
    }
    Path(path).write_text(json.dumps(record, indent=2) + "\n")
    return record


def changed_examples(before: EvalResult, after: EvalResult):
    """The problems whose correctness changed from ``before`` to ``after``: a table with
    ``change`` ("wrong -> right" first, then "right -> wrong"), the question, the reference, both
    extracted answers and both completions."""
    import pandas as pd

    a, b = before.table, after.table
    if list(a["id"]) != list(b["id"]):
        raise ValueError(
            f"{before.label!r} and {after.label!r} were evaluated on different problems: evaluate both with the same "
            f"n_examples, seed and split (they were {before.settings} and {after.settings})"
        )
    merged = a.merge(b, on=["id", "question", "reference"], suffixes=("_before", "_after"))
    merged["change"] = None
    merged.loc[~merged["correct_before"] & merged["correct_after"], "change"] = CHANGES[0]
    merged.loc[merged["correct_before"] & ~merged["correct_after"], "change"] = CHANGES[1]
    changed = merged[merged["change"].notna()].copy()
    changed["change"] = pd.Categorical(changed["change"], categories=CHANGES, ordered=True)
    changed = changed.sort_values(["change", "id"]).reset_index(drop=True)
    columns = [
        "change",
        "id",
        "question",
        "reference",
        "predicted_before",
        "predicted_after",
        "completion_before",
        "completion_after",
    ]
    counts = changed["change"].value_counts()
    print(f"{before.label} -> {after.label}: {counts[CHANGES[0]]} {CHANGES[0]}, {counts[CHANGES[1]]} {CHANGES[1]}")
    return changed[columns].rename(columns={"predicted_before": "answer_before", "predicted_after": "answer_after"})


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a rate of ``successes`` in ``n`` (sound at 0 and at n, unlike p +/- 2 SE)."""
    if not isinstance(n, int) or n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got successes={successes!r}, n={n!r}")
    p, spread = successes / n, z * ((successes * (n - successes) / n + z * z / 4) ** 0.5) / n
    centre, scale = p + z * z / (2 * n), 1 + z * z / n
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem from ``n`` samples of which ``c`` were right: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n (draw at least k samples), got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def sample_correct(
    model, tokenizer, dataset, k: int = 8, temperature: float = 0.7, max_new_tokens: int = 64, batch_size: int = 8
) -> list[int]:
    """For each row of ``dataset`` (``prompt``, ``ground_truth``): how many of ``k`` completions sampled at
    ``temperature`` (the training one) ``correctness_reward`` pays for, the training reward's own parser."""
    from grpo_helpers.rewards import correctness_reward

    if not {"prompt", "ground_truth"} <= set(dataset.column_names):
        raise ValueError(
            f"dataset needs the columns 'prompt' and 'ground_truth' (prepare_gsm8k gives them), "
            f"has {dataset.column_names}"
        )
    counts = []
    for start in range(0, len(dataset), batch_size):
        rows = dataset.select(range(start, min(start + batch_size, len(dataset))))
        replies = chat_generate(
            model,
            tokenizer,
            list(rows["prompt"]),
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=temperature,
            num_return_sequences=k,
        )  # k replies per prompt, in order
        truth = [t for t in rows["ground_truth"] for _ in range(k)]
        scores = correctness_reward(prompts=None, completions=replies, ground_truth=truth)
        counts += [sum(s > 0 for s in scores[i * k : (i + 1) * k]) for i in range(len(rows))]
    return counts


def learnability(counts: list[int], k: int) -> dict:
    """pass@1 and pass@k over problems, and the share of groups of ``k`` whose correctness reward has zero
    std (all wrong or all right): such a group gives GRPO no correctness signal (TRL logs ``frac_reward_zero_std``)."""
    if not counts:
        raise ValueError("no problems were sampled: pass the list sample_correct returned")
    n = len(counts)
    return {
        "problems": n,
        "k": k,
        "pass@1": sum(pass_at_k(k, c, 1) for c in counts) / n,
        f"pass@{k}": sum(c > 0 for c in counts) / n,
        "zero_std_share": sum(c in (0, k) for c in counts) / n,
    }


def at_the_edge(dataset, counts: list[int], k: int):
    """The rows the model solved sometimes but not always (0 < right < k of its ``k`` samples): DAPO's dynamic
    sampling done once, before training. Raises, with what to do, when none is left."""
    if len(counts) != len(dataset):
        raise ValueError(
            f"{len(counts)} counts for {len(dataset)} rows: sample_correct(model, tokenizer, dataset) gives one per row"
        )
    keep = [i for i, c in enumerate(counts) if 0 < c < k]
    if not keep:
        raise ValueError(
            f"none of {len(counts)} problems is at the model's edge (solved {sorted(set(counts))} of {k} times): "
            "use easier problems (grpo_helpers.arithmetic), more samples (k), or a larger model"
        )
    return dataset.select(keep)
