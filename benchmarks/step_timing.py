"""The CPU step benchmark: one GRPO step of the ``quick_cpu`` preset against candidate ways to make
it faster, measured in one process.

    .venv/bin/python -m benchmarks.step_timing --threads 2 --out benchmarks/results/step_timing
    .venv/bin/python -m benchmarks.step_timing --candidates baseline merged --steps 2 --warmup 1   # a subset

Each candidate gets a fresh copy of the offline model with the same LoRA start, the same 16 GSM8K
train prompts and ``make_config("quick_cpu")`` with its changes, runs ``--steps`` optimizer steps
and is timed over the steps after ``--warmup``: wall seconds and CPU seconds of this process per
step (CPU seconds are what the candidate costs when other programs share the cores), and the same
for the time inside the trainer's generation. Writes ``results.json`` and ``table.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from statistics import mean

from benchmarks.common.clocks import step_clock, timed_generation
from benchmarks.common.prompts import PREVIOUS_EXAMPLE, PREVIOUS_SYSTEM
from benchmarks.common.tables import markdown_table

# name: (what it changes, GRPOConfig overrides, prompt, trainer, base weights' dtype)
CANDIDATES = {
    "baseline": ("quick_cpu as it is", {}, "tutorial", "trl", "float32"),
    "merged": (
        "LoRA merged into the weights while generating (PEFT merge_adapter/unmerge_adapter)",
        {},
        "tutorial",
        "merged",
        "float32",
    ),
    "static": (
        'cache_implementation="static" (uncompiled on the CPU)',
        {"cache_implementation": "static"},
        "tutorial",
        "trl",
        "float32",
    ),
    "continuous": (
        "use_transformers_continuous_batching=True (generate_batch)",
        {"use_transformers_continuous_batching": True},
        "tutorial",
        "trl",
        "float32",
    ),
    "no-filters": (
        "generation_kwargs: top_k=None, top_p=None (no sampling filters)",
        {"generation_kwargs": {"top_k": None, "top_p": None}},
        "tutorial",
        "trl",
        "float32",
    ),
    "previous-prompt": (
        "the longer system prompt and worked example used until 2026-12-03",
        {},
        "previous",
        "trl",
        "float32",
    ),
    "no-example": (
        "no worked example (the prompt notebook 04 shows fails to teach: reference only)",
        {},
        "none",
        "trl",
        "float32",
    ),
    "one-thread": ("torch.set_num_threads(1)", {}, "tutorial", "trl", "float32"),
    "bf16-weights": ("base weights in bfloat16 (LoRA stays float32), no autocast", {}, "tutorial", "trl", "bfloat16"),
    "bf16-autocast": (
        "float32 weights, bf16=True (torch.autocast on the CPU)",
        {"bf16": True},
        "tutorial",
        "trl",
        "float32",
    ),
    "bf16-both": ("bfloat16 base weights and bf16=True", {"bf16": True}, "tutorial", "trl", "bfloat16"),
    "bf16-previous-prompt": (
        "bfloat16 base weights, the prompt used until 2026-12-03",
        {},
        "previous",
        "trl",
        "bfloat16",
    ),
    "bf16-no-example": ("bfloat16 base weights, no worked example", {}, "none", "trl", "bfloat16"),
}
# float32: the CPU path before bfloat16 was measured here; bfloat16 runs slower on a CPU without its instructions.
RESULTS = Path(__file__).resolve().parent / "results" / "step_timing"


def merged_generation_trainer():
    """GRPOTrainer that folds the LoRA update into the weights for generation and takes it out after."""
    from trl import GRPOTrainer

    class MergedGenerationTrainer(GRPOTrainer):
        def _generate_single_turn(self, *args, **kwargs):
            model = self.accelerator.unwrap_model(self.model)
            model.merge_adapter()
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                model.unmerge_adapter()

    return MergedGenerationTrainer


def run_candidate(name: str, args) -> dict:
    import torch
    from transformers import set_seed
    from trl import GRPOTrainer

    from grpo_helpers.config import make_config
    from grpo_helpers.gsm8k import WORKED_EXAMPLE, format_chat, load_gsm8k
    from grpo_helpers.models import DEFAULT_MODEL, add_lora, load_model
    from grpo_helpers.rewards import SYSTEM_PROMPT, tutorial_rewards

    what, overrides, prompt, trainer_kind, dtype = CANDIDATES[name]
    torch.set_num_threads(1 if name == "one-thread" else args.threads)
    set_seed(0)
    model, tokenizer = load_model(
        DEFAULT_MODEL, max_seq_length=512, load_in_4bit=False, backend="transformers", dtype=getattr(torch, dtype)
    )
    model = add_lora(model, backend="transformers", r=16, use_gradient_checkpointing=False, random_state=0)
    system, example = {
        "tutorial": (SYSTEM_PROMPT, WORKED_EXAMPLE),
        "previous": (PREVIOUS_SYSTEM, PREVIOUS_EXAMPLE),
        "none": (SYSTEM_PROMPT, None),
    }[prompt]
    rows = load_gsm8k("train").select(range(16))
    dataset = rows.map(
        format_chat, fn_kwargs={"system_prompt": system, "worked_example": example}, remove_columns=rows.column_names
    )
    config = make_config("quick_cpu", output_dir=str(args.out / "checkpoints" / name), max_steps=args.steps, seed=0,
                         **overrides)  # fmt: skip
    trainer_class = merged_generation_trainer() if trainer_kind == "merged" else GRPOTrainer
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_funcs=tutorial_rewards(config.max_completion_length),
    )
    clock = step_clock()
    trainer.add_callback(clock)
    calls = timed_generation(trainer)
    load = os.getloadavg()[0]
    trainer.train()
    w = args.warmup
    wall = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)][w:]
    cpu = [b - a for a, b in zip(clock.cpu_ends, clock.cpu_ends[1:], strict=False)][w:]
    gen = [c for c in calls if c["started"] >= clock.ends[w]]
    prompt_tokens = mean(
        len(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
        for p in dataset["prompt"]
    )
    torch.set_num_threads(args.threads)
    return {
        "candidate": name,
        "what": what,
        "overrides": overrides,
        "prompt": prompt,
        "threads": 1 if name == "one-thread" else args.threads,
        "mean_prompt_tokens": round(prompt_tokens, 1),
        "seconds_per_step": round(mean(wall), 2),
        "cpu_seconds_per_step": round(mean(cpu), 2),
        "step_seconds": [round(s, 2) for s in wall],
        "generation_seconds_per_step": round(sum(c["seconds"] for c in gen) / len(wall), 2),
        "generation_cpu_seconds_per_step": round(sum(c["cpu_seconds"] for c in gen) / len(wall), 2),
        "generated_tokens_per_second": round(sum(c["tokens"] for c in gen) / sum(c["seconds"] for c in gen), 1),
        "generated_tokens_per_cpu_second": round(sum(c["tokens"] for c in gen) / sum(c["cpu_seconds"] for c in gen), 1),
        "mean_completion_tokens": round(sum(c["tokens"] for c in gen) / sum(c["completions"] for c in gen), 1),
        "load_average_before": round(load, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def table(results: list[dict]) -> str:
    base = next((r for r in results if r["candidate"] == "baseline" and "error" not in r), None)
    head = [
        "candidate",
        "what",
        "prompt tokens",
        "s/step (wall)",
        "CPU s/step",
        "x baseline (CPU)",
        "generation CPU s/step",
        "generated tokens/s (wall)",
        "tokens / CPU s",
        "load before, after",
    ]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["candidate"], f"failed: {r['error']}"])
            continue
        speedup = f"{base['cpu_seconds_per_step'] / r['cpu_seconds_per_step']:.2f}" if base else ""
        rows.append(
            [
                r["candidate"],
                r["what"],
                r["mean_prompt_tokens"],
                r["seconds_per_step"],
                r["cpu_seconds_per_step"],
                speedup,
                r["generation_cpu_seconds_per_step"],
                r["generated_tokens_per_second"],
                r["generated_tokens_per_cpu_second"],
                f"{r['load_average_before']}, {r['load_average_after']}",
            ]
        )
    return markdown_table(head, rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: every core)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per candidate (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="first steps left out of the timing (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.warmup >= args.steps:
        parser.error(f"--warmup ({args.warmup}) must be smaller than --steps ({args.steps})")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.candidates:
        print(f"== {name}: {CANDIDATES[name][0]}", flush=True)
        try:
            results.append(run_candidate(name, args))
        except Exception as error:  # a candidate that does not run here is reported, not fatal
            results.append({"candidate": name, "error": f"{type(error).__name__}: {str(error)[:200]}"})
        print(json.dumps(results[-1]), flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    text = table(results)
    (args.out / "table.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
