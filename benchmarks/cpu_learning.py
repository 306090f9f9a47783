"""CPU learning benchmark: does GRPO make SmolLM2-135M more *correct* on a laptop CPU in about ten
minutes of training, and does format priming (a short SFT run first) help?

    .venv/bin/python -m benchmarks.cpu_learning --seeds 0 1                 # the curriculum, no priming
    .venv/bin/python -m benchmarks.cpu_learning --seeds 0 1 --prime 32      # the same after format priming
    .venv/bin/python -m benchmarks.cpu_table                                # the tables of docs/benchmarks.md

For each seed: load the offline default model (SmolLM2-135M-Instruct; ``--dtype``) and add LoRA;
measure the base model (adapters off): greedy accuracy with its 95% Wilson interval and format
rate on ``--eval-problems`` held-out GSM8K **test** problems and on ``--task-eval-problems``
held-out generated word problems (``grpo_helpers.arithmetic``, seeds never trained on), and pass@k
(``--k`` samples at the training temperature) on the first ``--passk-problems`` of those (one-step); with
``--prime N``, train the adapters with TRL's ``SFTTrainer`` on N easy GSM8K train solutions
rewritten in the answer format, and measure again; train with GRPO (``make_config(--preset)``, the
tutorial's rewards) on ``--task``: ``curriculum`` (one-step, then two-step generated problems, then
easy GSM8K problems, in that order) or ``gsm8k`` (easy GSM8K train problems, as before); measure
again. Writes ``benchmarks/results/seed<N>[-primed]/``: ``reward_curve.csv``/``.png`` (every reward
per step), the dashboard's files, and ``summary.json`` (the correctness reward's first- and
last-quarter means, the share of groups whose correctness scores were all equal, every evaluation
with its interval, pass@k before/after, wall clock and load average).

``--set name=value`` overrides a GRPOConfig field; the summary records every override.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.common.clocks import timed_generation
from benchmarks.common.learning_summary import (
    correctness_numbers,
    eval_numbers,
    learning_numbers,
    passk_numbers,
    step_logs,
    tracked_rewards,
    write_curve,
    write_summary,
)
from benchmarks.common.priming import prime_format
from benchmarks.common.prompts import PREVIOUS_EXAMPLE, PREVIOUS_SYSTEM
from benchmarks.common.settings import add_settings_argument, parse_settings
from benchmarks.common.versions import package_versions
from grpo_helpers.gsm8k import WORKED_EXAMPLE, training_prompt
from grpo_helpers.rewards import SYSTEM_PROMPT
from grpo_helpers.tasks import HELD_OUT_SEED  # generated held-out problems: seed + 1000, never trained on

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ("curriculum", "gsm8k")
MODEL_TOKENS = 512  # prompt (<= 256 tokens) + completion
PROMPTS = {"tutorial": (SYSTEM_PROMPT, WORKED_EXAMPLE), "previous": (PREVIOUS_SYSTEM, PREVIOUS_EXAMPLE)}


def with_prompt(dataset, prompt: str):
    """``dataset`` (``prompt`` chats) with each question asked in the ``--prompt`` variant's system prompt
    and example."""
    system, example = PROMPTS[prompt]
    return dataset.map(lambda row: {"prompt": training_prompt(row["prompt"][-1]["content"], system, example)})


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="one run per seed (default: 0 1)")
    parser.add_argument("--preset", default="quick_cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads (default: every core; on a machine busy with other work, 1 is faster)",
    )
    parser.add_argument("--task", choices=TASKS, default="curriculum")
    parser.add_argument(
        "--curriculum",
        type=int,
        nargs=3,
        default=[16, 8, 4],
        metavar=("ONE", "TWO", "GSM8K"),
        help="one-step, two-step and easy GSM8K problems, in that order (14 steps x 2 prompts = 28)",
    )
    parser.add_argument("--train-problems", type=int, default=200, help="--task gsm8k: easy GSM8K train problems")
    parser.add_argument(
        "--max-solution-steps",
        type=int,
        default=2,
        help="easy GSM8K: reference solutions of at most this many lines before '####'",
    )
    parser.add_argument("--eval-problems", type=int, default=64, help="held-out GSM8K test problems (greedy)")
    parser.add_argument(
        "--task-eval-problems", type=int, default=64, help="held-out generated problems (greedy), half two-step"
    )
    parser.add_argument("--passk-problems", type=int, default=16, help="held-out generated problems for pass@k")
    parser.add_argument(
        "--k", type=int, default=4, help="samples per problem for pass@k (default: the preset's group size)"
    )
    parser.add_argument(
        "--prime", type=int, default=0, help="format priming: SFT on this many GSM8K solutions first (0: none)"
    )
    parser.add_argument("--prime-steps", type=int, default=8, help="SFT steps of batch 4")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument(
        "--model",
        default=None,
        help="a model folder or Hub id (default: the offline default model, SmolLM2-135M-Instruct)",
    )
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="the base weights' type (auto: load_model's choice: bfloat16 where the CPU has the instructions)",
    )
    parser.add_argument(
        "--prompt",
        choices=tuple(PROMPTS),
        default="tutorial",
        help="tutorial: the tutorial's system prompt and worked example; previous: the longer pair it used "
        "until 2026-12-03 (benchmarks.common.prompts), for training and evaluation",
    )
    parser.add_argument(
        "--held-out",
        choices=("mixed", "one-step"),
        default="mixed",
        help="the generated held-out problems: half one-step, half two-step (mixed), or one-step only "
        "(grpo_helpers.tasks.held_out_problems, the task the one-step curriculum trains)",
    )
    add_settings_argument(parser, "override a GRPOConfig field, e.g. --set learning_rate=2e-4 (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def easy_gsm8k(n: int, max_lines: int, seed: int):
    """``n`` GSM8K train problems whose solution has at most ``max_lines`` lines, shuffled with ``seed``."""
    from grpo_helpers.gsm8k import load_gsm8k

    easy = load_gsm8k("train").filter(lambda row: row["answer"].count("\n") <= max_lines)
    return easy.shuffle(seed=seed).select(range(min(n, len(easy))))


def train_set(args, seed: int):
    from grpo_helpers.arithmetic import curriculum
    from grpo_helpers.gsm8k import format_chat

    if args.task == "curriculum":
        one, two, gsm8k = args.curriculum
        return curriculum(one, two, gsm8k, seed=seed, max_solution_lines=args.max_solution_steps)
    easy = easy_gsm8k(args.train_problems, args.max_solution_steps, seed)
    return easy.map(format_chat, remove_columns=easy.column_names)


def held_out_problems(n: int, seed: int, kind: str = "mixed"):
    """``n`` generated problems never trained on: the first half one-step, the rest two-step (``mixed``), or
    the tutorial's one-step held-out set (``one-step``: ``grpo_helpers.tasks.held_out_problems``)."""
    from datasets import concatenate_datasets

    from grpo_helpers.arithmetic import word_problems
    from grpo_helpers.tasks import held_out_problems as task_held_out

    if kind == "one-step":
        return task_held_out("one-step", n).remove_columns("id")
    parts = [word_problems(size, steps, seed + HELD_OUT_SEED) for steps, size in ((1, n - n // 2), (2, n // 2)) if size]
    return concatenate_datasets(parts)


def measure(model, tokenizer, args, seed: int, config, label: str, gsm8k: bool = True) -> dict:
    """Greedy held-out GSM8K and generated-problem accuracy (with intervals), and pass@k at the training temperature."""
    from grpo_helpers.evaluation import evaluate_gsm8k, sample_correct
    from grpo_helpers.gsm8k import format_chat

    tokens, numbers = config.max_completion_length, {}
    size = max(args.task_eval_problems, args.passk_problems)
    held_out = held_out_problems(size, seed, args.held_out) if size else None
    system, example = PROMPTS[args.prompt]
    ask = lambda question: training_prompt(question, system, example)  # noqa: E731
    sets = [("gsm8k_test", args.eval_problems if gsm8k else 0, None)]
    if args.task_eval_problems:
        sets.append(("generated", args.task_eval_problems, held_out.select(range(args.task_eval_problems))))
    for name, n, data in sets:
        if n:
            started = time.perf_counter()
            result = evaluate_gsm8k(
                model,
                tokenizer,
                n_examples=n,
                seed=0,
                batch_size=n,
                max_new_tokens=tokens,
                label=f"{label} {name}",
                progress=False,
                dataset=data,
                prompt_fn=ask,
            )
            numbers[name] = eval_numbers(result, time.perf_counter() - started)
    if args.passk_problems:  # the first ones: one-step problems
        rows = held_out.select(range(args.passk_problems)).map(
            format_chat,
            fn_kwargs={"system_prompt": system, "worked_example": example},
            remove_columns=held_out.column_names,
        )
        started = time.perf_counter()
        counts = sample_correct(
            model,
            tokenizer,
            rows,
            k=args.k,
            temperature=config.temperature,
            max_new_tokens=tokens,
            batch_size=args.passk_problems,
        )
        numbers["passk_generated"] = passk_numbers(counts, args.k, time.perf_counter() - started)
    print(f"{label}: {numbers}", flush=True)
    return numbers


def prime(model, tokenizer, args, seed: int, folder: Path) -> dict:
    """Format priming: TRL's SFTTrainer on ``args.prime`` easy GSM8K train solutions in the answer format."""
    # GSM8K solutions the GRPO run never sees: another shuffle seed than the curriculum's
    solutions = easy_gsm8k(args.prime, args.max_solution_steps, seed + HELD_OUT_SEED)
    result = prime_format(
        model,
        tokenizer,
        solutions,
        steps=args.prime_steps,
        batch=4,
        seed=seed,
        output_dir=str(folder / "sft"),
        learning_rate=2e-4,
        lr_scheduler_type="constant",
        logging_steps=1,
        use_cpu=True,
        bf16=False,
        max_length=MODEL_TOKENS,
    )
    losses = result.pop("losses")
    return {**result, "loss_first_last": [round(losses[0], 3), round(losses[-1], 3)] if losses else None}


def run_seed(seed: int, args, overrides: dict) -> dict:
    import torch
    from transformers import set_seed
    from trl import GRPOTrainer

    from grpo_helpers.config import make_config
    from grpo_helpers.dashboard import LiveRewardDashboard
    from grpo_helpers.models import DEFAULT_MODEL, add_lora, load_model

    folder = args.out / (
        f"seed{seed}"
        + ("-primed" if args.prime else "")
        + ("" if args.task == "curriculum" else f"-{args.task}")
        + ("" if args.prompt == "tutorial" else f"-{args.prompt}")
    )
    folder.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    set_seed(seed)
    # a curriculum is an order: the trainer must not shuffle it
    config = make_config(
        args.preset,
        output_dir=str(folder / "checkpoints"),
        seed=seed,
        **{"shuffle_dataset": args.task != "curriculum", **overrides},
    )
    dtype = None if args.dtype == "auto" else getattr(torch, args.dtype)
    model, tokenizer = load_model(
        args.model or DEFAULT_MODEL,
        max_seq_length=MODEL_TOKENS,
        load_in_4bit=False,
        backend="transformers",
        dtype=dtype,
    )
    model = add_lora(
        model,
        backend="transformers",
        r=args.lora_rank,
        use_gradient_checkpointing=bool(config.gradient_checkpointing),
        random_state=seed,
    )
    train_dataset = with_prompt(train_set(args, seed), args.prompt)

    with model.disable_adapter():
        before = measure(model, tokenizer, args, seed, config, "base")
    priming = primed = None
    if args.prime:
        priming = prime(model, tokenizer, args, seed, folder)
        primed = measure(model, tokenizer, args, seed, config, "primed", gsm8k=False)  # format rate, generated, pass@k
    shares: list[float] = []
    trainer = GRPOTrainer(
        model=model,
        args=config,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        reward_funcs=tracked_rewards(config.max_completion_length, config.num_generations, shares),
    )
    trainer.add_callback(LiveRewardDashboard(output_dir=folder, mode="headless"))
    generation_calls = timed_generation(trainer)
    train_started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - train_started
    after = measure(model, tokenizer, args, seed, config, "trained")
    wall = time.perf_counter() - started

    import json

    (folder / "log_history.json").write_text(
        json.dumps(
            {
                "log_history": trainer.state.log_history,
                "zero_std_shares": shares,
                "before": before,
                "primed": primed,
                "after": after,
            }
        )
    )
    rows = step_logs(trainer.state.log_history)
    paths = write_curve(rows, folder)
    summary = {
        "seed": seed,
        "preset": args.preset,
        "overrides": overrides,
        "task": args.task,
        "prompt": args.prompt,
        "held_out": args.held_out,
        "curriculum": args.curriculum if args.task == "curriculum" else None,
        "settings": {
            name: getattr(config, name)
            for name in (
                "num_generations",
                "per_device_train_batch_size",
                "max_completion_length",
                "temperature",
                "learning_rate",
                "lr_scheduler_type",
                "loss_type",
                "beta",
                "max_steps",
                "mask_truncated_completions",
                "reward_weights",
                "max_grad_norm",
                "shuffle_dataset",
                "importance_sampling_level",
                "epsilon_high",
                "scale_rewards",
            )
        },
        "lora_rank": args.lora_rank,
        "model": args.model or DEFAULT_MODEL,
        "torch_threads": torch.get_num_threads(),
        "dtype": str(model.dtype).removeprefix("torch."),
        "train_problems": len(train_dataset),
        "wall_clock_seconds": round(wall, 1),
        **learning_numbers(
            rows, config.generation_batch_size, train_seconds, sum(c["seconds"] for c in generation_calls)
        ),
        **correctness_numbers(rows, shares),
        "priming": priming,
        "eval_before": before,
        "eval_primed": primed,
        "eval_after": after,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "versions": package_versions(),
        "curve": {k: str(p.relative_to(args.out)) for k, p in paths.items()},
        "command": " ".join(sys.argv),
    }
    write_summary(summary, folder / "summary.json")
    return summary


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the offline default model; never wait on the network
    overrides = parse_settings(args.overrides)
    for seed in args.seeds:
        s = run_seed(seed, args, overrides)
        print(
            f"seed {seed}: wall {s['wall_clock_seconds']} s, correctness reward {s['correctness_first_quarter']} -> "
            f"{s['correctness_last_quarter']}, zero-std share {s['correctness_zero_std_share']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
