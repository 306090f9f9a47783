"""What each GRPO setting changes in the algorithm, in a sentence that depends on its value.

``explain(name, value, settings)`` is what the config widget shows next to each control;
``batch_arithmetic(settings)`` turns the batch settings into prompts and completions per step.
"""

from __future__ import annotations

LOSS_TYPE_NOTES = {
    "grpo": "the GRPO paper's loss: each completion's token losses are averaged over its own length, then "
    "completions are averaged. A short correct answer gets a larger push per token than a long one, and a "
    "long wrong answer a smaller penalty per token (length bias).",
    "bnpo": "token losses summed over the micro-batch and divided by its number of tokens: every token weighs "
    "the same, but the result depends on the micro-batch size (with 1 completion per micro-batch it is grpo).",
    "dr_grpo": "Dr. GRPO: token losses summed and divided by a constant (completions x max_completion_length), "
    "and rewards not divided by the group's std: no length bias and no bias towards easy or hard questions.",
    "dapo": "DAPO (TRL's default): token losses summed over the whole accumulated batch and divided by its "
    "number of tokens: every token weighs the same whatever the batch split; pairs with epsilon_high=0.28.",
    "cispo": "CISPO (MiniMax-M1): clips the importance weight itself (at epsilon_high, e.g. 5.0) rather than "
    "the update, so no token is dropped from the gradient; normalised like dapo.",
    "sapo": "SAPO: a smooth, temperature-controlled gate replaces hard clipping; normalised per sequence like grpo.",
    "luspo": "LUSPO: a sequence-level loss (GSPO with each sequence scaled by its length); needs "
    "importance_sampling_level='sequence'.",
    "vespo": "VESPO: a smooth asymmetric weighting of sequence-level importance ratios instead of clipping.",
}


def batch_arithmetic(settings, num_processes: int = 1) -> dict:
    """Completions and prompts per optimizer step for ``settings`` (a dict or a GRPOConfig), and
    how many optimizer steps one generation round feeds (``steps_per_generation`` or
    ``generation_batch_size`` larger than an optimizer step's batch)."""
    get = settings.get if isinstance(settings, dict) else lambda k, d=None: getattr(settings, k, d)
    per_device = get("per_device_train_batch_size", 8)
    accumulation = get("gradient_accumulation_steps", 1) or 1
    generation_batch = get("generation_batch_size", None)
    if generation_batch:
        generation_steps = generation_batch / (per_device * num_processes)
    else:
        generation_steps = get("steps_per_generation", None) or accumulation
    completions = per_device * accumulation * num_processes
    g = get("num_generations", 8)
    return {
        "completions per step": completions,
        "prompts per step": completions / g,
        "completions per micro-batch": per_device,
        "micro-batches per step": accumulation,
        "steps per generation round": generation_steps / accumulation,
    }


def _num_generations(g, s) -> str:
    if g < 2:
        return f"{g}: no group to compare with, so no advantage: use at least 2."
    quality = (
        "a noisy baseline: with few samples, many groups score all-equal and teach nothing"
        if g < 6
        else "a solid baseline (the group mean) for each completion's advantage"
        if g <= 16
        else "a very precise baseline, at a high price"
    )
    return f"{g} completions per prompt: {quality}. Generation time and memory grow with it."


def _temperature(t, s) -> str:
    if t <= 0:
        return f"{t}: must be > 0. GRPO needs different completions for one prompt."
    if t < 0.5:
        return f"{t}: near-greedy. The group's completions look alike, rewards tie, advantages vanish."
    if t <= 1.1:
        return f"{t}: varied but sensible completions: the group spans right and wrong answers to learn from."
    return f"{t}: very random completions; above ~1.3 most are nonsense and score 0."


def _beta(b, s) -> str:
    if b < 0:
        return f"{b}: must be >= 0 (a negative KL weight pushes the policy away from the reference)."
    if b == 0:
        return "0: no KL penalty and no reference-model pass (faster, less memory). The policy may drift; watch for reward hacking."
    if b <= 0.1:
        return f"{b}: a gentle pull towards the reference model: keeps language fluent while rewards rise."
    return f"{b}: a strong pull to the reference model: stable, but rewards rise slowly."


def _loss_type(loss, s) -> str:
    return LOSS_TYPE_NOTES.get(loss, f"{loss}: see the TRL documentation of GRPOConfig.loss_type.")


def _learning_rate(lr, s) -> str:
    if lr <= 0:
        return f"{lr:g}: must be positive."
    if lr < 1e-6:
        return f"{lr:g}: tiny steps: stable, but the adapters barely move in a short run."
    if lr <= 2e-5:
        return f"{lr:g}: the usual range for LoRA GRPO (Unsloth's notebooks use 5e-6)."
    if lr <= 2e-4:
        return f"{lr:g}: fast. Watch the reward and KL curves for a collapse."
    return f"{lr:g}: very large for RL: the policy often collapses into one repeated answer."


def _max_completion_length(n, s) -> str:
    if n < 48:
        return f"{n} tokens: too short for worked GSM8K reasoning; truncated answers score 0."
    if n < 160:
        return f"{n} tokens: short: a brief calculation and the answer fit, longer reasoning is cut off (and scores 0)."
    if n <= 320:
        return f"{n} tokens: room for the reasoning and the final answer of a GSM8K problem."
    return f"{n} tokens: generous; every step waits for the longest completion, so steps get slower."


def _per_device_train_batch_size(n, s) -> str:
    g = s.get("num_generations", 8) if s else 8
    return (
        f"{n} completions per forward/backward pass (not prompts: {n / g:.3g} prompt(s) x {g} completions). "
        "Memory grows with it."
    )


def _gradient_accumulation_steps(n, s) -> str:
    arithmetic = batch_arithmetic(s or {"gradient_accumulation_steps": n})
    return (
        f"{n} micro-batch(es) per update: {arithmetic['completions per step']} completions "
        f"= {arithmetic['prompts per step']:.3g} prompt(s) per step, at no extra memory."
    )


def _max_steps(n, s) -> str:
    prompts = batch_arithmetic(s)["prompts per step"] if s else 1
    return (
        f"{n} updates, {n * prompts:.0f} prompts seen; one pass over GSM8K's 7,473 training problems "
        f"takes {7473 / max(prompts, 1e-9):.0f} steps."
    )


_EXPLAIN = {
    "num_generations": _num_generations,
    "temperature": _temperature,
    "beta": _beta,
    "loss_type": _loss_type,
    "learning_rate": _learning_rate,
    "max_completion_length": _max_completion_length,
    "per_device_train_batch_size": _per_device_train_batch_size,
    "gradient_accumulation_steps": _gradient_accumulation_steps,
    "max_steps": _max_steps,
}
EXPLAINED_FIELDS = tuple(_EXPLAIN)


def explain(name: str, value, settings: dict | None = None) -> str:
    """One sentence on what ``name = value`` does in GRPO (``settings``: the other values, for context)."""
    if name not in _EXPLAIN:
        raise ValueError(f"explain: no note for {name!r}; notes exist for {', '.join(EXPLAINED_FIELDS)}")
    return _EXPLAIN[name](value, settings or {})
