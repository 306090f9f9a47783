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
    """``function(*args, **kwargs)``; a stub's NotImplementedError becomes the check's failure."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        raise AssertionError(f"{function.__name__} is not written yet ({error})") from None


def check_shows_work_reward(shows_work_reward) -> None:
    """shows_work_reward pays 0.25 for a worked step before the final answer, for text and chat completions."""
    from datasets import Dataset

    from grpo_helpers.rewards import check_reward_functions

    rng = random.Random(3)
    cases = [("48 + 24 = 72\n<answer>72</answer>", 0.25, "a worked step before the answer"),
             ("48/2 = 24, then 48+24=72. The answer is 72.", 0.25, "a step without an answer tag still counts"),
             ("3 x 4 = 12\n#### 12", 0.25, "x is an operator, and #### starts the answer"),
             ("<answer>72</answer>", 0.0, "no step at all"), ("", 0.0, "an empty completion"),
             ("It is 72. <answer>48 + 24 = 72</answer>", 0.0, "work inside the answer tag does not count"),
             ("Half of 48 is 24 and 48 and 24 make 72.\n#### 72", 0.0, "numbers without an operator and = are no step"),
             ("#### 12\n3 * 4 = 12", 0.0, "a step after #### is part of the answer")]
    for op in "+-*/x×":
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        step = f"{a}{' ' * rng.randint(0, 1)}{op} {b} = {rng.randint(1, 9999)}"
        cases += [(f"First, {step}.\n<answer>7</answer>", 0.25, f"{op} is an operator"),
                  (f"<answer>{step}</answer>", 0.0, "work inside the answer tag does not count")]
    for text, expected, why in cases:
        for completion in (text, [{"role": "assistant", "content": text}]):
            got = _call(shows_work_reward, ["Q"], [completion], ground_truth=["72"])
            assert got == [expected], f"shows_work_reward({completion!r}) returned {got}, expected [{expected}]: {why}"
    tiny = Dataset.from_list([{"prompt": [{"role": "user", "content": "What is 70 + 2?"}], "ground_truth": "72"}])
    problems = check_reward_functions([shows_work_reward], tiny, raise_on_error=False)
    assert not problems, "; ".join(problems)


def check_zero_std_share(zero_std_share) -> None:
    """zero_std_share gives the share of groups whose rewards are all equal (TRL's frac_reward_zero_std)."""
    import torch

    from grpo_helpers.grpo_loss import group_advantages

    rng = torch.Generator().manual_seed(8)
    cases = [([1.0, 1.0, 1.0, 1.0], 4), ([2.0, 2.0, 0.0, 1.0], 2), ([0.5, 0.5, 0.5, 0.25, 3.0, 3.0], 3)]
    cases += [(torch.randint(0, 3, (G * groups,), generator=rng).float().tolist(), G)
              for G, groups in ((2, 5), (4, 6), (8, 3), (3, 7))]
    for rewards, G in cases:
        expected = group_advantages(rewards, G)[2].view(-1, G)[:, 0].float().mean().item()
        got = _call(zero_std_share, torch.tensor(rewards), G)
        got = float(got.item() if hasattr(got, "item") else got)
        assert abs(got - expected) < 1e-6, (f"zero_std_share(torch.tensor({rewards}), G={G}) returned {got:g}, "
                                            f"expected {expected:g}: a group of G rewards is flat when they are all "
                                            "equal, and the share is flat groups / groups")
