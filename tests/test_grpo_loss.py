"""Notebook 08's GRPO by hand (grpo_helpers.grpo_loss and the notebook's own cells) against TRL's GRPOTrainer.

Where each part runs:
- ``test_trl_loss_code_on_fixed_tensors`` calls TRL's own ``GRPOTrainer._compute_loss`` on fixed random
  tensors, with a small stand-in for the trainer's state (no model, no GPU): it runs on TRL 1.16 (CPU, make
  test) and on TRL 1.15 (the GPU check), unless Unsloth has replaced TRL's trainer class in the process.
- the tests marked ``cpu_trainer`` build a real GRPOTrainer on the tiny model (TRL 1.16 only: TRL 1.15's
  trainer needs a GPU) and compare the advantages it computes, and its loss and gradients on real tokens.
- the advantage and error tests are plain tensors and run everywhere.
"""

import math
import types

import pytest
import torch

from benchmarks.common.notebook_cells import run_cell
from grpo_helpers.config import LOSS_COMPANIONS, accepted_loss_types
from grpo_helpers.grpo_loss import LOSS_TYPES, SCALE_REWARDS, completion_logps, group_advantages, grpo_loss
from tiny_model import cpu_trainer, tiny_lora_model

TOLERANCE = 1e-5  # float32: the by-hand loss and TRL's differ by rounding only


def difference(ours: float, theirs: float) -> float:
    """|ours - theirs|, relative where |theirs| > 1 (float32 rounding grows with the loss; notebook 08's rule)."""
    return abs(ours - theirs) / max(1.0, abs(theirs))


REWARDS = [1.0, 0.0, 2.5, 0.5, 1.0, 1.0, 1.0, 1.0, 3.0, 0.0, 0.0, 0.0]  # three groups of 4; the middle one all equal


def settings_for(loss_type: str) -> dict:
    """The settings each loss type is checked with: the KL term on, a clip range that bites, the
    sequence-level ratio where TRL recommends it (luspo), cispo's epsilon_high as an absolute cap."""
    loss_side = {k: v for k, v in LOSS_COMPANIONS.get(loss_type, {}).items() if k != "scale_rewards"}  # advantages'
    return {
        "beta": 0.04,
        "epsilon": 0.2,
        "epsilon_high": 0.28,
        "importance_sampling_level": "token",
        **loss_side,
        "max_completion_length": 7,
    }


def test_every_loss_type_of_the_installed_trl_is_covered():
    assert set(accepted_loss_types()) <= set(LOSS_TYPES), (
        f"TRL accepts loss types grpo_loss lacks: {accepted_loss_types()}"
    )


@pytest.mark.parametrize("scale", SCALE_REWARDS)
def test_advantages_by_hand(scale):
    advantages, std, zero_std = group_advantages(REWARDS, num_generations=4, scale_rewards=scale)
    groups = torch.tensor(REWARDS).view(3, 4)
    expected = groups - groups.mean(1, keepdim=True)
    if scale != "none":
        spread = groups.std(1, keepdim=True) if scale == "group" else torch.tensor(REWARDS).std()
        expected = expected / (spread + 1e-4)
    assert torch.allclose(advantages, expected.flatten(), atol=1e-6)
    assert zero_std.tolist() == [False] * 4 + [True] * 4 + [False] * 4 or scale == "batch"
    assert advantages[4:8].abs().max() == 0  # a group whose rewards are all equal: no advantage, no gradient
    assert abs(advantages.view(3, 4).sum(1)).max() < 1e-5  # each group's advantages sum to 0


def test_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match="num_generations=5"):
        group_advantages(REWARDS, num_generations=5)
    with pytest.raises(ValueError, match="scale_rewards='std'"):
        group_advantages(REWARDS, num_generations=4, scale_rewards="std")
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="loss_type='ppo'"):
        grpo_loss(x, x, torch.zeros(2), torch.ones(2, 3), "ppo")
    with pytest.raises(ValueError, match="ref_logps"):
        grpo_loss(x, x, torch.zeros(2), torch.ones(2, 3), "grpo", beta=0.1)
    with pytest.raises(ValueError, match="max_completion_length"):
        grpo_loss(x, x, torch.zeros(2), torch.ones(2, 3), "dr_grpo")


# ---- TRL's loss code on fixed tensors, with a stand-in for the trainer's state (TRL 1.15 and 1.16)


class _Accelerator:  # one process: gathering and reducing return their input
    num_processes = 1

    def gather(self, x):
        return x

    def reduce(self, x, reduction="sum"):
        return x


def trl_loss_on_tensors(loss_type, logps, old_logps, ref_logps, advantages, mask, **settings):
    """TRL's ``GRPOTrainer._compute_loss`` run on given log-probabilities (its model call replaced by them)."""
    from trl import GRPOConfig
    from trl.trainer import grpo_trainer

    trainer_class = grpo_trainer.GRPOTrainer
    if trainer_class.__module__ != "trl.trainer.grpo_trainer":
        pytest.skip(f"TRL's GRPOTrainer was replaced by {trainer_class.__module__} (Unsloth) in this process")
    args = GRPOConfig(
        output_dir="unused",
        use_cpu=True,
        loss_type=loss_type,
        report_to="none",
        **{k: v for k, v in settings.items() if k != "max_completion_length"},
    )
    state = types.SimpleNamespace(
        args=args,
        loss_type=loss_type,
        beta=args.beta,
        epsilon_low=args.epsilon,
        epsilon_high=args.epsilon_high if args.epsilon_high is not None else args.epsilon,
        importance_sampling_level=args.importance_sampling_level,
        max_completion_length=settings["max_completion_length"],
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        use_vllm=False,
        aux_loss_enabled=False,
        vllm_importance_sampling_correction=False,
        _entropy_bonus_enabled=False,
        current_gradient_accumulation_steps=1,
        model=types.SimpleNamespace(training=True),
        accelerator=_Accelerator(),
        _metrics={"train": _Metrics()},
        get_gamma_weights=trainer_class.get_gamma_weights,
        get_off_policy_mask=trainer_class.get_off_policy_mask,
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros_like(logps), None),
    )
    b, t = mask.shape
    inputs = {
        "prompt_ids": torch.zeros(b, 1, dtype=torch.long),
        "prompt_mask": torch.ones(b, 1, dtype=torch.long),
        "completion_ids": torch.zeros(b, t, dtype=torch.long),
        "completion_mask": mask,
        "advantages": advantages,
        "old_per_token_logps": old_logps,
        "ref_per_token_logps": ref_logps,
        "num_items_in_batch": mask.sum(),
    }
    return trainer_class._compute_loss(state, None, inputs)


class _Metrics(dict):
    def __missing__(self, key):
        self[key] = []
        return self[key]


def fixed_tensors(seed=0, batch=12, length=7):
    generator = torch.Generator().manual_seed(seed)
    logps = (-torch.rand(batch, length, generator=generator) * 3).requires_grad_()
    old_logps = logps.detach() + 0.3 * torch.randn(batch, length, generator=generator)  # ratios from ~0.5 to ~2
    ref_logps = logps.detach() + 0.5 * torch.randn(batch, length, generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    mask = (torch.arange(length) < lengths[:, None]).long()
    advantages, _, _ = group_advantages(REWARDS, num_generations=4)
    return logps, old_logps, ref_logps, advantages, mask


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_trl_loss_code_on_fixed_tensors(loss_type, level):
    if loss_type not in accepted_loss_types():
        pytest.skip(f"the installed TRL does not accept loss_type={loss_type!r}")
    logps, old_logps, ref_logps, advantages, mask = fixed_tensors()
    settings = {**settings_for(loss_type), "importance_sampling_level": level}
    theirs = trl_loss_on_tensors(loss_type, logps, old_logps, ref_logps, advantages, mask, **settings)
    (their_grad,) = torch.autograd.grad(theirs, logps)
    ours = grpo_loss(logps, old_logps, advantages, mask, loss_type, ref_logps=ref_logps, **settings)
    (our_grad,) = torch.autograd.grad(ours, logps)
    assert abs(ours.item() - theirs.item()) < TOLERANCE and math.isfinite(ours.item())
    assert (our_grad - their_grad).abs().max() < TOLERANCE
    assert their_grad.abs().max() > 0


def gradient(loss_type, old_logps, logps, advantages, mask, level="token"):
    """d loss / d logps with beta=0 and each loss type's own settings (cispo's cap, luspo's sequence level)."""
    settings = {**settings_for(loss_type), "beta": 0.0}
    settings["importance_sampling_level"] = "sequence" if loss_type == "luspo" else level
    (grad,) = torch.autograd.grad(grpo_loss(logps, old_logps, advantages, mask, loss_type, **settings), logps)
    return grad


def test_on_policy_the_loss_types_fall_into_a_few_gradients():
    """Notebook 11, section 6: with one update per generation the ratio is exactly 1, so no clip acts and the loss
    types differ only in how they average. Off the policy (ratios ~0.5-2) these pairs differ."""
    logps, off_policy, _, advantages, mask = fixed_tensors()
    on_policy = logps.detach()
    # dapo and bnpo are one loss on one process and one micro-batch (they part with gradient accumulation)
    assert torch.allclose(*(gradient(loss, off_policy, logps, advantages, mask) for loss in ("dapo", "bnpo")))
    for first, second in [("grpo", "sapo"), ("dapo", "cispo"), ("dapo", "vespo")]:
        a, b = (gradient(loss, on_policy, logps, advantages, mask) for loss in (first, second))
        assert torch.allclose(a, b, atol=1e-7), (first, second)
        a, b = (gradient(loss, off_policy, logps, advantages, mask) for loss in (first, second))
        assert not torch.allclose(a, b, atol=1e-4), (first, second)
    # GSPO (grpo, one ratio a completion) has GRPO's gradient on the policy, and not off it
    for old, equal in ((on_policy, True), (off_policy, False)):
        token, sequence = (gradient("grpo", old, logps, advantages, mask, level) for level in ("token", "sequence"))
        assert torch.allclose(token, sequence, atol=1e-7) is equal
    # luspo (each completion's sum) is dapo (the batch's token mean) times the mean completion length
    luspo, dapo = (gradient(loss, on_policy, logps, advantages, mask) for loss in ("luspo", "dapo"))
    assert torch.allclose(luspo, dapo * mask.sum() / mask.size(0), atol=1e-6)
    # grpo weighs a token by 1 / its completion's length, dapo by 1 / the batch's tokens: they differ
    assert not torch.allclose(gradient("grpo", on_policy, logps, advantages, mask), dapo, atol=1e-4)


# ---- a real GRPOTrainer on the tiny model (TRL 1.16 on the CPU)


def tiny_trainer(tiny_dir, tmp_path, reward_funcs, **overrides):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = tiny_lora_model(tiny_dir)
    dataset = Dataset.from_dict({"prompt": ["What is 2 + 3?", "Name a colour.", "Count to three."]})
    settings = dict(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        num_generations=4,
        per_device_train_batch_size=12,
        max_completion_length=7,
        report_to="none",
        save_strategy="no",
        seed=3,
        temperature=0.9,
    )
    config = GRPOConfig(**{**settings, **overrides})
    trainer = GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=config, train_dataset=dataset, processing_class=tokenizer
    )
    return trainer, model, tokenizer


@cpu_trainer
@pytest.mark.parametrize("scale", SCALE_REWARDS)
def test_advantages_agree_with_the_trainer(tiny_dir, tmp_path, scale):
    """TRL's own sampling-and-scoring step, with a reward function that hands out REWARDS in order."""

    def fixed_reward(completions, **kwargs):
        return REWARDS[: len(completions)]

    trainer, model, _ = tiny_trainer(tiny_dir, tmp_path, [fixed_reward], scale_rewards=scale)
    batch = [{"prompt": p} for p in ("What is 2 + 3?", "Name a colour.", "Count to three.") for _ in range(4)]
    theirs = trainer._generate_and_score_completions(batch)["advantages"]
    ours, _, zero_std = group_advantages(REWARDS, num_generations=4, scale_rewards=scale)
    assert (ours - theirs).abs().max() < TOLERANCE
    assert trainer._metrics["train"]["frac_reward_zero_std"][-1] == pytest.approx(zero_std.float().mean().item())


@cpu_trainer
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_loss_and_gradients_agree_with_the_trainer(tiny_dir, tmp_path, loss_type):
    """The trainer's ``compute_loss(model, inputs)`` and the by-hand loss on the same tokens: the same number
    and the same LoRA gradients (log-probabilities by hand: log_softmax over the model's logits)."""
    if loss_type not in accepted_loss_types():
        pytest.skip(f"the installed TRL does not accept loss_type={loss_type!r}")
    settings = settings_for(loss_type)
    trainer, model, tokenizer = tiny_trainer(
        tiny_dir,
        tmp_path,
        [lambda completions, **kw: [0.0] * len(completions)],
        loss_type=loss_type,
        **{k: v for k, v in settings.items() if k != "max_completion_length"},
    )
    generator = torch.Generator().manual_seed(5)
    prompt_ids = torch.randint(0, len(tokenizer), (12, 5), generator=generator)
    prompt_mask = torch.ones_like(prompt_ids)
    prompt_mask[:3, :2] = 0  # left padding, as the trainer pads prompts
    completion_ids = torch.randint(0, len(tokenizer), (12, 7), generator=generator)
    _, _, _, advantages, mask = fixed_tensors(seed=1)
    model.train()
    logps = completion_logps(model, prompt_ids, prompt_mask, completion_ids, mask, temperature=0.9)
    old_logps = logps.detach() + 0.3 * torch.randn(logps.shape, generator=generator)  # ratios from ~0.5 to ~2
    ref_logps = logps.detach() + 0.5 * torch.randn(logps.shape, generator=generator)
    ours = grpo_loss(logps, old_logps, advantages, mask, loss_type, ref_logps=ref_logps, **settings)
    params = [p for p in model.parameters() if p.requires_grad]
    our_grads = torch.autograd.grad(ours, params)
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": mask,
        "advantages": advantages,
        "old_per_token_logps": old_logps,
        "ref_per_token_logps": ref_logps,
        "num_items_in_batch": mask.sum(),
    }
    model.eval()  # eval mode: TRL does not divide by gradient-accumulation steps (1 here, so the same loss)
    theirs = trainer.compute_loss(trainer.model, inputs)
    their_grads = torch.autograd.grad(theirs, params)
    assert difference(ours.item(), theirs.item()) < TOLERANCE  # vespo's loss here is about 2.04: 8e-6 relative
    assert max((a - b).abs().max().item() for a, b in zip(our_grads, their_grads, strict=True)) < TOLERANCE
    assert max(g.abs().max().item() for g in our_grads) > 0


# ---- the notebook's own cells: the minimal training loop (its exercise: tests/test_exercises.py)


@cpu_trainer
def test_the_minimal_loop_trains_two_steps(tiny_dir, tmp_path):
    from datasets import Dataset

    namespace = run_cell("08", "grpo-train")
    model, tokenizer = tiny_lora_model(tiny_dir)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    prompts = [[{"role": "user", "content": q}] for q in ("What is 2 + 3?", "Name a colour.", "Count to three.")]
    dataset = Dataset.from_dict({"prompt": prompts, "ground_truth": ["5", "red", "3"]})

    def length_reward(completions, **kwargs):  # varied scores, so that the groups have an advantage
        return [len(c[0]["content"]) / 10 for c in completions]

    from trl import GRPOConfig

    config = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=8,
        learning_rate=1e-2,
        beta=0.04,
        temperature=1.0,
        seed=0,
        report_to="none",
    )
    history = namespace["grpo_train"](model, tokenizer, dataset, [length_reward], config, log=None)
    assert [row["step"] for row in history] == [1, 2]
    assert all(math.isfinite(row["loss"]) and math.isfinite(row["reward"]) for row in history)
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])]
    assert changed and all("lora_" in n for n in changed)
