"""Notebook 05's exercise, solved: ``batch_settings``, the batch settings for ``prompts_per_step`` prompts an
optimizer step, each with G completions, in micro-batches of ``per_device`` completions."""


def batch_settings(G: int, per_device: int, prompts_per_step: int) -> dict:
    """A step holds per_device x gradient_accumulation_steps completions (one GPU), which must be
    prompts_per_step x G: so accumulate (prompts_per_step x G) / per_device micro-batches."""
    completions = prompts_per_step * G
    if completions % per_device:
        raise ValueError(f"{completions} completions a step do not split into micro-batches of {per_device}")
    return {
        "num_generations": G,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": completions // per_device,
    }
