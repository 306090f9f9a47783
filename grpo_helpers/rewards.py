"""The tutorial's reward functions (notebook 03), and a check to run on them before training.

TRL's ``GRPOTrainer`` calls every reward with ``prompts``, ``completions``, ``completion_ids``,
``trainer_state``, ``log_extra``, ``log_metric`` and one keyword argument per dataset column but ``prompt``
(``ground_truth=[...]``, a value per completion), so every reward ends with ``**kwargs``. A completion is a
string for string prompts, a list of messages for chat prompts; ``completion_text`` reads both.

Scales (the logged ``rewards/<name>/mean`` reads in these units; the total is their sum): ``correctness_reward``
2.0 right in ``<answer>`` tags, 1.0 right in another format, else 0; ``strict_format_reward`` 0.5 when the whole
completion is reasoning + one ``<answer>N</answer>``; ``soft_format_reward`` 0 to 0.5, 0.125 per format habit
(partial credit); ``integer_answer_reward`` 0.25 for a whole number; ``overlong_penalty`` 0 to -0.5 near the limit.

Correctness dominates on purpose: a completion that games every format reward but is wrong
scores at most 1.25; a right one in the right format scores 3.25.

``check_reward_functions`` calls each reward as GRPOTrainer does and reports, with the fix, what TRL says
late or cryptically: a missing column, a reward that raises, a result that is not one finite number per completion.
"""

from __future__ import annotations

import inspect
import math
import re

from grpo_helpers.answers import ANSWER_TAG_RE, answers_match, extract_all_answers, extract_answer, parse_number

# The answer format: one definition for the prompts (grpo_helpers.gsm8k) and the format rewards.
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
ANSWER_FORMAT = ANSWER_OPEN + "{answer}" + ANSWER_CLOSE
ANSWER_INSTRUCTION = "give the final number as " + ANSWER_FORMAT.format(answer="N")
# Short on purpose: every prompt token costs in generation and in the loss (docs/benchmarks.md, *The prompt*).
SYSTEM_PROMPT = "Solve the problem step by step, then " + ANSWER_INSTRUCTION + "."

NUMBER = r"\s*[-−]?\$?\s*[-−]?\d[\d,]*(?:\.\d+)?\s*"
# Reasoning (at least one non-space character), then one answer in tags, then only whitespace.
# re.DOTALL matters: without it "." stops at the first newline and multi-line reasoning never matches.
STRICT_FORMAT_RE = re.compile(
    r"^\s*\S.*?" + re.escape(ANSWER_OPEN) + NUMBER + re.escape(ANSWER_CLOSE) + r"\s*$", re.DOTALL
)


def format_answer(answer) -> str:
    """The final line the model should write: ``format_answer(42)`` -> ``'<answer>42</answer>'``."""
    return ANSWER_FORMAT.format(answer=answer)


def completion_text(completion) -> str:
    """The text of one completion, whether TRL passed a string or a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if not isinstance(completion, (list, tuple)):
        raise TypeError(
            f"A completion must be a string or a list of messages, got {type(completion).__name__}: {completion!r:.80}"
        )
    parts = []
    for message in completion:
        if not isinstance(message, dict) or "content" not in message:
            raise TypeError(
                "A conversational completion must be a list of messages like "
                f"[{{'role': 'assistant', 'content': '...'}}]; got an item {message!r}"
            )
        content = message["content"]
        if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        parts.append(content or "")
    return "\n".join(parts)


def correctness_reward(prompts, completions, ground_truth, **kwargs) -> list[float]:
    """2.0 for the right answer in ``<answer>`` tags, 1.0 for the right answer in another format, else 0.

    Half credit keeps the signal of a small model that writes "The answer is 18"; the tags still pay more.
    Several different final answers earn nothing (else listing guesses would win).
    """
    if len(ground_truth) != len(completions):
        raise ValueError(
            f"correctness_reward got {len(completions)} completions but {len(ground_truth)} ground_truth values: "
            "TRL repeats each column once per completion; pass one reference answer per completion."
        )
    rewards = []
    for completion, reference in zip(completions, ground_truth, strict=True):
        found = extract_all_answers(completion_text(completion))
        answers = [answer for _, answer in found]
        one_answer = bool(answers) and all(answers_match(answer, answers[0]) for answer in answers[1:])
        right = one_answer and answers_match(answers[0], str(reference))
        rewards.append((2.0 if found[0][0] == "answer_tag" else 1.0) if right else 0.0)
    return rewards


def strict_format_reward(prompts, completions, **kwargs) -> list[float]:
    """0.5 when the completion is exactly: some reasoning, one ``<answer>NUMBER</answer>``, nothing after."""
    rewards = []
    for text in map(completion_text, completions):
        ok = STRICT_FORMAT_RE.match(text) and text.count(ANSWER_OPEN) == 1 and text.count(ANSWER_CLOSE) == 1
        rewards.append(0.5 if ok else 0.0)
    return rewards


def soft_format_reward(prompts, completions, **kwargs) -> list[float]:
    """Partial credit, 0.125 per format habit (0 to 0.5): one ``<answer>``, one ``</answer>``, a non-empty
    answer between them, nothing after ``</answer>``. Each piece pays on its own, so a group of early
    completions scores unevenly and GRPO gets a gradient towards the format."""
    rewards = []
    for text in map(completion_text, completions):
        habits = (
            text.count(ANSWER_OPEN) == 1,
            text.count(ANSWER_CLOSE) == 1,
            any(inner.strip() for inner in ANSWER_TAG_RE.findall(text)),
            ANSWER_CLOSE in text and not text.rsplit(ANSWER_CLOSE, 1)[1].strip(),
        )
        rewards.append(0.125 * sum(map(bool, habits)))
    return rewards


def integer_answer_reward(prompts, completions, **kwargs) -> list[float]:
    """0.25 when the final answer (any recognised format) is a whole number, right or wrong
    ("18.0" and "$1,000" count; "18.5", "x" and no answer do not)."""
    values = [parse_number(extract_answer(completion_text(completion))) for completion in completions]
    return [0.25 if value is not None and value.denominator == 1 else 0.0 for value in values]


def make_overlong_penalty(max_completion_length: int, soft_cache: int | None = None, max_penalty: float = 0.5):
    """DAPO's soft overlong punishment: 0 for short completions, then down linearly to ``-max_penalty`` over the
    last ``soft_cache`` tokens before ``max_completion_length`` (GRPOConfig's value). Lengths come from TRL's
    ``completion_ids``; called by hand without them, 4 characters = 1 token."""
    if not isinstance(max_completion_length, int) or max_completion_length <= 0:
        raise ValueError(
            f"max_completion_length must be a positive int (GRPOConfig's value), got {max_completion_length!r}"
        )
    soft_cache = max_completion_length // 4 if soft_cache is None else soft_cache
    if not 0 < soft_cache <= max_completion_length:
        raise ValueError(
            f"soft_cache must be between 1 and max_completion_length={max_completion_length}, got {soft_cache}"
        )
    start = max_completion_length - soft_cache

    def overlong_penalty(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        lengths = (
            [len(ids) for ids in completion_ids]
            if completion_ids is not None
            else [len(completion_text(c)) // 4 for c in completions]
        )
        return [0.0 - max_penalty * min(1.0, max(0, n - start) / soft_cache) for n in lengths]  # "0.0 -": never -0.0

    overlong_penalty.__doc__ = (
        f"0 up to {start} completion tokens, then down to -{max_penalty} at {max_completion_length}."
    )
    return overlong_penalty


def tutorial_rewards(max_completion_length: int) -> list:
    """The reward functions the tutorial trains with, in the order their columns are logged (``TUTORIAL_REWARDS``)."""
    return [
        correctness_reward,
        strict_format_reward,
        soft_format_reward,
        integer_answer_reward,
        make_overlong_penalty(max_completion_length),
    ]


TUTORIAL_REWARDS = tuple(f.__name__ for f in tutorial_rewards(256))  # their names, in that order


def weights_by_name(weights: dict[str, float]) -> list[float]:
    """GRPOConfig's ``reward_weights`` list, in ``tutorial_rewards``' order, from one weight per reward name
    (a reward left out weighs 1.0): ``weights_by_name({"overlong_penalty": 0.0})``."""
    if unknown := sorted(set(weights) - set(TUTORIAL_REWARDS)):
        raise ValueError(f"{unknown}: not one of tutorial_rewards' names {list(TUTORIAL_REWARDS)}")
    return [float(weights.get(name, 1.0)) for name in TUTORIAL_REWARDS]


def score_completion(completion, ground_truth, reward_funcs, prompt="", **columns) -> dict:
    """Every reward's score for one completion, by function name (for tables and the playground)."""
    return {
        getattr(func, "__name__", type(func).__name__): func(
            prompts=[prompt], completions=[completion], ground_truth=[ground_truth], **columns
        )[0]
        for func in reward_funcs
    }


# Keyword arguments GRPOTrainer passes besides the dataset columns.
TRAINER_KWARGS = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")


class RewardFunctionError(ValueError):
    """One or more reward functions would fail during training; the message lists each problem."""


def sample_completions(prompt, reference=None) -> list:
    """Right in the format, wrong, unformatted, empty: strings for a string prompt, else messages."""
    answer = reference if reference not in (None, "") else "42"
    texts = [
        f"Let me work it out step by step.\n{format_answer(answer)}",
        f"I think it is this.\n{format_answer('-1')}",
        f"The answer is {answer}.",
        "",
    ]
    return texts if isinstance(prompt, str) else [[{"role": "assistant", "content": text}] for text in texts]


def _bad_value(value) -> str | None:
    if value is None:
        return "None (TRL reads None as 'this reward does not apply'; return 0.0 if you mean no reward)"
    try:
        number = float(value) if not isinstance(value, (str, bytes)) else None  # numpy and torch scalars are fine
    except (TypeError, ValueError):
        number = None
    if number is None:
        return f"{value!r}, a {type(value).__name__}, not a number"
    return None if math.isfinite(number) else f"{number} (a reward must be a finite number)"


def _short(value, width=120) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def check_reward_functions(
    reward_funcs, dataset, completions=None, n_rows: int = 2, raise_on_error: bool = True
) -> list[str]:
    """Call each reward function as GRPOTrainer would, on ``n_rows`` rows of ``dataset`` with ``completions`` for
    each row (default: ``sample_completions``). Returns the problems (empty when all is well); with ``raise_on_error``
    any problem raises ``RewardFunctionError`` listing them all. Reward models (a model id or object) are skipped."""
    reward_funcs = [reward_funcs] if callable(reward_funcs) else list(reward_funcs)
    columns = list(dataset.column_names)
    if "prompt" not in columns:
        raise RewardFunctionError(
            f"The dataset has no 'prompt' column (it has {columns}); GRPOTrainer needs one. "
            "Rename the question column: dataset.rename_column('question', 'prompt')."
        )
    data_columns = [column for column in columns if column != "prompt"]  # TRL passes each under its own name
    rows = list(dataset.select(range(min(n_rows, len(dataset)))))
    pairs = [
        (row, c) for row in rows for c in completions or sample_completions(row["prompt"], row.get("ground_truth"))
    ]
    batch = {"prompts": [row["prompt"] for row, _ in pairs], "completions": [c for _, c in pairs]}  # TRL repeats
    batch |= {column: [row[column] for row, _ in pairs] for column in data_columns}  # each row per completion
    batch |= {
        "completion_ids": [[0] * (len(str(c)) // 4) for _, c in pairs],  # stand-in token ids
        "trainer_state": None,
        "log_extra": lambda *a, **k: None,
        "log_metric": lambda *a, **k: None,
    }
    n, problems = len(pairs), []
    for func in reward_funcs:
        if isinstance(func, str) or hasattr(func, "config"):
            continue  # a reward model: TRL scores with it directly
        name = getattr(func, "__name__", type(func).__name__)
        try:
            parameters = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            parameters = []  # no signature to read: calling it below will tell
        # required arguments that are neither something GRPOTrainer passes nor a dataset column
        missing = [
            p.name
            for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.default is p.empty
            and p.name not in TRAINER_KWARGS
            and p.name not in data_columns
        ]
        if missing:
            problems.append(
                f"{name}: needs the dataset column(s) {missing}, but the dataset has {columns}. TRL passes each column "
                "(except 'prompt') under its own name: rename the argument or the column "
                f"(dataset.rename_column('{next(iter(data_columns), 'old')}', '{missing[0]}'))."
            )
            continue
        try:
            result = func(**batch)
        except Exception as error:
            problem = f"{name}: raised {type(error).__name__}: {error}"
            if "unexpected keyword argument" in str(error):
                problems.append(
                    problem + ". Add **kwargs to its arguments: GRPOTrainer passes more arguments than it names."
                )
                continue
            culprit = next(
                (
                    j
                    for j in range(n)
                    if _raises(func, {k: v[j : j + 1] if isinstance(v, list) else v for k, v in batch.items()})
                ),
                None,
            )
            if culprit is None:
                problem += " on the whole batch (each completion alone works)."
            else:
                problem += f" on completion {_short(batch['completions'][culprit])}."
                if not isinstance(batch["completions"][culprit], str):
                    problem += (
                        " With chat prompts each completion is a list of messages: read its text with "
                        "grpo_helpers.rewards.completion_text(completion)."
                    )
            problems.append(problem)
            continue
        if not hasattr(result, "__len__") or len(result) != n:
            got = f"{len(result)} rewards" if hasattr(result, "__len__") else _short(result)
            problems.append(
                f"{name}: returned {got} for {n} completions; "
                "return a list with exactly one float per completion ([... for completion in completions])."
            )
            continue
        bad = next(((v, c) for v, c in zip(result, batch["completions"], strict=False) if _bad_value(v)), None)
        if bad:
            problems.append(f"{name}: returned {_bad_value(bad[0])} for completion {_short(bad[1])}")
    if problems and raise_on_error:
        raise RewardFunctionError(
            f"{len(problems)} problem(s) with the reward functions, found before training:\n- " + "\n- ".join(problems)
        )
    return problems


def _raises(func, kwargs) -> bool:
    try:
        func(**kwargs)
        return False
    except Exception:
        return True
