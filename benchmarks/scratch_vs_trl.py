"""Notebook 08's minimal GRPO loop against TRL's GRPOTrainer: same prompts, seed and settings.

    .venv/bin/python -m benchmarks.scratch_vs_trl                       # quick_cpu preset, seeds 3407 and 0
    .venv/bin/python -m benchmarks.scratch_vs_trl --steps 8 --seeds 1   # shorter
    .venv/bin/python -m benchmarks.scratch_vs_trl --tiny                # a smoke test with a tiny random model

For each seed: load the tutorial model for this machine (the offline SmolLM2-135M-Instruct on a CPU)
with fresh LoRA adapters, train it with ``grpo_train`` (notebook 08's cell tagged ``grpo-train``, read
from the notebook, so the benchmark runs exactly what the learner reads) for ``--steps`` steps; load it again,
train it with ``GRPOTrainer`` on the same ``make_config(--preset)`` config (same dataset, sampler order,
seed, rewards). Writes ``benchmarks/results/scratch_vs_trl.json`` (every step's mean total reward and
seconds, the first- and last-quarter means, wall clock, load average, versions) and ``.csv`` (one row per
step and loop), and prints the quarter means. Sampling is random: the two loops see the same prompts but
draw different completions, so compare trends, not single steps.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common.notebook_cells import run_cell
from benchmarks.common.random_models import save_tiny_model
from benchmarks.common.versions import package_versions

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3407, 0], help="one pair of runs per seed")
    parser.add_argument("--preset", default=None, help="a make_config preset (default: the one for this machine)")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps per run (default: the preset's max_steps)")
    parser.add_argument("--train-problems", type=int, default=200, help="GSM8K train problems to draw prompts from")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument(
        "--tiny", action="store_true", help="a 2-layer random model and 2 steps: checks the script runs"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: benchmarks/results/scratch_vs_trl.json (--tiny: a temporary folder)",
    )
    return parser.parse_args(argv)


def fresh_model(model_name: str, tiny: bool):
    from grpo_helpers.models import add_lora, load_model

    model, tokenizer = load_model(model_name, load_in_4bit=True)
    return add_lora(model, r=4 if tiny else 16, use_gradient_checkpointing=False), tokenizer


def run_pair(seed: int, args, model_name: str) -> dict:
    from trl import GRPOTrainer

    from grpo_helpers.config import make_config, recommended_preset
    from grpo_helpers.dashboard import quarter_means
    from grpo_helpers.environment import detect_hardware
    from grpo_helpers.gsm8k import prepare_gsm8k
    from grpo_helpers.rewards import tutorial_rewards

    preset = args.preset or recommended_preset(detect_hardware())
    overrides = {"seed": seed, "output_dir": tempfile.mkdtemp(prefix="scratch_vs_trl_"), "disable_tqdm": True}
    if args.steps:
        overrides["max_steps"] = args.steps
    if args.tiny:
        overrides.update(max_steps=2, max_completion_length=8, num_generations=2, per_device_train_batch_size=4)
    config = make_config(preset, **overrides)
    model, tokenizer = fresh_model(model_name, args.tiny)
    dataset = prepare_gsm8k("train", tokenizer=tokenizer, max_prompt_length=256, n=args.train_problems, seed=0)
    runs = {}
    start = time.perf_counter()
    grpo_train = run_cell("08", "grpo-train")["grpo_train"]  # as notebook 08 defines it, in a fresh namespace
    history = grpo_train(model, tokenizer, dataset, tutorial_rewards(config.max_completion_length), config)
    runs["grpo_train"] = {
        "seconds": time.perf_counter() - start,
        "rewards": [r["reward"] for r in history],
        "frac_reward_zero_std": [r["frac_reward_zero_std"] for r in history],
    }
    model, tokenizer = fresh_model(model_name, args.tiny)
    trainer = GRPOTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_funcs=tutorial_rewards(config.max_completion_length),
    )
    start = time.perf_counter()
    trainer.train()
    logged = [row for row in trainer.state.log_history if "reward" in row]
    runs["GRPOTrainer"] = {
        "seconds": time.perf_counter() - start,
        "rewards": [r["reward"] for r in logged],
        "frac_reward_zero_std": [r["frac_reward_zero_std"] for r in logged],
    }
    for name, run in runs.items():
        run["first_quarter"], run["last_quarter"] = quarter_means(run["rewards"])
        print(
            f"seed {seed}, {name:>11}: reward first quarter {run['first_quarter']:.3f}, last quarter "
            f"{run['last_quarter']:.3f} ({len(run['rewards'])} steps, {run['seconds']:.0f} s)",
            flush=True,
        )
    return {
        "seed": seed,
        "preset": preset,
        "settings": {
            k: getattr(config, k)
            for k in (
                "num_generations",
                "per_device_train_batch_size",
                "max_completion_length",
                "temperature",
                "beta",
                "loss_type",
                "epsilon",
                "epsilon_high",
                "learning_rate",
                "max_grad_norm",
                "max_steps",
                "scale_rewards",
            )
        },
        "runs": runs,
    }


def main(argv=None):
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    model_name = "tiny"
    if args.out is None:
        args.out = Path(tempfile.mkdtemp()) / "scratch_vs_trl.json" if args.tiny else RESULTS / "scratch_vs_trl.json"
    if args.tiny:
        model_name = str(save_tiny_model(Path(tempfile.mkdtemp()) / "tiny"))
    else:
        from grpo_helpers.environment import detect_hardware
        from grpo_helpers.models import resolve_model, tutorial_model

        model_name = resolve_model(tutorial_model(detect_hardware()))
    load_before, start = os.getloadavg()[0], time.perf_counter()
    pairs = []
    for seed in args.seeds:  # the files are rewritten after each seed: a stopped run keeps what it finished
        pairs.append(run_pair(seed, args, model_name))
        summary = write_results(args, model_name, pairs, load_before, start)
    print(f"wrote {args.out} and {args.out.with_suffix('.csv').name} ({summary['wall_seconds']:.0f} s in all)")
    return summary


def write_results(args, model_name, pairs, load_before, start) -> dict:
    summary = {
        "model": Path(model_name).name if args.tiny else model_name,
        "tiny": args.tiny,
        "threads": args.threads,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "versions": package_versions(),
        "pairs": pairs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    with args.out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["seed", "loop", "step", "reward", "frac_reward_zero_std"])
        for pair in pairs:
            for name, run in pair["runs"].items():
                for step, (reward, flat) in enumerate(
                    zip(run["rewards"], run["frac_reward_zero_std"], strict=True), start=1
                ):
                    writer.writerow([pair["seed"], name, step, round(reward, 4), round(flat, 4)])
    return summary


if __name__ == "__main__":
    main()
