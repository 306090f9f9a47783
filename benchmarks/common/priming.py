"""Format priming (notebook 10) for the learning benchmarks: TRL's ``SFTTrainer`` on GSM8K solutions in the
answer format, before GRPO, on the model's LoRA adapters."""

from __future__ import annotations

import time


def prime_format(model, tokenizer, solutions, steps: int, batch: int, seed: int, output_dir: str, **settings) -> dict:
    """Train ``model`` for ``steps`` steps of ``batch`` rows of ``solutions`` (GSM8K rows, made prompt-completion
    rows by ``sft_example``); ``settings``: more ``SFTConfig`` fields (the machine's precision, the learning rate...).
    Returns the rows, steps, seconds and every logged loss."""
    from trl import SFTConfig, SFTTrainer

    from grpo_helpers.gsm8k import sft_example

    data = solutions.map(sft_example, remove_columns=solutions.column_names)
    config = SFTConfig(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=batch,
        save_strategy="no",
        report_to="none",
        seed=seed,
        gradient_checkpointing=False,  # its default on would switch off generation's KV cache
        **settings,
    )
    started = time.perf_counter()
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    return {
        "examples": len(data),
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "losses": [row["loss"] for row in trainer.state.log_history if "loss" in row],
    }
