"""GPU learning benchmark: does GRPO make the real SmolLM2-135M-Instruct more correct on held-out
GSM8K problems in a few minutes of training on one GPU, and if not, why not?

    python -m benchmarks.gpu_learning --model /path/to/SmolLM2-135M-Instruct --out benchmarks/results/gpu_learning
    python -m benchmarks.gpu_learning --model ... --sft-steps 150 --seed 1 --out ...   # format priming first
    python -m benchmarks.gpu_learning --quick --out /tmp/gpu_learning_smoke          # a tiny run on a CPU

In one process, with the backend ``choose_backend`` picks (16-bit transformers + PEFT with compiled
generation on a big GPU, as notebook 06): load the model (16-bit) with LoRA; measure the base model:
greedy accuracy (95% Wilson interval), format rate and completion lengths in tokens on
``--eval-problems`` GSM8K test problems (all 1,319 by default) in batches of ``--eval-batch``, pass@1
and pass@k (``--k`` samples at the training temperature) on the first ``--passk-problems`` of them;
with ``--sft-steps N``, prime the format first (notebook 10: TRL's ``SFTTrainer`` for N steps on GSM8K
train solutions in the answer format) and measure again (unless ``--no-after-sft``); the "can this run learn?" check on
``--probe-problems`` GSM8K train problems (pass@k and the share of groups whose correctness scores
tie); train with ``make_config(--preset, **--set)`` and the tutorial's rewards for at most
``--train-seconds`` (0: no GRPO) on GSM8K train problems (``--edge``: only the probed ones the model
solved sometimes but not always; ``--task curriculum``: notebook 10's generated problems); measure
again. Writes to ``--out``: ``summary.json`` (n, correct, interval per measurement; seed, command,
commit), ``reward_curve.csv``/``.png`` (every reward function per step), ``eval_<label>.csv`` (every
problem's completion) and ``log_history.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.settings import add_settings_argument, parse_settings
from benchmarks.common.versions import package_versions

# The recommended GPU settings for a small model (over the "aggressive" preset): 16 samples per prompt, so
# a problem solved one time in ten still gives its group a reward difference; a 5x larger step than the
# preset's (LoRA on 135M parameters moves little at 2e-5); 256 tokens, room for a GSM8K solution.
SMALL_MODEL = [
    "num_generations=16",
    "per_device_train_batch_size=64",
    "learning_rate=1e-4",
    "max_completion_length=256",
    "max_steps=500",
    "save_strategy='no'",
]
QUICK = [
    "num_generations=2",
    "per_device_train_batch_size=2",
    "max_completion_length=16",
    "max_steps=2",
    "save_strategy='no'",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="model folder or Hub id (default: the offline SmolLM2-135M-Instruct)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "gpu_learning")
    parser.add_argument("--quick", action="store_true", help="tiny numbers, to check the script on a CPU")
    parser.add_argument("--preset", default=None, help="default: aggressive (quick: quick_cpu)")
    add_settings_argument(parser, f"GRPOConfig overrides (default: {' '.join(SMALL_MODEL)})", none_when_absent=True)
    parser.add_argument("--task", choices=("gsm8k", "curriculum"), default="gsm8k")
    parser.add_argument("--edge", action="store_true", help="train only on probed train problems solved sometimes")
    parser.add_argument("--train-problems", type=int, default=2000)
    parser.add_argument("--train-seconds", type=float, default=300.0, help="stop training after this long")
    parser.add_argument(
        "--train-until", type=float, default=None, help="stop training this many seconds after the start instead"
    )
    parser.add_argument(
        "--no-before", action="store_true", help="skip measuring the base model (measured by an earlier run)"
    )
    parser.add_argument(
        "--no-after-sft", action="store_true", help="skip measuring the primed model (measured by an earlier run)"
    )
    parser.add_argument("--eval-problems", type=int, default=GSM8K_TEST_PROBLEMS)
    parser.add_argument("--eval-batch", type=int, default=660)
    parser.add_argument("--passk-problems", type=int, default=GSM8K_TEST_PROBLEMS)
    parser.add_argument("--passk-batch", type=int, default=165, help="problems a sampling batch (x --k sequences)")
    parser.add_argument("--sft-steps", type=int, default=0, help="format priming steps before GRPO (0: none)")
    parser.add_argument("--sft-batch", type=int, default=16)
    parser.add_argument("--sft-learning-rate", type=float, default=2e-4)
    parser.add_argument("--commit", default=None, help="recorded in summary.json (default: git rev-parse HEAD)")
    parser.add_argument("--probe-problems", type=int, default=128)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--eval-tokens", type=int, default=512, help="long enough to see how long answers run")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.preset = args.preset or "quick_cpu"
        args.overrides = args.overrides or QUICK
        for name, value in dict(
            train_problems=8,
            train_seconds=600,
            eval_problems=4,
            eval_batch=4,
            passk_problems=2,
            passk_batch=2,
            probe_problems=2,
            k=2,
            eval_tokens=16,
        ).items():
            setattr(args, name, value)
    args.preset = args.preset or "aggressive"
    args.overrides = args.overrides if args.overrides is not None else SMALL_MODEL
    return args


GSM8K_TEST_PROBLEMS = 1319
CUT_POINTS = (128, 200, 256, 300, 384)  # max_completion_length values to read the lengths against


def current_commit(given: str | None) -> str:
    """``given``, else the checkout's HEAD, else "unknown" (a copy of the tree without .git)."""
    if given:
        return given
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return found.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def length_numbers(tokenizer, completions: list[str], max_new_tokens: int) -> dict:
    """Completion lengths in tokens: median, 90th percentile, the share that reached ``max_new_tokens``
    (cut off) and the share longer than each of ``CUT_POINTS`` below it (what that limit would cut)."""
    from statistics import median, quantiles

    lengths = [len(ids) for ids in tokenizer(completions, add_special_tokens=False)["input_ids"]]
    return {
        "median": median(lengths),
        "p90": round(quantiles(lengths, n=10)[-1], 1) if len(lengths) > 1 else lengths[0],
        "max_new_tokens": max_new_tokens,
        "cut_off_share": round(sum(n >= max_new_tokens for n in lengths) / len(lengths), 4),
        "longer_than": {
            str(cut): round(sum(n > cut for n in lengths) / len(lengths), 4)
            for cut in CUT_POINTS
            if cut < max_new_tokens
        },
    }


def time_limit(seconds: float):
    """A TrainerCallback that ends training after the step that passes ``seconds``."""
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if time.perf_counter() - self.started > seconds:
                control.should_training_stop = True

    return TimeLimit()


def main(argv=None) -> int:
    args = parse_args(argv)
    from grpo_helpers.environment import choose_backend, detect_hardware

    hardware = detect_hardware()
    backend = choose_backend(hardware)
    if backend == "unsloth":
        import unsloth  # noqa: F401  before transformers and TRL: it patches them

    # after Unsloth: these import transformers and TRL (learning_summary through grpo_helpers.dashboard)
    from transformers import set_seed
    from trl import GRPOTrainer

    from benchmarks.common.learning_summary import (
        correctness_numbers,
        eval_numbers,
        passk_numbers,
        step_logs,
        tracked_rewards,
        write_curve,
        write_summary,
    )
    from grpo_helpers.arithmetic import curriculum
    from grpo_helpers.config import make_config
    from grpo_helpers.dashboard import quarter_means
    from grpo_helpers.evaluation import at_the_edge, evaluate_gsm8k, gsm8k_subset, learnability, sample_correct
    from grpo_helpers.gsm8k import format_chat, load_gsm8k, prepare_gsm8k
    from grpo_helpers.models import DEFAULT_MODEL, add_lora, load_model
    from grpo_helpers.training import compiled_generation

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)
    overrides = parse_settings(args.overrides)
    max_seq_length = 1024
    config = make_config(
        args.preset,
        output_dir=tempfile.mkdtemp(prefix="gpu_learning."),
        seed=args.seed,
        **{
            "shuffle_dataset": args.task != "curriculum",
            **compiled_generation(hardware, backend, max_seq_length),
            **overrides,
        },
    )
    model, tokenizer = load_model(
        args.model or DEFAULT_MODEL, max_seq_length=max_seq_length, load_in_4bit=False, backend=backend
    )
    model = add_lora(model, backend=backend, r=args.lora_rank, random_state=args.seed)
    loaded = time.perf_counter() - started
    passk_rows = gsm8k_subset(args.passk_problems, seed=0, split="test").map(
        format_chat, remove_columns=["question", "answer", "id"]
    )

    def measure(label):
        t = time.perf_counter()
        result = evaluate_gsm8k(
            model,
            tokenizer,
            n_examples=args.eval_problems,
            seed=0,
            batch_size=args.eval_batch,
            max_new_tokens=args.eval_tokens,
            label=label,
            progress=False,
        )
        numbers = {
            "gsm8k_test": eval_numbers(result, time.perf_counter() - t),
            "completion_tokens": length_numbers(tokenizer, list(result.table["completion"]), args.eval_tokens),
        }
        result.table.to_csv(args.out / f"eval_{label}.csv", index=False)
        t = time.perf_counter()
        counts = sample_correct(
            model,
            tokenizer,
            passk_rows,
            k=args.k,
            temperature=config.temperature,
            max_new_tokens=config.max_completion_length,
            batch_size=args.passk_batch,
        )
        numbers["passk_gsm8k_test"] = passk_numbers(counts, args.k, time.perf_counter() - t)
        print(
            label,
            json.dumps({k: {n: v for n, v in d.items() if n != "counts"} for k, d in numbers.items()}),
            flush=True,
        )
        measured[label] = numbers
        save_measured()
        return numbers

    def save_measured():  # on disk after each measurement: a run cut off keeps what it measured
        (args.out / "measurements.json").write_text(json.dumps({"commit": commit, "seed": args.seed, **measured}))

    commit = current_commit(args.commit)
    measured: dict[str, dict] = {}
    before = None if args.no_before else measure("before")
    after_sft = None
    if args.sft_steps > 0:
        from benchmarks.common.priming import prime_format
        from grpo_helpers.config import precision_settings

        priming = prime_format(
            model,
            tokenizer,
            load_gsm8k("train").shuffle(seed=args.seed),
            steps=args.sft_steps,
            batch=args.sft_batch,
            seed=args.seed,
            output_dir=tempfile.mkdtemp(prefix="gpu_learning_sft."),
            learning_rate=args.sft_learning_rate,
            logging_steps=10,
            **precision_settings(hardware),
        )
        sft_seconds, sft_losses = priming["seconds"], priming["losses"]
        print(f"format priming: {args.sft_steps} steps in {sft_seconds} s, loss {sft_losses[:1]} -> {sft_losses[-1:]}")
        measured["sft"] = {"steps": args.sft_steps, "seconds": sft_seconds, "losses": sft_losses}
        save_measured()
        measured_sft = {} if args.no_after_sft else measure("after_sft")
        after_sft = {**measured_sft, "sft_seconds": sft_seconds, "sft_losses": sft_losses}
    if args.task == "curriculum":
        n = args.train_problems
        train_dataset = curriculum(n // 4, n // 4, n // 2, seed=args.seed)
    else:
        train_dataset = prepare_gsm8k(
            "train", n=args.train_problems, seed=args.seed, tokenizer=tokenizer, max_prompt_length=256
        )
    probe = train_dataset.select(range(min(args.probe_problems, len(train_dataset))))
    t = time.perf_counter()
    probe_counts = sample_correct(
        model,
        tokenizer,
        probe,
        k=args.k,
        temperature=config.temperature,
        max_new_tokens=config.max_completion_length,
        batch_size=args.passk_batch,
    )
    can_learn = {**learnability(probe_counts, args.k), "seconds": round(time.perf_counter() - t, 1)}
    print("can this run learn? (train problems)", can_learn, flush=True)
    if args.edge:
        train_dataset = at_the_edge(probe, probe_counts, args.k)
        print(f"training on the {len(train_dataset)} probed problems at the edge", flush=True)

    shares: list[float] = []
    log_history: list[dict] = []
    train_seconds = 0.0
    compiled = False
    limit = args.train_seconds if args.train_until is None else args.train_until - (time.perf_counter() - started)
    if limit > 0:
        trainer = GRPOTrainer(
            model=model,
            args=config,
            train_dataset=train_dataset,
            processing_class=tokenizer,
            reward_funcs=tracked_rewards(config.max_completion_length, config.num_generations, shares),
            callbacks=[time_limit(limit)],
        )
        compiled = config.cache_implementation == "static"
        if compiled:
            trainer.generation_config.disable_compile = False  # TRL builds it with True: let generate compile
        t = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - t
        log_history = trainer.state.log_history
    after = measure("after")

    (args.out / "log_history.json").write_text(
        json.dumps({"log_history": log_history, "correctness_zero_std_shares": shares})
    )
    rows = step_logs(log_history)
    write_curve(rows, args.out)
    import torch

    summary = {
        "command": " ".join(sys.argv),
        "commit": commit,
        "seed": args.seed,
        "sft_steps": args.sft_steps,
        "compiled_generation": compiled,
        "backend": backend,
        "model": args.model or DEFAULT_MODEL,
        "preset": args.preset,
        "overrides": overrides,
        "task": args.task,
        "edge": args.edge,
        "train_problems": len(train_dataset),
        "settings": {
            name: getattr(config, name)
            for name in (
                "num_generations",
                "per_device_train_batch_size",
                "steps_per_generation",
                "max_completion_length",
                "temperature",
                "learning_rate",
                "loss_type",
                "beta",
                "max_steps",
                "reward_weights",
                "shuffle_dataset",
            )
        },
        "steps": len(rows),
        "train_seconds": round(train_seconds, 1),
        "seconds_per_step": round(train_seconds / len(rows), 2) if rows else None,
        "clipped_ratio_first_steps": [round(r.get("completions/clipped_ratio", 0.0), 3) for r in rows[:5]],
        "load_seconds": round(loaded, 1),
        "reward_first_last_quarter": [round(x, 4) for x in quarter_means([r["reward"] for r in rows])]
        if rows
        else None,
        **(correctness_numbers(rows, shares) if rows else {}),
        "frac_reward_zero_std_mean": round(sum(r.get("frac_reward_zero_std", 0) for r in rows) / max(1, len(rows)), 3),
        "can_this_run_learn": {**can_learn, "counts": probe_counts},
        "eval_before": before,
        "eval_after_sft": after_sft,
        "eval_after": after,
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "versions": package_versions(),
        "wall_clock_seconds": round(time.perf_counter() - started, 1),
    }
    write_summary(summary, args.out / "summary.json")
    a = after["gsm8k_test"]
    b = before["gsm8k_test"] if before else {"accuracy": float("nan"), "ci95": "not measured here"}
    print(
        f"held-out GSM8K accuracy {b['accuracy']:.1%} {b['ci95']} -> {a['accuracy']:.1%} {a['ci95']} "
        f"(n={a['problems']}); "
        f"correctness reward {summary.get('correctness_first_quarter')} -> {summary.get('correctness_last_quarter')}; "
        f"wall {summary['wall_clock_seconds']} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
