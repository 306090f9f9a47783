"""How often does the untrained model earn a reward with a given prompt, and how fast does it
generate with N torch threads? A quick probe before choosing the CPU preset.

    .venv/bin/python -m benchmarks.prompt_probe --threads 1 --prompt tutorial --tokens 96 --problems 6

Samples 4 completions (temperature 1.0) for each of the first ``--problems`` easy GSM8K train
problems (reference solution of at most 2 lines) and prints the generation speed and the mean
reward of the tutorial's reward functions without the overlong penalty.

Prompts: ``tutorial`` (the notebooks' prompt: the system prompt, the worked example as an earlier
chat turn, the question), ``instruction-only`` (without the worked example), ``system-example``
(the worked example appended to the system prompt instead).
"""

from __future__ import annotations

import argparse
import os
import time

PROBE_PROMPTS = ("tutorial", "instruction-only", "system-example")


def chats_for(questions, prompt: str) -> list[list[dict]]:
    from grpo_helpers.gsm8k import WORKED_EXAMPLE, training_prompt
    from grpo_helpers.rewards import SYSTEM_PROMPT

    if prompt != "system-example":
        example = None if prompt == "instruction-only" else WORKED_EXAMPLE
        return [training_prompt(q, worked_example=example) for q in questions]
    question, answer = WORKED_EXAMPLE
    system = f"{SYSTEM_PROMPT}\n\nExample:\nQuestion: {question}\nAnswer: {answer}"
    return [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in questions]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompt", choices=PROBE_PROMPTS, default="tutorial")
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--problems", type=int, default=6)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from grpo_helpers.answers import extract_gsm8k_answer
    from grpo_helpers.gsm8k import load_gsm8k
    from grpo_helpers.models import load_model
    from grpo_helpers.rewards import score_completion, tutorial_rewards

    model, tokenizer = load_model(load_in_4bit=False, max_seq_length=1024, backend="transformers")
    train = load_gsm8k("train")
    rows = train.select([i for i, a in enumerate(train["answer"]) if a.count("\n") <= 2][: args.problems])
    rewards = tutorial_rewards(args.tokens)[:-1]  # without the overlong penalty
    started, tokens, totals = time.perf_counter(), 0, []
    for chat, answer in zip(chats_for(rows["question"], args.prompt), rows["answer"], strict=True):
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        inputs = tokenizer([text] * 4, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            output = model.generate(
                **inputs,
                max_new_tokens=args.tokens,
                do_sample=True,
                temperature=1.0,
                pad_token_id=tokenizer.pad_token_id,
            )
        for ids in output[:, inputs["input_ids"].shape[1] :]:
            ids = ids[ids != tokenizer.pad_token_id]
            tokens += len(ids)
            scores = score_completion(
                tokenizer.decode(ids, skip_special_tokens=True), extract_gsm8k_answer(answer), rewards
            )
            totals.append(sum(scores.values()))
    seconds = time.perf_counter() - started
    print(
        f"threads={args.threads} prompt={args.prompt} tokens={args.tokens}: {seconds:.1f} s, {tokens} tokens, "
        f"{tokens / seconds:.1f} tokens/s, mean reward {sum(totals) / len(totals):.3f}, "
        f"rewarded {sum(t > 0 for t in totals)}/{len(totals)}, load average {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
