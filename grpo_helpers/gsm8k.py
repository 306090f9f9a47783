"""GSM8K for GRPOTrainer (notebook 04): load it, format it, measure and filter its prompts.

GSM8K (Cobbe et al., 2021; MIT) comes from the Hub (``openai/gsm8k``, ``main``) when it answers,
else from the identical copy in ``grpo_helpers/data/gsm8k/`` (7,473 train, 1,319 test problems).

GRPOTrainer generates from each row's ``prompt`` and passes every other column (``ground_truth``)
to the rewards by name. ``format_chat`` builds the tutorial's prompt (system prompt, one worked
example, the question); TRL does not truncate prompts, so ``filter_long_prompts`` drops long ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from statistics import mean, median

from grpo_helpers.answers import extract_gsm8k_answer
from grpo_helpers.models import hub_reachable
from grpo_helpers.rewards import SYSTEM_PROMPT, format_answer

HUB_DATASET = ("openai/gsm8k", "main")
BUNDLED_DIR = Path(__file__).parent / "data" / "gsm8k"
SPLITS = ("train", "test")
SOURCES = ("auto", "hub", "bundled")


def load_gsm8k(split: str = "train", source: str = "auto"):
    """Return GSM8K's ``split`` as a ``datasets.Dataset`` with columns ``question`` and ``answer``.

    ``source="auto"`` uses the Hub when it answers within two seconds and the bundled copy
    otherwise; ``"hub"`` and ``"bundled"`` force one.
    """
    from datasets import load_dataset

    if split not in SPLITS:
        raise ValueError(f"split={split!r}: GSM8K has the splits {SPLITS}")
    if source not in SOURCES:
        raise ValueError(f"source={source!r}: use one of {SOURCES}")
    if source == "hub" or (source == "auto" and hub_reachable()):
        try:
            return load_dataset(*HUB_DATASET, split=split)
        except Exception as error:
            if source == "hub":
                raise
            print(f"GSM8K from the Hub failed ({type(error).__name__}); using the bundled copy.")
    return load_dataset("json", data_files=str(BUNDLED_DIR / f"{split}.jsonl"), split="train")


# A worked example, shown as an earlier user/assistant turn. A small model copies the shape of an
# answer it has seen far more reliably than it follows an instruction: with the system prompt
# alone SmolLM2-135M almost never wrote answer tags (every completion scored 0, so GRPO had no
# reward differences to learn from). A one-line sum keeps the prompt short: with it and the short
# system prompt the model learnt no worse than with the longer pair used before, and each step
# was faster (docs/benchmarks.md, *The prompt*). ``worked_example=None`` leaves it out.
WORKED_EXAMPLE = ("What is 3 + 4?", "3 + 4 = 7.\n" + format_answer(7))


def format_grpo(example: dict) -> dict:
    """``{"prompt": question, "ground_truth": final answer}`` from a GSM8K row (``question``, ``answer``)."""
    _check_row(example)
    return {"prompt": example["question"], "ground_truth": extract_gsm8k_answer(example["answer"])}


def training_prompt(question: str, system_prompt: str = SYSTEM_PROMPT, worked_example=WORKED_EXAMPLE) -> list[dict]:
    """The chat prompt the tutorial trains and evaluates with: the system prompt (answer format
    included), the worked example as a user/assistant turn (``None``: none), then the question."""
    messages = [{"role": "system", "content": system_prompt}]
    if worked_example is not None:
        if not (
            isinstance(worked_example, (tuple, list))
            and len(worked_example) == 2
            and all(isinstance(text, str) and text.strip() for text in worked_example)
        ):
            raise ValueError(
                "worked_example must be a (question, answer) pair of non-empty strings, e.g. "
                "('What is 2 + 3?', '2 + 3 = 5.\\n<answer>5</answer>'), or None for no example; "
                f"got {worked_example!r}"
            )
        question_shown, answer_shown = worked_example
        messages += [{"role": "user", "content": question_shown}, {"role": "assistant", "content": answer_shown}]
    messages.append({"role": "user", "content": question})
    return messages


def format_chat(example: dict, system_prompt: str = SYSTEM_PROMPT, worked_example=WORKED_EXAMPLE) -> dict:
    """A conversational prompt (``training_prompt``) and the ``ground_truth`` from a GSM8K row."""
    _check_row(example)
    return {
        "prompt": training_prompt(example["question"], system_prompt, worked_example),
        "ground_truth": extract_gsm8k_answer(example["answer"]),
    }


def _check_row(example) -> None:
    missing = [c for c in ("question", "answer") if c not in example]
    if missing:
        raise KeyError(
            f"A GSM8K row needs the columns 'question' and 'answer'; this one lacks {missing} "
            f"(it has {list(example)}). Load the data with grpo_helpers.gsm8k.load_gsm8k()."
        )


def prompt_token_lengths(dataset, tokenizer) -> list[int]:
    """The number of tokens of each prompt, counted the way GRPOTrainer tokenizes it for generation.

    Chat prompts: the chat template applied with ``add_generation_prompt=True`` and tokenized
    without extra special tokens (the template holds them already); plain-text prompts: the
    tokenizer's defaults. This is the one prompt-token count of the package.
    """
    prompts = list(dataset["prompt"])
    if prompts and isinstance(prompts[0], list):
        texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]


def length_stats(lengths) -> dict:
    """min, mean, median, 95th and 99th percentile and max of a list of token counts."""
    lengths = sorted(lengths)
    if not lengths:
        raise ValueError("No lengths to summarise: the dataset is empty.")

    def percentile(q):
        return lengths[min(len(lengths) - 1, int(round(q / 100 * (len(lengths) - 1))))]

    return {
        "count": len(lengths),
        "min": lengths[0],
        "mean": round(mean(lengths), 1),
        "median": median(lengths),
        "p95": percentile(95),
        "p99": percentile(99),
        "max": lengths[-1],
    }


def filter_long_prompts(dataset, tokenizer, max_prompt_length: int):
    """Keep the rows whose prompt has at most ``max_prompt_length`` tokens; returns ``(dataset, n_removed)``."""
    if not isinstance(max_prompt_length, int) or max_prompt_length <= 0:
        raise ValueError(f"max_prompt_length must be a positive number of tokens, got {max_prompt_length!r}")
    lengths = prompt_token_lengths(dataset, tokenizer)
    keep = [i for i, n in enumerate(lengths) if n <= max_prompt_length]
    if not keep:
        raise ValueError(
            f"Every prompt is longer than max_prompt_length={max_prompt_length} tokens (the shortest has "
            f"{min(lengths)}). Raise max_prompt_length, or shorten the system prompt."
        )
    return dataset.select(keep), len(lengths) - len(keep)


def prepare_gsm8k(
    split: str = "train",
    *,
    chat: bool = True,
    tokenizer=None,
    max_prompt_length: int | None = None,
    n: int | None = None,
    seed: int = 0,
    source: str = "auto",
    system_prompt: str = SYSTEM_PROMPT,
    worked_example=WORKED_EXAMPLE,
):
    """GSM8K's ``split`` ready for GRPOTrainer: columns ``prompt`` and ``ground_truth`` only.

    ``chat=True`` gives conversational prompts (``format_chat``: ``system_prompt``, then
    ``worked_example`` as an earlier turn unless it is ``None``), ``False`` plain text
    (``format_grpo``). ``n`` keeps a shuffled sample of that many rows (``seed`` fixes which).
    With a ``tokenizer`` and ``max_prompt_length``, over-long prompts are dropped and the number
    dropped is printed. Keep the ``test`` split for evaluation: train on ``train`` only.
    """
    if max_prompt_length is not None and tokenizer is None:
        raise ValueError("max_prompt_length needs the tokenizer that will read the prompts: pass tokenizer=...")
    dataset = load_gsm8k(split, source=source)
    if n is not None:
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"n must be a positive number of rows, got {n!r}")
        dataset = dataset.shuffle(seed=seed).select(range(min(n, len(dataset))))
    if chat:
        dataset = dataset.map(
            format_chat,
            fn_kwargs={"system_prompt": system_prompt, "worked_example": worked_example},
            remove_columns=dataset.column_names,
        )
    else:
        dataset = dataset.map(format_grpo, remove_columns=dataset.column_names)
    if max_prompt_length is not None:
        dataset, removed = filter_long_prompts(dataset, tokenizer, max_prompt_length)
        print(f"GSM8K {split}: kept {len(dataset)} prompts, dropped {removed} longer than {max_prompt_length} tokens.")
    return dataset


CALCULATOR_NOTE_RE = re.compile(r"<<[^>]*>>")  # GSM8K's calculator annotations: "3 + 4 = <<3+4=7>>7"


def answer_format_solution(solution: str) -> str:
    """A GSM8K solution in the tutorial's answer format: no ``<<3+4=7>>`` notes, and ``<answer>N</answer>``
    in place of the ``#### N`` line (the target text of format priming, notebook 10)."""
    reasoning = CALCULATOR_NOTE_RE.sub("", solution.rsplit("####", 1)[0]).strip()
    return reasoning + "\n" + format_answer(extract_gsm8k_answer(solution))


def sft_example(example: dict) -> dict:
    """A prompt-completion row for TRL's ``SFTTrainer``: the training prompt, the solution in the answer format."""
    _check_row(example)
    return {
        "prompt": training_prompt(example["question"]),
        "completion": [{"role": "assistant", "content": answer_format_solution(example["answer"])}],
    }
