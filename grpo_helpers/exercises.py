"""The notebooks' exercises, checked by what the learner's code does.

Each ``check_<name>`` calls the learner's function on cases it builds itself (the answers come from the
package's own functions or from first principles) and raises ``AssertionError`` saying what is wrong.
``report(check, ...)`` runs a check in a notebook and prints a ✓ or a ✗ with that message. The worked
solutions are in ``solutions/`` at the root of the repository.
"""

from __future__ import annotations

import random


def report(check, *args) -> bool:
    """Run ``check(*args)``; print ✓ and return True when it passes, else print ✗ with what is wrong."""
    try:
        check(*args)
    except AssertionError as error:
        print(f"✗ {error}")
        return False
    print(f"✓ {check.__doc__.strip().splitlines()[0]}")
    return True


def _call(function, *args, **kwargs):
    """``function(*args, **kwargs)``; a stub's NotImplementedError, or any error the learner's code raises,
    becomes the check's failure (a ✗ with the error, not a traceback)."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        raise AssertionError(f"{function.__name__} is not written yet ({error})") from None
    except Exception as error:
        raise AssertionError(f"{function.__name__} raised {type(error).__name__}: {error}") from None


def check_shows_work_reward(shows_work_reward) -> None:
    """shows_work_reward pays 0.25 for a worked step before the final answer, for text and chat completions."""
    from datasets import Dataset

    from grpo_helpers.rewards import check_reward_functions

    rng = random.Random(3)
    cases = [
        ("48 + 24 = 72\n<answer>72</answer>", 0.25, "a worked step before the answer"),
        ("48/2 = 24, then 48+24=72. The answer is 72.", 0.25, "a step without an answer tag still counts"),
        ("3 x 4 = 12\n#### 12", 0.25, "x is an operator, and #### starts the answer"),
        ("<answer>72</answer>", 0.0, "no step at all"),
        ("", 0.0, "an empty completion"),
        ("It is 72. <answer>48 + 24 = 72</answer>", 0.0, "work inside the answer tag does not count"),
        ("Half of 48 is 24 and 48 and 24 make 72.\n#### 72", 0.0, "numbers without operator and = are no step"),
        ("#### 12\n3 * 4 = 12", 0.0, "a step after #### is part of the answer"),
    ]
    for op in "+-*/x×":
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        step = f"{a}{' ' * rng.randint(0, 1)}{op} {b} = {rng.randint(1, 9999)}"
        cases += [
            (f"First, {step}.\n<answer>7</answer>", 0.25, f"{op} is an operator"),
            (f"<answer>{step}</answer>", 0.0, "work inside the answer tag does not count"),
        ]
    for text, expected, why in cases:
        for completion in (text, [{"role": "assistant", "content": text}]):
            got = _call(shows_work_reward, ["Q"], [completion], ground_truth=["72"])
            assert got == [expected], f"shows_work_reward({completion!r}) returned {got}, expected [{expected}]: {why}"
    tiny = Dataset.from_list([{"prompt": [{"role": "user", "content": "What is 70 + 2?"}], "ground_truth": "72"}])
    problems = check_reward_functions([shows_work_reward], tiny, raise_on_error=False)
    assert not problems, "; ".join(problems)


def check_prompt_tokens(prompt_tokens, tokenizer) -> None:
    """prompt_tokens counts a prompt's tokens as GRPOTrainer generates from it, chat template included."""
    from grpo_helpers.gsm8k import format_chat, prompt_token_lengths

    questions = ["Tom has 3 apples and buys 4 more. How many apples does he have?", "What is 12 x 12?"]
    cases = [(format_chat({"question": q, "answer": "#### 7"})["prompt"], "a chat prompt") for q in questions]
    cases += [
        (
            format_chat({"question": questions[1], "answer": "#### 144"}, worked_example=None)["prompt"],
            "a chat prompt without the worked example",
        ),
        (questions[0], "a plain-text prompt"),
    ]
    for prompt, what in cases:
        expected = prompt_token_lengths({"prompt": [prompt]}, tokenizer)[0]
        got = _call(prompt_tokens, prompt, tokenizer)
        assert got == expected, (
            f"prompt_tokens({what} ending {str(prompt)[-40:]!r}) returned {got}, expected "
            f"{expected}: count the text the model reads (chat prompts: the chat template with "
            "add_generation_prompt=True, tokenized without adding special tokens again)"
        )


def check_zero_std_share(zero_std_share) -> None:
    """zero_std_share gives the share of groups whose rewards are all equal (TRL's frac_reward_zero_std)."""
    import torch

    from grpo_helpers.grpo_loss import group_advantages

    rng = torch.Generator().manual_seed(8)
    cases = [([1.0, 1.0, 1.0, 1.0], 4), ([2.0, 2.0, 0.0, 1.0], 2), ([0.5, 0.5, 0.5, 0.25, 3.0, 3.0], 3)]
    cases += [
        (torch.randint(0, 3, (G * groups,), generator=rng).float().tolist(), G)
        for G, groups in ((2, 5), (4, 6), (8, 3), (3, 7))
    ]
    for rewards, G in cases:
        expected = group_advantages(rewards, G)[2].view(-1, G)[:, 0].float().mean().item()
        got = _call(zero_std_share, torch.tensor(rewards), G)
        got = float(got.item() if hasattr(got, "item") else got)
        assert abs(got - expected) < 1e-6, (
            f"zero_std_share(torch.tensor({rewards}), G={G}) returned {got:g}, "
            f"expected {expected:g}: a group of G rewards is flat when they are all "
            "equal, and the share is flat groups / groups"
        )


def check_footprint_bytes(footprint_bytes, model) -> None:
    """footprint_bytes counts every parameter and buffer once, in the bytes of its own dtype."""
    import torch

    layer, norm = torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(2)
    half = torch.nn.Linear(4, 2, bias=False).to(torch.bfloat16)
    cases = [
        (layer, 64, "16 float32 numbers, 4 bytes each"),
        (torch.nn.Sequential(layer, half), 80, "a bfloat16 number takes 2 bytes (element_size())"),
        (torch.nn.Sequential(layer, layer), 64, "a weight used twice (tied) is stored once"),
        (norm, 40, "buffers (here running statistics, one of them int64) take memory too"),
        (model, model.get_memory_footprint(), "this notebook's model, as get_memory_footprint() counts it"),
    ]
    for module, expected, why in cases:
        got = _call(footprint_bytes, module)
        assert got == expected, f"footprint_bytes({type(module).__name__}) returned {got}, expected {expected}: {why}"


def check_lora_parameter_count(lora_parameter_count, model, r: int) -> None:
    """lora_parameter_count predicts PEFT's trainable parameters from the model's config alone."""
    from grpo_helpers.models import LORA_TARGET_MODULES

    trainable = model.get_nb_trainable_parameters()[0]
    shapes = {}  # each adapted matrix's (kind, d_in + d_out), read off the model
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and name.split(".")[-1] in LORA_TARGET_MODULES:
            shapes.setdefault(name.split(".")[-1], []).append(module.in_features + module.out_features)
    cases = [(r, LORA_TARGET_MODULES, trainable, "PEFT's own count of this model's trainable parameters")]
    for rank, targets in ((8, ("q_proj", "v_proj")), (4, ("k_proj",)), (64, ("gate_proj", "up_proj", "down_proj"))):
        cases.append(
            (
                rank,
                targets,
                rank * sum(sum(shapes[t]) for t in targets),
                "r (d_in + d_out) per matrix, every layer; k_proj and v_proj are narrower with grouped-query attention",
            )
        )
    for rank, targets, expected, why in cases:
        got = _call(lora_parameter_count, model.config, rank, list(targets))
        assert got == expected, (
            f"lora_parameter_count(config, r={rank}, {list(targets)}) returned {got}, expected {expected}: {why}"
        )


def check_batch_settings(batch_settings, hardware) -> None:
    """batch_settings gives make_config the batch for G completions a prompt and a per-device batch."""
    from grpo_helpers.config import batch_arithmetic, make_config

    for G, per_device, prompts in ((8, 8, 4), (4, 2, 3), (16, 4, 2), (6, 4, 2), (2, 6, 3)):
        settings = _call(batch_settings, G, per_device, prompts)
        call = f"batch_settings(G={G}, per_device={per_device}, prompts_per_step={prompts})"
        try:
            config = make_config("smoke_test", hardware=hardware, **settings)
        except ValueError as error:
            raise AssertionError(f"{call} returned {settings}, which make_config refuses: {error}") from None
        got = config.num_generations, config.per_device_train_batch_size, batch_arithmetic(config)["prompts per step"]
        assert got == (G, per_device, prompts), (
            f"{call} returned {settings}: G={got[0]}, per-device batch "
            f"{got[1]}, {got[2]:g} prompts a step; expected {G}, {per_device}, "
            f"{prompts}"
        )


def check_wilson(wilson) -> None:
    """wilson gives the 95% Wilson score interval of k right answers out of n, also at k = 0 and k = n."""
    from grpo_helpers.evaluation import wilson_interval

    for k, n in ((8, 16), (0, 16), (16, 16), (1, 20), (37, 100), (0, 1), (523, 1319)):
        got, expected = _call(wilson, k, n), wilson_interval(k, n)
        assert len(got) == 2 and all(abs(g - e) < 1e-9 for g, e in zip(got, expected, strict=True)), (
            f"wilson({k}, {n}) returned {tuple(got)}, expected ({expected[0]:.6f}, {expected[1]:.6f}): the centre is "
            "(p + z²/2n) / (1 + z²/n) with z = 1.96, and the interval stays within [0, 1]"
        )


def check_smallest_group(smallest_group) -> None:
    """smallest_group finds the fewest completions a prompt that keep the chance of a tied group below a bound."""
    for p, bound in ((0.05, 0.5), (0.5, 0.2), (0.2, 0.1), (0.9, 0.5), (0.5, 0.6), (0.01, 0.9)):

        def tied(G, p=p):  # all G samples wrong or all right
            return p**G + (1 - p) ** G

        expected = next(G for G in range(2, 10_000) if tied(G) < bound)
        got = _call(smallest_group, p, bound)
        why = (
            f"with G = {got} a group ties with chance {tied(got):.3f} (p^G + (1-p)^G), not below the bound"
            if got < expected
            else f"G = {expected} already brings it to {tied(expected):.3f}, and G >= 2"
        )
        assert got == expected, f"smallest_group(p={p}, bound={bound}) returned {got}, expected {expected}: {why}"


def check_length_limit(length_limit) -> None:
    """length_limit picks the smallest max_completion_length that cuts off at most a given share of completions."""
    rng = random.Random(11)
    cases = [([100, 200, 300, 400], 0.25), ([100, 200, 300, 400], 0.0), ([90, 150, 512, 512, 512], 0.5)]
    cases += [
        ([rng.randint(20, 512) for _ in range(rng.randint(5, 40))], rng.choice((0.05, 0.1, 0.3))) for _ in range(6)
    ]
    for lengths, share in cases:

        def cut(limit, lengths=lengths):  # the share of completions longer than the limit
            return sum(n > limit for n in lengths) / len(lengths)

        expected = next(limit for limit in range(1, max(lengths) + 1) if cut(limit) <= share)
        got = _call(length_limit, list(lengths), share)
        why = (
            f"at {got} tokens {cut(got):.0%} of the completions are longer, more than {share:.0%}"
            if cut(got) > share
            else f"{expected} tokens already cut off only {cut(expected):.0%} (at most {share:.0%})"
        )
        assert got == expected, f"length_limit({lengths}, {share}) returned {got}, expected {expected}: {why}"


def check_closed_working_reward(closed_working_reward) -> None:
    """closed_working_reward pays 1 point per 50 characters of working, at most 1, and 0 without a closed answer."""
    rng = random.Random(110)
    work = "48 + 24 = 72, so she sold 72 clips in all. "  # 43 characters
    cases = [
        (work + "<answer>72</answer>", len(work) / 50, "43 characters of working before a closed answer"),
        (work * 3 + "<answer>72</answer>", 1.0, "more than 50 characters of working still earn 1 point at most"),
        ("<answer>72</answer>", 0.0, "no working before the answer"),
        (work * 3, 0.0, "no answer tag: the completion was cut off or never answered"),
        (work + "<answer>72", 0.0, "an answer tag that is never closed: cut off inside the answer"),
        ("", 0.0, "an empty completion"),
        (
            work[:25] + "<answer>7</answer> and more",
            0.5,
            "25 characters before the tag; what follows it does not count",
        ),
    ]
    for _ in range(4):
        n = rng.randint(1, 49)
        cases.append(("x" * n + "\n<answer>3</answer>", min((n + 1) / 50, 1.0), f"{n + 1} characters before the tag"))
    for text, expected, why in cases:
        for completion in (text, [{"role": "assistant", "content": text}]):
            got = _call(closed_working_reward, [completion])
            ok = isinstance(got, list) and len(got) == 1 and abs(float(got[0]) - expected) < 1e-9
            assert ok, f"closed_working_reward([{completion!r}]) returned {got}, expected [{expected:g}]: {why}"


def check_collapsed(collapsed) -> None:
    """collapsed tells a run whose token entropy fell to a fraction of its start, as the dashboard's check does."""
    from grpo_helpers.dashboard import check_health

    rng = random.Random(113)
    notebook_run = [0.524, 0.634, 0.934, 0.509, 0.0542, 0.0738, 0.13, 0.105]  # section 3's collapse
    cases = [(notebook_run, 3, 0.25), ([0.5 - 0.013 * s for s in range(1, 15)], 3, 0.25), (notebook_run[:5], 3, 0.25)]
    cases += [([0.6, 0.6, 0.3, 0.3], 2, 0.5), ([0.6, 0.6, 0.3, 0.31], 2, 0.5), ([0.4] * 6, 3, 0.25)]
    cases += [([0.6, 0.6, 0.1, 0.1, 0.1], 3, 0.25)]  # 5 values, windows of 3: they overlap, no verdict yet
    cases += [([round(rng.uniform(0.01, 1.0), 3) for _ in range(rng.randint(2, 12))], rng.randint(1, 3), 0.25)]
    cases += [([round(rng.uniform(0.01, 1.0), 3) for _ in range(8)], 2, rng.choice((0.25, 0.5))) for _ in range(5)]
    for entropies, window, floor in cases:
        history = [{"step": i + 1, "loss": 0.0, "entropy": e} for i, e in enumerate(entropies)]  # a logging step
        warnings = check_health(history, entropy_window=window, entropy_floor=floor)
        expected = "entropy_collapse" in [w.code for w in warnings]
        got = _call(collapsed, list(entropies), window, floor)
        why = (
            f"fewer than 2 x {window} values: nothing to compare yet"
            if len(entropies) < 2 * window
            else f"the last {window} average {sum(entropies[-window:]) / window:.3f}, the first {window} "
            f"{sum(entropies[:window]) / window:.3f}: a collapse is the last at most {floor} x the first"
        )
        assert got == expected, f"collapsed({entropies}, window={window}, floor={floor}) returned {got}: {why}"


def check_on_policy_loss(on_policy_loss) -> None:
    """on_policy_loss gives the loss TRL logs on an update with ratio 1 and beta 0, for grpo and dapo."""
    import torch

    from grpo_helpers.grpo_loss import grpo_loss

    rng = random.Random(115)
    cases = [([1.0, -1.0], [10, 10]), ([1.0, -1.0], [30, 10]), ([0.0, 0.0, 0.0], [5, 9, 48]), ([0.5, -0.5], [1, 3])]
    for _ in range(5):
        n = rng.choice((2, 4, 8))
        advantages = [round(rng.uniform(-1.5, 1.5), 2) for _ in range(n)]
        cases.append(([a - sum(advantages) / n for a in advantages], [rng.randint(1, 48) for _ in range(n)]))
    for advantages, lengths in cases:
        mask = torch.tensor([[1.0] * length + [0.0] * (max(lengths) - length) for length in lengths])
        logps = torch.zeros_like(mask)
        for loss_type in ("grpo", "dapo"):
            expected = grpo_loss(logps, logps, torch.tensor(advantages), mask, loss_type).item()
            got = _call(on_policy_loss, list(advantages), list(lengths), loss_type)
            hint = (
                "grpo: minus the mean over completions of each completion's advantage (its tokens' mean)"
                if loss_type == "grpo"
                else "dapo: minus the sum over all tokens of their completion's advantage, over the number of tokens"
            )
            ok = isinstance(got, (int, float)) and abs(got - expected) < 1e-6
            call = f"on_policy_loss({advantages}, {lengths}, {loss_type!r})"
            assert ok, f"{call} returned {got}, expected {expected:.6g}: {hint}"


def check_fewest_per_device(fewest_per_device) -> None:
    """fewest_per_device finds the smallest per-device batch whose generation batch holds whole groups."""
    cases = [(1, 4, 8), (2, 4, 8), (3, 1, 16), (8, 4, 6), (4, 1, 6), (3, 2, 9), (6, 1, 4), (5, 3, 7)]
    for processes, steps, G in cases:
        expected = next(d for d in range(1, G + 1) if d * processes * steps % G == 0)
        got = _call(fewest_per_device, processes, steps, G)
        completions = got * processes * steps
        why = (
            f"{got} x {processes} x {steps} = {completions} completions is not a multiple of {G}"
            if completions % G
            else f"{expected} x {processes} x {steps} = {expected * processes * steps} already holds whole groups"
        )
        assert got == expected, (
            f"fewest_per_device(processes={processes}, steps_per_generation={steps}, num_generations={G}) "
            f"returned {got}, expected {expected}: {why}"
        )


def check_first_right_step(first_right_step) -> None:
    """first_right_step finds the first logged step with a reward mean above 0, or None."""
    key = "rewards/correctness_reward/mean"
    runs = {
        "rises at step 3": [
            {"step": 1, key: 0.0},
            {"step": 2, key: 0.0},
            {"step": 3, key: 0.125},
            {"step": 4, key: 0.0},
        ],
        "never rises": [{"step": 1, key: 0.0}, {"step": 2, key: 0.0}, {"step": 2, "train_runtime": 9.5}],
        "rows without the reward (a GPU logs rewards one step in four)": [
            {"step": 1, key: 0.0, "loss": 0.0},
            {"step": 2, "loss": 0.01},
            {"step": 5, key: 0.0625},
            {"step": 5, "train_runtime": 30.0},
        ],
        "right at the first step": [{"step": 1, key: 0.5}, {"step": 2, key: 0.0}],
        "a negative mean is not a rise": [{"step": 1, key: -0.25}, {"step": 2, key: 0.0}, {"step": 3, key: 0.25}],
        "nothing logged": [],
    }
    for name, rows in runs.items():
        expected = next((row["step"] for row in rows if row.get(key) is not None and row[key] > 0), None)
        got = _call(first_right_step, [dict(row) for row in rows], key)
        assert got == expected, f"{name}: first_right_step returned {got!r}, expected {expected!r} for {rows}"
