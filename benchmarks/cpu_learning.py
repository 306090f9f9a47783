"""CPU learning benchmark: does GRPO with the ``quick_cpu`` preset visibly learn on a laptop CPU,
and how fast?

    .venv/bin/python benchmarks/cpu_learning.py --seeds 0 1

For each seed: load the offline default model (SmolLM2-135M-Instruct) in float32, add LoRA,
evaluate it on held-out GSM8K test problems, train with ``make_config("quick_cpu")`` and the
tutorial's reward functions on easy GSM8K train problems, evaluate again. Writes, under
``benchmarks/results/seed<N>/``: ``reward_curve.csv`` and ``reward_curve.png`` (total reward and
each reward function per step), the dashboard's ``metrics.csv``/``reward_dashboard.png``, and
``summary.json``: wall-clock, seconds per step, generated tokens per second, mean total reward
of the first and last quarter of steps, held-out format rate and accuracy before and after.

``--set name=value`` overrides a GRPOConfig field (to try other settings); the summary records
every override, so a run with overrides is never mistaken for the preset's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from learning_summary import learning_numbers, step_logs, write_curve, write_summary  # noqa: E402
from package_versions import package_versions  # noqa: E402
from settings_args import parse_settings  # noqa: E402
from step_timing import timed_generation  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# tutorial: the tutorial's training prompt (system prompt, the worked example turn, the question);
# instruction-only: the same without the worked example.
PROMPTS = ("tutorial", "instruction-only")
MODEL_TOKENS = 512  # prompt (<= 256 tokens) + completion


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="one run per seed (default: 0 1)")
    parser.add_argument("--preset", default="quick_cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads (default: every core; on a machine busy with other work, 1 is faster)")
    parser.add_argument("--train-problems", type=int, default=200, help="easy GSM8K train problems to sample prompts from")
    parser.add_argument("--max-solution-steps", type=int, default=2,
                        help="keep train problems whose reference solution has at most this many lines before '####'")
    parser.add_argument("--eval-problems", type=int, default=16, help="held-out GSM8K test problems, evaluated before and after")
    parser.add_argument("--prompt", choices=PROMPTS, default="tutorial",
                        help="tutorial: the notebooks' prompt (system prompt, worked example turn, question); "
                             "instruction-only: without the worked example")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="override a GRPOConfig field, e.g. --set learning_rate=2e-4 (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def worked_example(prompt: str):
    """The worked example ``prompt`` shows: the tutorial's, or ``None`` for ``instruction-only``."""
    from grpo_helpers.gsm8k import WORKED_EXAMPLE

    return WORKED_EXAMPLE if prompt == "tutorial" else None


def chat_prompt(question: str, prompt: str) -> list[dict]:
    """The chat messages for ``question``: the tutorial's training prompt, without its worked
    example when ``prompt`` is ``instruction-only``."""
    from grpo_helpers.gsm8k import training_prompt

    return training_prompt(question, worked_example=worked_example(prompt))


def easy_train_set(n: int, max_steps: int, seed: int, prompt: str):
    """``n`` GSM8K train problems whose reference solution takes at most ``max_steps`` lines,
    sampled with ``seed``, as chat prompts (``format_chat``: ``prompt``, ``ground_truth``)."""
    from grpo_helpers.gsm8k import load_gsm8k
    from grpo_helpers.gsm8k import format_chat

    train = load_gsm8k("train")
    easy = train.filter(lambda row: row["answer"].count("\n") <= max_steps)
    easy = easy.shuffle(seed=seed).select(range(min(n, len(easy))))
    return easy.map(format_chat, fn_kwargs={"worked_example": worked_example(prompt)}, remove_columns=easy.column_names)


def evaluate(model, tokenizer, n: int, max_new_tokens: int, label: str, prompt: str) -> dict:
    from grpo_helpers.evaluation import evaluate_gsm8k

    started = time.perf_counter()
    # One batch: on a CPU, generating 16 replies at once costs far less than two batches of 8.
    result = evaluate_gsm8k(model, tokenizer, n_examples=n, seed=0, batch_size=n,
                            max_new_tokens=max_new_tokens, label=label, progress=False,
                            prompt_fn=lambda question: chat_prompt(question, prompt))
    return {"accuracy": result.accuracy, "format_rate": result.format_rate, "problems": result.n_examples,
            "seconds": round(time.perf_counter() - started, 1)}


def run_seed(seed: int, args, overrides: dict) -> dict:
    import torch
    from transformers import set_seed
    from trl import GRPOTrainer

    from grpo_helpers.config import make_config
    from grpo_helpers.dashboard import LiveRewardDashboard
    from grpo_helpers.models import DEFAULT_MODEL, add_lora, load_model
    from grpo_helpers.rewards import tutorial_rewards

    folder = args.out / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    set_seed(seed)
    config = make_config(args.preset, output_dir=str(folder / "checkpoints"), seed=seed, **overrides)
    model, tokenizer = load_model(DEFAULT_MODEL, max_seq_length=MODEL_TOKENS, load_in_4bit=False, backend="transformers")
    model = add_lora(model, backend="transformers", r=args.lora_rank, use_gradient_checkpointing=bool(config.gradient_checkpointing), random_state=seed)
    train_dataset = easy_train_set(args.train_problems, args.max_solution_steps, seed, args.prompt)

    with model.disable_adapter():
        before = evaluate(model, tokenizer, args.eval_problems, config.max_completion_length, "base", args.prompt)
    trainer = GRPOTrainer(model=model, args=config, train_dataset=train_dataset, processing_class=tokenizer,
                          reward_funcs=tutorial_rewards(config.max_completion_length))
    trainer.add_callback(LiveRewardDashboard(output_dir=folder, mode="headless"))
    generation_calls = timed_generation(trainer)
    train_started = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - train_started
    after = evaluate(model, tokenizer, args.eval_problems, config.max_completion_length, "trained", args.prompt)
    wall = time.perf_counter() - started

    rows = step_logs(trainer.state.log_history)
    paths = write_curve(rows, folder)
    summary = {
        "seed": seed,
        "preset": args.preset,
        "overrides": overrides,
        "settings": {name: getattr(config, name) for name in (
            "num_generations", "per_device_train_batch_size", "max_completion_length", "temperature", "learning_rate",
            "lr_scheduler_type", "loss_type", "beta", "max_steps", "mask_truncated_completions", "reward_weights",
            "max_grad_norm")},
        "prompt": args.prompt,
        "lora_rank": args.lora_rank,
        "torch_threads": torch.get_num_threads(),
        "train_problems": len(train_dataset),
        "max_solution_steps": args.max_solution_steps,
        "wall_clock_seconds": round(wall, 1),
        **learning_numbers(rows, config.generation_batch_size, train_seconds, sum(c["seconds"] for c in generation_calls)),
        "eval_before": before,
        "eval_after": after,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "versions": package_versions(),
        "curve": {k: str(p.relative_to(args.out)) for k, p in paths.items()},
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
        summary = run_seed(seed, args, overrides)
        keys = ("wall_clock_seconds", "seconds_per_step", "generated_tokens_per_second", "reward_first_quarter",
                "reward_last_quarter", "reward_ratio_last_to_first")
        print(f"seed {seed}: " + ", ".join(f"{k}={summary[k]}" for k in keys))
        print(f"  before {summary['eval_before']}  after {summary['eval_after']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
