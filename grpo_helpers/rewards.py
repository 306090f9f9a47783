"""rewards: merged from rewards, reward_checks, reward_model.

[rewards] The tutorial's reward functions, in TRL's shape: ``f(prompts, completions, **kwargs) -> list[float]``.

TRL's ``GRPOTrainer`` calls every reward function with the keyword arguments ``prompts``,
``completions`` and ``completion_ids``, plus one keyword argument per dataset column other than
``prompt`` (so the column ``ground_truth`` arrives as ``ground_truth=[...]``, one value per
completion), plus ``trainer_state``, ``log_extra`` and ``log_metric``. That is why every reward
ends with ``**kwargs``: it must accept arguments it does not use.

A completion is a string when the dataset's prompts are strings, and a list of messages
(``[{"role": "assistant", "content": "..."}]``) when they are conversations; ``completion_text``
turns both into text, so every reward here works with both.

Scales (the logged ``rewards/<name>/mean`` reads in these units; the total is their sum):

==========================  =======================================================
``correctness_reward``      2.0 right in ``<answer>`` tags, 1.0 right in another format, else 0
``strict_format_reward``    0.5 when the whole completion is reasoning + one ``<answer>N</answer>``
``soft_format_reward``      0 to 0.5, 0.125 per format habit (partial credit)
``integer_answer_reward``   0.25 when the final answer is a whole number
``overlong_penalty``        0 to -0.5 as a completion nears the token limit
==========================  =======================================================

Correctness dominates on purpose: a completion that games every format reward but is wrong
scores at most 1.25; a right one in the right format scores 3.25.


[reward_checks] Check reward functions on a sample batch before training, and say what is wrong in plain words.

TRL finds a broken reward function only after the model has generated the first batch, and some
of its messages are cryptic (a missing dataset column surfaces as ``TypeError: ... missing 1
required positional argument``). ``check_reward_functions`` calls each function the way
``GRPOTrainer`` does, on a few rows of the dataset, and reports every problem at once:

- a dataset column the function needs but the dataset lacks (TRL passes every column except
  ``prompt`` as a keyword argument, so the argument name must equal the column name);
- a function without ``**kwargs`` (it breaks as soon as TRL passes an argument it does not name);
- an exception, with the completion that caused it;
- a result that is not one number per completion (wrong length, a non-number, NaN or infinity).


[reward_model] A learned reward: score completions with any ``AutoModelForSequenceClassification`` model.

Verifiable rewards (``grpo_helpers.rewards``) check what can be checked. A reward model scores
what cannot (helpfulness, tone), at the price of a second network in memory and a score that a
policy can learn to game. TRL accepts a model id directly in ``reward_funcs``; wrapping it in a
function, as here, lets you scale it, batch it and combine it with the other rewards.
"""

from __future__ import annotations

import re
from grpo_helpers.answers import ANSWER_TAG_RE, answers_match, extract_all_answers, extract_answer, parse_number
import inspect
import math
from numbers import Real


# ---- rewards

# ---- The answer format: one definition shared by the prompts and the format rewards. ----------
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
ANSWER_FORMAT = ANSWER_OPEN + "{answer}" + ANSWER_CLOSE
ANSWER_INSTRUCTION = (
    "Think step by step, then give the final answer as a single number inside answer tags, "
    f"like this: {ANSWER_FORMAT.format(answer='42')}"
)
SYSTEM_PROMPT = (
    "You are a careful math tutor. Solve the problem. " + ANSWER_INSTRUCTION + ". Write nothing after the answer tags."
)

NUMBER = r"\s*[-−]?\$?\s*[-−]?\d[\d,]*(?:\.\d+)?\s*"
# Reasoning (at least one non-space character), then exactly one answer in tags, then only whitespace.
# re.DOTALL matters: without it "." stops at the first newline and a multi-line reasoning never matches.
STRICT_FORMAT_RE = re.compile(r"^\s*\S.*?" + re.escape(ANSWER_OPEN) + NUMBER + re.escape(ANSWER_CLOSE) + r"\s*$", re.DOTALL)

CORRECT_IN_FORMAT, CORRECT_OTHER_FORMAT = 2.0, 1.0
STRICT_FORMAT_SCORE = 0.5
SOFT_FORMAT_STEP = 0.125
INTEGER_SCORE = 0.25
OVERLONG_MAX_PENALTY = 0.5


def format_answer(answer) -> str:
    """The final line the model should write: ``format_answer(42)`` -> ``'<answer>42</answer>'``."""
    return ANSWER_FORMAT.format(answer=answer)


def completion_text(completion) -> str:
    """The text of one completion, whether TRL passed a string or a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
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
    raise TypeError(
        f"A completion must be a string or a list of messages, got {type(completion).__name__}: {completion!r:.80}"
    )


def _texts(completions) -> list[str]:
    return [completion_text(c) for c in completions]


def correctness_reward(prompts, completions, ground_truth, **kwargs) -> list[float]:
    """2.0 for the right answer in ``<answer>`` tags, 1.0 for the right answer in another format, else 0.

    Partial credit: early on a small model often gets the number right but writes
    "The answer is 18" or ``#### 18`` instead of the tags. Half credit keeps that signal (so the
    group's rewards differ and GRPO has something to learn) while the tags still pay more.

    A completion that gives several different final answers ("<answer>17</answer> ... or
    <answer>18</answer>") earns nothing: otherwise listing many guesses would be a way to win.
    ``ground_truth`` is the dataset column of that name (one reference answer per completion).
    """
    if len(ground_truth) != len(completions):
        raise ValueError(
            f"correctness_reward got {len(completions)} completions but {len(ground_truth)} ground_truth values: "
            "TRL repeats each column once per completion; pass one reference answer per completion."
        )
    rewards = []
    for text, reference in zip(_texts(completions), ground_truth):
        answers = extract_all_answers(text)
        values = [answer for _, answer in answers]
        distinct = []
        for value in values:
            if not any(answers_match(value, seen) for seen in distinct):
                distinct.append(value)
        if len(distinct) != 1 or not answers_match(distinct[0], str(reference)):
            rewards.append(0.0)
        elif answers[0][0] == "answer_tag":
            rewards.append(CORRECT_IN_FORMAT)
        else:
            rewards.append(CORRECT_OTHER_FORMAT)
    return rewards


def strict_format_reward(prompts, completions, **kwargs) -> list[float]:
    """0.5 when the completion is exactly: some reasoning, then one ``<answer>NUMBER</answer>``, then nothing.

    All or nothing: one extra tag, text after the answer, or an answer with no reasoning before it
    gets 0. This is the format the tutorial trains towards; the soft reward leads the way there.
    """
    rewards = []
    for text in _texts(completions):
        ok = STRICT_FORMAT_RE.match(text) and text.count(ANSWER_OPEN) == 1 and text.count(ANSWER_CLOSE) == 1
        rewards.append(STRICT_FORMAT_SCORE if ok else 0.0)
    return rewards


def soft_format_reward(prompts, completions, **kwargs) -> list[float]:
    """Partial credit, 0.125 for each format habit (0 to 0.5):

    - ``<answer>`` appears exactly once;
    - ``</answer>`` appears exactly once;
    - they enclose a non-empty answer (opening tag before closing tag);
    - nothing but whitespace follows ``</answer>``.

    A 135M model almost never writes the full format at first. Rewarding each piece separately
    means some completions in a group score more than others from the first steps, so the group's
    reward std is not zero and GRPO gets a gradient towards the format.
    """
    rewards = []
    for text in _texts(completions):
        score = 0.0
        if text.count(ANSWER_OPEN) == 1:
            score += SOFT_FORMAT_STEP
        if text.count(ANSWER_CLOSE) == 1:
            score += SOFT_FORMAT_STEP
        if any(inner.strip() for inner in ANSWER_TAG_RE.findall(text)):
            score += SOFT_FORMAT_STEP
        if ANSWER_CLOSE in text and not text.rsplit(ANSWER_CLOSE, 1)[1].strip():
            score += SOFT_FORMAT_STEP
        rewards.append(score)
    return rewards


def integer_answer_reward(prompts, completions, **kwargs) -> list[float]:
    """0.25 when the final answer (in any recognised format) is a whole number, like every GSM8K answer.

    Partial credit for being the right *kind* of answer, right or wrong: it teaches "end with a
    number" before the model can get the number right. "18.0" and "$1,000" count; "18.5",
    "x" and no answer do not.
    """
    rewards = []
    for text in _texts(completions):
        value = parse_number(extract_answer(text))
        rewards.append(INTEGER_SCORE if value is not None and value.denominator == 1 else 0.0)
    return rewards


def make_overlong_penalty(max_completion_length: int, soft_cache: int | None = None, max_penalty: float = OVERLONG_MAX_PENALTY):
    """A reward that is 0 for short completions and falls linearly to ``-max_penalty`` near the limit.

    DAPO's "soft overlong punishment": completions longer than ``max_completion_length -
    soft_cache`` tokens lose reward in proportion to how far into the last ``soft_cache`` tokens
    they reach, and a completion that hits the limit (cut off, so its answer is usually missing)
    gets the full penalty. Lengths come from TRL's ``completion_ids``; without them (calling the
    function by hand) a token is estimated as 4 characters.

    Set ``max_completion_length`` to the same value as GRPOConfig's ``max_completion_length``.
    """
    if not isinstance(max_completion_length, int) or max_completion_length <= 0:
        raise ValueError(f"max_completion_length must be a positive int (GRPOConfig's value), got {max_completion_length!r}")
    soft_cache = max_completion_length // 4 if soft_cache is None else soft_cache
    if not 0 < soft_cache <= max_completion_length:
        raise ValueError(f"soft_cache must be between 1 and max_completion_length={max_completion_length}, got {soft_cache}")
    start = max_completion_length - soft_cache

    def overlong_penalty(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        if completion_ids is not None:
            lengths = [len(ids) for ids in completion_ids]
        else:
            lengths = [len(text) // 4 for text in _texts(completions)]
        return [0.0 - max_penalty * min(1.0, max(0, n - start) / soft_cache) for n in lengths]  # "0.0 -": never -0.0

    overlong_penalty.__doc__ = (
        f"0 up to {start} completion tokens, then down to -{max_penalty} at {max_completion_length} tokens "
        "(made by make_overlong_penalty)."
    )
    return overlong_penalty


def tutorial_rewards(max_completion_length: int) -> list:
    """The reward functions the tutorial trains with, in the order their columns are logged."""
    return [
        correctness_reward,
        strict_format_reward,
        soft_format_reward,
        integer_answer_reward,
        make_overlong_penalty(max_completion_length),
    ]


def score_completion(completion, ground_truth, reward_funcs, prompt="", **columns) -> dict:
    """Every reward's score for one completion, by function name (for tables and the playground)."""
    scores = {}
    for func in reward_funcs:
        name = getattr(func, "__name__", type(func).__name__)
        scores[name] = func(prompts=[prompt], completions=[completion], ground_truth=[ground_truth], **columns)[0]
    return scores


# ---- reward_checks

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


# ---- reward_model

# A small English reward model on the Hub (0.6B parameters); any sequence-classification id works.
EXAMPLE_REWARD_MODEL = "Skywork/Skywork-Reward-V2-Qwen3-0.6B"


class RewardModelUnavailable(RuntimeError):
    """The reward model cannot be loaded (not downloaded and no internet, or not a classifier)."""


def make_reward_model_reward(model_id: str, *, local_files_only: bool | None = None, batch_size: int = 8,
                             max_length: int = 1024, scale: float = 1.0, device: str | None = None):
    """Load ``model_id`` and return a TRL reward function that scores prompt + completion with it.

    The score is the model's first logit times ``scale``. Conversational prompts go through the
    reward model's chat template when it has one; plain text is joined otherwise.
    ``local_files_only`` defaults to True when the Hub cannot be reached, so that offline the
    call fails at once with ``RewardModelUnavailable`` instead of waiting on the network.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from grpo_helpers.models import hub_reachable
    from grpo_helpers.rewards import completion_text

    if local_files_only is None:
        local_files_only = not hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=local_files_only)
        model = AutoModelForSequenceClassification.from_pretrained(model_id, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        where = "from this machine's cache (local_files_only=True)" if local_files_only else "from the Hub or a local folder"
        raise RewardModelUnavailable(
            f"Could not load the reward model {model_id!r} {where}: {type(error).__name__}: {str(error)[:200]}. "
            "Download it once with internet (huggingface-cli download <id>), pass a local folder, "
            "or train without a reward model."
        ) from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()

    def to_text(prompt, completion) -> str:
        if isinstance(prompt, list) and getattr(tokenizer, "chat_template", None):
            reply = completion if isinstance(completion, list) else [{"role": "assistant", "content": completion}]
            return tokenizer.apply_chat_template(list(prompt) + list(reply), tokenize=False)
        prompt_text = completion_text(prompt) if isinstance(prompt, list) else str(prompt)
        return prompt_text + "\n" + completion_text(completion)

    def reward_model_reward(prompts, completions, **kwargs) -> list[float]:
        texts = [to_text(p, c) for p, c in zip(prompts, completions)]
        scores = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True,
                                  truncation=True, max_length=max_length).to(device)
                scores += (model(**batch).logits[:, 0].float() * scale).tolist()
        return scores

    short = model_id.rstrip("/").split("/")[-1].replace("-", "_").replace(".", "_")
    reward_model_reward.__name__ = f"reward_model_{short}"
    reward_model_reward.model, reward_model_reward.tokenizer = model, tokenizer
    return reward_model_reward
