"""Check reward functions on a sample batch before training, and say what is wrong in plain words.

TRL finds a broken reward function only after the model has generated the first batch, and some
of its messages are cryptic (a missing dataset column surfaces as ``TypeError: ... missing 1
required positional argument``). ``check_reward_functions`` calls each function the way
``GRPOTrainer`` does, on a few rows of the dataset, and reports every problem at once:

- a dataset column the function needs but the dataset lacks (TRL passes every column except
  ``prompt`` as a keyword argument, so the argument name must equal the column name);
- a function without ``**kwargs`` (it breaks as soon as TRL passes an argument it does not name);
- an exception, with the completion that caused it;
- a result that is not one number per completion (wrong length, a non-number, NaN or infinity).
"""

from __future__ import annotations

import inspect
import math
from numbers import Real

# Keyword arguments GRPOTrainer passes besides the dataset columns.
TRAINER_KWARGS = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")


class RewardFunctionError(ValueError):
    """One or more reward functions would fail during training; the message lists each problem."""


def _name(func) -> str:
    return getattr(func, "__name__", None) or type(func).__name__


def _is_conversation(prompt) -> bool:
    return isinstance(prompt, list) and all(isinstance(m, dict) and "content" in m for m in prompt)


def sample_completions(prompt, reference=None) -> list:
    """Completions that exercise a reward: right in the format, wrong, unformatted, empty.

    Their shape follows the prompt's: strings for a string prompt, ``[{"role": "assistant", ...}]``
    messages for a conversation, as TRL would pass them.
    """
    from grpo_helpers.rewards import format_answer

    answer = reference if reference not in (None, "") else "42"
    texts = [
        f"Let me work it out step by step.\n{format_answer(answer)}",
        f"I think it is this.\n{format_answer('-1')}",
        f"The answer is {answer}.",
        "",
    ]
    if _is_conversation(prompt):
        return [[{"role": "assistant", "content": text}] for text in texts]
    return texts


def _missing_columns(func, columns) -> tuple[list[str], bool]:
    """Required keyword arguments the dataset does not provide, and whether ``**kwargs`` is accepted."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return [], True
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    missing = [
        name
        for name, p in signature.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.default is inspect.Parameter.empty
        and name not in TRAINER_KWARGS
        and name not in columns
    ]
    return missing, takes_kwargs


def _bad_value(value) -> str | None:
    if value is None:
        return "None (TRL reads None as 'this reward does not apply'; return 0.0 if you mean no reward)"
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            value = float(value)  # numpy and torch scalars are fine
        except (TypeError, ValueError):
            return f"{value!r}, a {type(value).__name__}, not a number"
    if math.isnan(float(value)) or math.isinf(float(value)):
        return f"{float(value)} (a reward must be a finite number)"
    return None


def _short(value, width=120) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def check_reward_functions(reward_funcs, dataset, completions=None, n_rows: int = 2, raise_on_error: bool = True) -> list[str]:
    """Call each reward function as GRPOTrainer would, on ``n_rows`` rows of ``dataset``.

    ``completions`` (optional): the completions to score, one list per row or one list used for
    every row; by default ``sample_completions`` makes four per row (right, wrong, unformatted,
    empty). Returns the list of problems (empty when all is well); with ``raise_on_error`` a
    non-empty list raises ``RewardFunctionError`` with every problem, by function name.
    Reward *models* (a model id or a model object) are not callables of this kind and are skipped.
    """
    if callable(reward_funcs) and not isinstance(reward_funcs, (list, tuple)):
        reward_funcs = [reward_funcs]
    columns = list(getattr(dataset, "column_names", None) or (dataset[0].keys() if len(dataset) else []))
    if "prompt" not in columns:
        raise RewardFunctionError(
            f"The dataset has no 'prompt' column (it has {columns}); GRPOTrainer needs one. "
            "Rename the question column: dataset.rename_column('question', 'prompt'), or use "
            "grpo_helpers.prepare_gsm8k()."
        )
    rows = [dataset[i] for i in range(min(n_rows, len(dataset)))]
    if not rows:
        raise RewardFunctionError("The dataset is empty: there is nothing to train on.")

    prompts, batch_completions, column_values = [], [], {c: [] for c in columns if c != "prompt"}
    for i, row in enumerate(rows):
        if completions is None:
            row_completions = sample_completions(row["prompt"], row.get("ground_truth"))
        elif completions and isinstance(completions[0], (list, tuple)) and not _is_conversation(completions[0]):
            row_completions = list(completions[i % len(completions)])
        else:
            row_completions = list(completions)
        for completion in row_completions:  # TRL repeats each row once per completion
            prompts.append(row["prompt"])
            batch_completions.append(completion)
            for c in column_values:
                column_values[c].append(row[c])
    completion_ids = [list(range(len(str(c)) // 4)) for c in batch_completions]  # stand-in token ids
    extra = {"trainer_state": None, "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None}

    problems = []
    for func in reward_funcs:
        if isinstance(func, str) or not callable(func) or hasattr(func, "config"):
            continue  # a reward model: TRL scores with it directly
        name = _name(func)
        missing, takes_kwargs = _missing_columns(func, column_values)
        if missing:
            problems.append(
                f"{name}: needs the dataset column(s) {missing}, but the dataset has {columns}. "
                "TRL passes each column (except 'prompt') under its own name: rename the argument or the column "
                f"(dataset.rename_column('{next((c for c in columns if c != 'prompt'), 'old')}', '{missing[0]}'))."
            )
            continue
        if not takes_kwargs:
            problems.append(
                f"{name}: add **kwargs to its arguments. GRPOTrainer passes prompts, completions, completion_ids, "
                f"trainer_state, log_extra, log_metric and every dataset column ({[c for c in columns if c != 'prompt']}), "
                "and a function without **kwargs fails on the first one it does not name."
            )
            continue
        kwargs = dict(prompts=prompts, completions=batch_completions, completion_ids=completion_ids, **column_values, **extra)
        try:
            result = func(**kwargs)
        except Exception as error:  # find the completion that breaks it
            culprit = None
            for j in range(len(batch_completions)):
                single = {k: (v[j : j + 1] if isinstance(v, list) else v) for k, v in kwargs.items()}
                try:
                    func(**single)
                except Exception:
                    culprit = j
                    break
            where = (
                f" on completion {_short(batch_completions[culprit])} (prompt {_short(prompts[culprit], 60)})"
                if culprit is not None
                else " on the whole batch (each completion alone works)"
            )
            problems.append(f"{name}: raised {type(error).__name__}: {error}{where}")
            continue
        try:
            result = list(result)
        except TypeError:
            problems.append(f"{name}: returned {_short(result)}; it must return a list with one float per completion.")
            continue
        if len(result) != len(batch_completions):
            problems.append(
                f"{name}: returned {len(result)} rewards for {len(batch_completions)} completions; "
                "return exactly one float per completion (for completion in completions: ...)."
            )
            continue
        for value, completion in zip(result, batch_completions):
            bad = _bad_value(value)
            if bad:
                problems.append(f"{name}: returned {bad} for completion {_short(completion)}")
                break

    if problems and raise_on_error:
        raise RewardFunctionError(
            f"{len(problems)} problem(s) with the reward functions, found before training:\n- " + "\n- ".join(problems)
        )
    return problems
