"""Train with GRPO from the command line, on one GPU or several: notebook 06's run as a script.

    accelerate launch --num_processes 1 scripts/train_grpo.py --preset basic
    accelerate launch --num_processes 2 scripts/train_grpo.py --preset colab_t4          # Kaggle's 2 x T4
    accelerate launch --config_file configs/accelerate/zero2.yaml --num_processes 4 scripts/train_grpo.py
    python scripts/train_grpo.py --check-only --num-processes 4 --preset basic          # the batch arithmetic only

The same model and LoRA (notebooks 01-02), GSM8K prompts (04), rewards (03) and config (05:
``make_config(preset)``, or ``--config`` for the file notebook 05 saved) as notebook 06. TRL's
GRPOTrainer and accelerate do all the distributed work (DDP, DeepSpeed ZeRO, vLLM): the script only
asks accelerate's ``PartialState`` which process is the main one, which prints and writes files.

Across processes (TRL's rule): one generation batch holds
``per_device_train_batch_size x num_processes x steps_per_generation`` completions, and it must hold
whole groups of ``num_generations``. The script checks that before loading anything and says what
to change.

Writes to ``--output-dir`` (default ``<run folder>/train_grpo``): ``metrics.csv``/``metrics.json``
and ``reward_dashboard.png`` (the dashboard's files, as notebook 06 writes them), ``checkpoints/``
(``--save-steps``; ``--resume`` continues the newest), ``adapter/`` and ``train_summary.json``
(processes, batch arithmetic, wall clock, seconds per step, peak memory, versions).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

GPU_ONLY_BACKENDS = ("unsloth", "bitsandbytes")


# ---- the command line


def _setting(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, value), the value read as JSON when it parses (``1e-5``, ``true``, ``[1,0]``)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--set expects NAME=VALUE (a GRPOConfig field), got {text!r}")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from grpo_helpers.config import PRESET_NAMES
    from grpo_helpers.environment import BACKENDS

    parser = argparse.ArgumentParser(
        prog="train_grpo.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="GRPO on GSM8K with notebook 06's model, rewards, data and config; run it with "
                    "`accelerate launch --num_processes N scripts/train_grpo.py ...` for N processes (GPUs).",
        epilog="Batch rule (TRL): per_device_train_batch_size x processes x steps_per_generation completions per "
               "generation batch, a multiple of num_generations.")  # fmt: skip
    what = parser.add_argument_group("what to train")
    what.add_argument(
        "--preset", choices=PRESET_NAMES, help="a GRPO preset (default: the one recommended for this machine)"
    )
    what.add_argument(
        "--config", type=Path, help="a config file saved by notebook 05 (save_config) instead of a preset"
    )
    what.add_argument("--model", help="a model folder or Hub id (default: the tutorial's model for this machine)")
    what.add_argument(
        "--backend",
        choices=BACKENDS,
        help="default: transformers (16-bit) on a CPU and on a GPU with "
        "bfloat16 and 20 GiB or more; on other GPUs unsloth (4-bit) on one GPU with Unsloth, bitsandbytes "
        "on several (plain TRL, what DDP and DeepSpeed run)",
    )
    what.add_argument(
        "--train-size", type=_positive, help="GSM8K train prompts to sample (default: 400, 16 in quick mode)"
    )
    what.add_argument(
        "--max-seq-length",
        type=_positive,
        help="prompt + completion tokens (default: run_plan's, as in the notebooks: 1024, 512 in quick mode)",
    )
    what.add_argument("--lora-rank", type=_positive, default=16)
    config = parser.add_argument_group("GRPOConfig settings (each overrides the preset's)")
    for flag, kind in (
        ("--max-steps", _positive),
        ("--num-generations", _positive),
        ("--per-device-train-batch-size", _positive),
        ("--gradient-accumulation-steps", _positive),
        ("--steps-per-generation", _positive),
        ("--max-completion-length", _positive),
        ("--learning-rate", float),
        ("--seed", int),
        ("--logging-steps", _positive),
    ):
        config.add_argument(flag, type=kind)
    config.add_argument("--save-steps", type=_positive, help="save a checkpoint every N steps (and at the end)")
    config.add_argument(
        "--no-compile-generation",
        action="store_true",
        help="with the transformers backend on a GPU: "
        "generate eagerly instead of compiling the decoding step (notebook 06, compiled decoding)",
    )
    config.add_argument("--use-vllm", action="store_true", help="generate with vLLM (needs vllm installed)")
    config.add_argument(
        "--vllm-mode",
        choices=("server", "colocate"),
        help="server: a `trl vllm-serve` process on "
        "its own GPU(s); colocate: vLLM inside each training process (default of TRL: colocate)",
    )
    config.add_argument("--vllm-server-base-url", help="the server's URL (default of TRL: http://0.0.0.0:8000)")
    config.add_argument(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other GRPOConfig field, e.g. --set beta=0.0 (repeatable)",
    )
    run = parser.add_argument_group("the run")
    run.add_argument("--output-dir", type=Path, help="where everything goes (default: <run folder>/train_grpo)")
    run.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="CHECKPOINT",
        help="continue from a checkpoint folder, or (no value) from the newest in <output-dir>/checkpoints",
    )
    run.add_argument("--summary", type=Path, help="also write train_summary.json to this path")
    run.add_argument(
        "--check-only", action="store_true", help="print the batch arithmetic and stop (no model is loaded)"
    )
    run.add_argument(
        "--num-processes",
        type=_positive,
        help="with --check-only: check for this many processes (otherwise it is the number accelerate launch started)",
    )
    return parser


# Command-line names of the GRPOConfig settings above (argparse attribute -> field).
CONFIG_FLAGS = ("max_steps", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
                "steps_per_generation", "max_completion_length", "learning_rate", "seed", "logging_steps",
                "vllm_mode", "vllm_server_base_url")  # fmt: skip


def overrides_from(args) -> dict:
    """The GRPOConfig fields the command line sets (``--set`` last, so it wins)."""
    overrides = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    if args.save_steps is not None:
        overrides.update(save_strategy="steps", save_steps=args.save_steps)
    if args.use_vllm:
        overrides["use_vllm"] = True
    elif args.vllm_mode or args.vllm_server_base_url:
        raise SystemExit("--vllm-mode and --vllm-server-base-url only apply with --use-vllm: add it, or drop them")
    overrides.update(dict(args.settings))
    return overrides


# ---- the batch arithmetic across processes


def planned_settings(preset_or_saved: dict, overrides: dict, has_cuda: bool) -> dict:
    """The batch settings the run will have: the preset's (or saved config's) values under the overrides,
    with ``steps_per_generation`` as ``make_config`` sets it (``generation_rounds``)."""
    from grpo_helpers.config import generation_rounds

    settings = {**preset_or_saved, **overrides}
    return {**settings, **generation_rounds(settings, has_cuda)}


def batch_plan(settings: dict, num_processes: int) -> dict:
    """Completions and prompts per optimizer step and per generation batch across ``num_processes``
    processes (``grpo_helpers.config.batch_arithmetic`` gives one process's numbers)."""
    from grpo_helpers.config import batch_arithmetic

    per_device = settings.get("per_device_train_batch_size", 8)
    accumulation = settings.get("gradient_accumulation_steps") or 1
    generations = settings.get("num_generations", 8)
    if settings.get("generation_batch_size"):
        rounds = settings["generation_batch_size"] / (per_device * num_processes)
    else:
        rounds = settings.get("steps_per_generation") or accumulation
    one = batch_arithmetic({**settings, "steps_per_generation": rounds})
    step = one["completions per step"] * num_processes
    generation = per_device * num_processes * rounds
    return {"processes": num_processes, "per_device_train_batch_size": per_device,
            "gradient_accumulation_steps": accumulation, "steps_per_generation": rounds, "num_generations": generations,
            "completions per optimizer step": step, "prompts per optimizer step": step / generations,
            "generation batch (completions)": generation, "prompts per generation batch": generation / generations,
            "optimizer steps per generation batch": one["steps per generation round"]}  # fmt: skip


def _near(value: int, ok) -> list[int]:
    """Up to two values >= 1 closest to ``value`` (above first) for which ``ok(v)`` holds."""
    found = [v for v in range(value + 1, 8 * value + 65) if ok(v)][:1]
    found += [v for v in range(value - 1, 0, -1) if ok(v)][:1]
    return found


def batch_problems(plan: dict) -> list[str]:
    """What is wrong with ``plan`` (``batch_plan``) for TRL, with what to change; empty when it is fine."""
    p, n, r, g = (
        plan[k] for k in ("per_device_train_batch_size", "processes", "steps_per_generation", "num_generations")
    )
    total = plan["generation batch (completions)"]
    if r != int(r):
        return [
            f"generation_batch_size must be a multiple of per_device_train_batch_size x processes = {p * n}: "
            f"it gives {r:g} steps per generation. Use steps_per_generation instead (--steps-per-generation)"
        ]
    r, total = int(r), int(total)
    if g < 2:
        return [
            f"num_generations is {g}: GRPO compares completions of one prompt, it needs at least 2 "
            "(--num-generations 4 or more)"
        ]
    if total % g == 0:
        return []
    fixes = []
    if per := _near(p, lambda v: v * n * r % g == 0):
        fixes.append(" or ".join(f"--per-device-train-batch-size {v} ({v * n * r} completions)" for v in per))
    if rounds := _near(r, lambda v: p * n * v % g == 0):
        fixes.append(f"--steps-per-generation {rounds[0]} ({p * n * rounds[0]} completions)")
    if groups := sorted((v for v in range(2, total + 1) if total % v == 0), key=lambda v: (abs(v - g), -v))[:2]:
        fixes.append(" or ".join(f"--num-generations {v}" for v in groups) + f" (divides {total})")
    if procs := _near(n, lambda v: p * v * r % g == 0):
        fixes.append(f"accelerate launch --num_processes {procs[0]}")
    return [
        f"the generation batch must hold whole groups of num_generations = {g} completions, but "
        f"per_device_train_batch_size {p} x {n} process(es) x steps_per_generation {r} = {total} completions "
        f"is not a multiple of {g}. Change one of: " + "; ".join(fixes)
    ]


def describe(plan: dict) -> str:
    """The arithmetic as a few lines, with the numbers multiplied out."""
    p, n, a, r, g = (
        plan[k]
        for k in (
            "per_device_train_batch_size",
            "processes",
            "gradient_accumulation_steps",
            "steps_per_generation",
            "num_generations",
        )
    )
    return "\n".join([
        f"processes                      : {n}",
        f"completions per optimizer step : {p} per device x {n} process(es) x {a} accumulation = "
        f"{plan['completions per optimizer step']:g} ({plan['prompts per optimizer step']:g} prompt(s) of {g})",
        f"generation batch               : {p} per device x {n} process(es) x {r:g} steps_per_generation = "
        f"{plan['generation batch (completions)']:g} completions ({plan['prompts per generation batch']:g} prompt(s) "
        f"of {g}), used for {plan['optimizer steps per generation batch']:g} optimizer step(s)"])  # fmt: skip


def check_batches(settings: dict, num_processes: int) -> dict:
    """``batch_plan`` for the run, or ``SystemExit`` with the arithmetic and what to change."""
    plan = batch_plan(settings, num_processes)
    problems = batch_problems(plan)
    if problems:
        raise SystemExit(
            "Batch settings do not fit "
            + f"{num_processes} process(es):\n"
            + describe(plan)
            + "\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return plan


# ---- the model (notebooks 01 and 02), on this process's device


def load_policy(backend: str, model_path: str, max_seq_length: int, lora_rank: int, device_index: int):
    """``(model, tokenizer)`` with LoRA adapters, as notebook 06 builds them (``load_model``, ``add_lora``);
    with bitsandbytes each process puts its copy on its own GPU (``device_index``)."""
    from grpo_helpers.models import add_lora, load_model

    model, tokenizer = load_model(model_path, max_seq_length=max_seq_length, backend=backend, device_index=device_index)
    return add_lora(model, backend=backend, r=lora_rank), tokenizer


# ---- timing, on the main process


def step_timer():
    """A TrainerCallback that records the seconds of each optimizer step (``.seconds``)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds, self._last = [], None

        def on_step_begin(self, args, state, control, **kwargs):
            self._last = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self._last is not None:
                self.seconds.append(time.perf_counter() - self._last)

    return StepTimer()


def step_figures(seconds: list[float], warmup: int) -> dict:
    """Mean seconds per step over all steps and after the first ``warmup`` (a whole generation round)."""
    timed = seconds[warmup:] if len(seconds) > warmup else seconds[1:] or seconds
    mean = sum(timed) / len(timed) if timed else math.nan
    return {
        "step_seconds": [round(s, 3) for s in seconds],
        "warmup_steps_left_out": len(seconds) - len(timed),
        "seconds_per_step": round(mean, 3),
        "steps_per_second": round(1 / mean, 4) if mean else math.nan,
    }


def peak_memory() -> dict:
    """Peak GPU memory of this process's GPU (``torch.cuda.max_memory_allocated``) or, on a CPU, the
    process's peak resident memory."""
    import torch

    if torch.cuda.is_available():
        return {
            "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3),
            "gpu": torch.cuda.get_device_name(),
        }
    import resource

    return {"peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "accelerate", "peft", "unsloth", "bitsandbytes", "deepspeed", "vllm"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


# ---- the run


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.config and args.preset:
        raise SystemExit("--config and --preset both say where the settings come from: give one of them")
    from grpo_helpers.config import PRESETS, run_plan
    from grpo_helpers.environment import choose_backend, detect_hardware

    hardware = detect_hardware()
    from accelerate import PartialState  # which process am I (accelerate launch starts one per GPU)

    state = PartialState(cpu=not hardware.has_cuda)
    processes = state.num_processes
    if args.num_processes and not args.check_only and args.num_processes != processes:
        raise SystemExit(
            f"--num-processes {args.num_processes} only applies with --check-only; this run has "
            f"{processes} process(es): start it with accelerate launch --num_processes {args.num_processes}"
        )
    preset = args.preset or run_plan(hardware).preset
    saved = json.loads(args.config.read_text()) if args.config and args.config.is_file() else None
    if args.config and saved is None:
        raise SystemExit(f"--config {args.config}: no such file (notebook 05 saves <run folder>/grpo_config.json)")
    overrides = overrides_from(args)
    settings = planned_settings(saved if saved is not None else PRESETS[preset], overrides, hardware.has_cuda)
    plan = check_batches(settings, args.num_processes if args.check_only and args.num_processes else processes)
    if args.check_only:
        print(describe(plan))
        return 0

    main_process = state.is_main_process
    quiet = contextlib.redirect_stdout(open(os.devnull, "w")) if not main_process else contextlib.nullcontext()
    with quiet:  # progress, the dashboard's lines and files: the main process only
        backend = args.backend or choose_backend(hardware)
        if processes > 1 and backend == "unsloth":
            if args.backend:
                raise SystemExit(
                    "--backend unsloth runs on one process here (Unsloth's single-GPU path): use "
                    "--backend bitsandbytes (plain TRL 4-bit, the default with several processes) or "
                    "accelerate launch --num_processes 1"
                )
            backend = "bitsandbytes"
        choose_backend(hardware, backend)  # checks it fits the machine
        if backend == "unsloth":
            import unsloth  # noqa: F401  first, before transformers, TRL and PEFT: Unsloth patches them

        return train(args, state, hardware, backend, preset, overrides, plan)


def train(args, state, hardware, backend: str, preset: str, overrides: dict, plan: dict) -> int:
    """Load, check, train, save; the main process prints and writes the summary."""
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from grpo_helpers.config import load_config, make_config, run_plan, validate_config
    from grpo_helpers.dashboard import LiveRewardDashboard
    from grpo_helpers.environment import pick, run_dir
    from grpo_helpers.gsm8k import prepare_gsm8k
    from grpo_helpers.models import resolve_model, tutorial_model
    from grpo_helpers.rewards import check_reward_functions, tutorial_rewards
    from grpo_helpers.training import checkpoint_to_resume, compiled_generation

    started = time.perf_counter()
    lengths = run_plan(hardware)  # the notebooks' sequence and prompt lengths
    max_seq_length = args.max_seq_length or lengths.max_seq_length
    out = (args.output_dir or run_dir() / "train_grpo").resolve()
    checkpoints = out / "checkpoints"
    model_path = resolve_model(args.model or tutorial_model(hardware))
    print(
        f"{state.num_processes} process(es); this one (process {state.process_index}) prints and writes the files. "
        f"Backend {backend}, model {model_path}"
    )
    print(describe(plan))
    resume = None
    if args.resume:  # checked before the model loads and before anything is written
        try:
            resume = checkpoint_to_resume(True if args.resume == "latest" else args.resume, checkpoints)
        except ValueError as error:
            raise SystemExit(
                f"--resume{'' if args.resume == 'latest' else ' ' + args.resume}: {error}. (--resume with no "
                f"value is resume_from_checkpoint=True with output_dir {checkpoints}; a run saves checkpoints "
                "there with --save-steps N and at its end.)"
            ) from error
        if state.distributed_type.value == "MULTI_CPU":
            # transformers loads the optimizer state with map_location=args.device when world_size > 1, and on
            # several CPU processes that device is "cpu:0", which torch.load refuses (measured: transformers 5.17).
            raise SystemExit(
                "--resume with several CPU processes fails inside transformers (torch.load cannot map "
                "to 'cpu:0'): resume this checkpoint with accelerate launch --num_processes 1 (on GPUs "
                "several processes resume fine)"
            )

    model, tokenizer = load_policy(backend, model_path, max_seq_length, args.lora_rank, state.local_process_index)
    with state.main_process_first():  # the main process maps the dataset first; the others read its cache
        dataset = prepare_gsm8k(
            "train",
            tokenizer=tokenizer,
            max_prompt_length=lengths.max_prompt_length,
            n=args.train_size or pick(full=400, quick=16),
            seed=0,
        )
    # LoRA uses every adapter weight in each forward pass: DDP need not search for unused ones
    mine = dict(
        output_dir=str(checkpoints),
        log_completions=True,
        num_completions_to_print=0,
        disable_tqdm=True,
        ddp_find_unused_parameters=False,
    )
    if not (args.no_compile_generation or args.use_vllm):  # notebook 06: a static cache, compiled below
        mine.update(compiled_generation(hardware, backend, max_seq_length))
    config = (
        load_config(args.config, **{**mine, **overrides})
        if args.config
        else make_config(preset, hardware, **{**mine, **overrides})
    )
    reward_funcs = tutorial_rewards(config.max_completion_length)
    validate_config(
        config, model, tokenizer, dataset, max_seq_length=max_seq_length, trainer_kwargs={"reward_funcs": reward_funcs}
    )
    check_reward_functions(reward_funcs, dataset)
    print(
        f"config: {'--config ' + str(args.config) if args.config else 'preset ' + preset}; "
        + ", ".join(
            f"{k}={getattr(config, k)}"
            for k in (
                "max_steps",
                "learning_rate",
                "beta",
                "loss_type",
                "max_completion_length",
                "bf16",
                "fp16",
                "use_vllm",
                "cache_implementation",
            )
        )
    )

    timer = step_timer()
    trainer = GRPOTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_funcs=reward_funcs,
        callbacks=[LiveRewardDashboard(output_dir=out, mode="headless"), timer],
    )
    trainer.remove_callback(PrinterCallback)  # the dashboard prints one short line per step instead of the raw dict
    compiled = config.cache_implementation == "static" and not config.use_vllm
    if compiled:
        trainer.generation_config.disable_compile = (
            False  # TRL builds it with disable_compile=True: let generate compile
        )
    engine = trainer.accelerator.distributed_type.value  # what accelerate runs: NO, MULTI_GPU, MULTI_CPU, DEEPSPEED...
    if trainer.is_deepspeed_enabled:
        engine += f" (ZeRO stage {trainer.accelerator.state.deepspeed_plugin.zero_stage})"
    print(f"accelerate: {engine}; mixed precision {trainer.accelerator.mixed_precision}")
    if config.generation_batch_size != plan["generation batch (completions)"]:  # TRL's own numbers against ours
        raise RuntimeError(
            f"TRL made the generation batch {config.generation_batch_size} completions, the check "
            f"above {plan['generation batch (completions)']:g}: report this as a bug of the script"
        )
    train_started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - train_started
    trainer.save_model(str(out / "adapter"))  # every process calls it (ZeRO-3 gathers); the main one writes

    if state.is_main_process:
        warmup = max(1, math.ceil(plan["optimizer steps per generation batch"]))  # the first generation round
        figures = step_figures(timer.seconds, warmup)
        figures["completions_per_second"] = round(
            plan["completions per optimizer step"] / figures["seconds_per_step"], 3
        )
        summary = {
            "command": " ".join(sys.argv),
            "processes": state.num_processes,
            "distributed_type": engine,
            "backend": backend,
            "compiled_generation": compiled,
            "model": model_path,
            "preset": None if args.config else preset,
            "config_file": str(args.config) if args.config else None,
            "resumed_from": resume,
            "batch": plan,
            "steps": result.global_step,
            "max_steps": config.max_steps,
            "train_seconds": round(train_seconds, 2),
            "wall_clock_seconds": round(time.perf_counter() - started, 2),
            "trainer_metrics": result.metrics,
            **figures,
            **peak_memory(),
            "hardware": {"device": hardware.device, "gpu": hardware.gpu_name, "cpu_count": hardware.cpu_count},
            "versions": versions(),
        }
        text = json.dumps(summary, indent=1, default=str) + "\n"
        (out / "train_summary.json").write_text(text)
        if args.summary:
            args.summary.parent.mkdir(parents=True, exist_ok=True)
            args.summary.write_text(text)
        memory = summary.get("peak_gpu_memory_gib", summary.get("peak_rss_gib"))
        print(
            f"Done: {result.global_step} steps in {train_seconds:.1f} s ({summary['seconds_per_step']} s/step after "
            f"{summary['warmup_steps_left_out']} warm-up step(s)); peak memory {memory} GiB "
            f"({'GPU, main process' if 'peak_gpu_memory_gib' in summary else 'RSS, main process'}). "
            f"Adapter: {out / 'adapter'}; summary: {out / 'train_summary.json'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
