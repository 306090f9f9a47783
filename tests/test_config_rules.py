"""FIELD_RULES, the table of every GRPOConfig setting a learner sets: each row's bad values get its
message (field, value, rule, fix) from make_config, load_config and validate_config, all at once; its good
values build. A seeded sweep across each field's domain: a named error, or a config GRPOTrainer takes."""

import json
import math
import random
import time
import warnings

import pytest

from grpo_helpers.config import (
    FIELD_RULES,
    LOSS_COMPANIONS,
    RULES,
    ConfigError,
    ConfigWarning,
    accepted_loss_types,
    field_problem,
    load_config,
    make_config,
    save_config,
    validate_config,
)
from grpo_helpers.environment import Hardware
from tiny_model import cpu_trainer

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
NAN, INF = float("nan"), float("inf")

# field: (values its rule accepts, values it refuses). Every row of FIELD_RULES, also those no preset sets.
CASES = {
    "num_generations": ([2, 4, 8], [1, 0, -4, 8.0, "8", None, True]),
    "temperature": ([0.7, 1.0, 2.5], [0, 0.0, -0.5, NAN, INF, "0.9", None]),
    "top_p": ([1.0, 0.9, 1e-6], [0, 0.0, 1.5, -0.1, NAN, None]),
    "max_completion_length": ([1, 48, 256], [0, -1, 256.0, "256", None]),
    "beta": ([0.0, 0, 0.04, 1.0], [-0.1, NAN, INF, None, "0.04"]),
    "loss_type": (list(accepted_loss_types()), ["ppo", "GRPO", "drgrpo", "", None, 1]),
    "scale_rewards": (["group", "batch", "none", True, False], ["std", "Group", None, 1, ""]),
    "epsilon": ([0.2, 0.1, 3.0], [0, -0.2, NAN, None]),
    "epsilon_high": ([None, 0.28, 5.0], [0, -0.28, NAN, "0.28"]),
    "importance_sampling_level": (["token", "sequence"], ["tokens", "seq", None]),
    "num_iterations": ([1, 2], [0, -1, 1.5, None]),
    "mask_truncated_completions": ([True, False], ["yes", 1, 0, None]),
    "reward_weights": ([None, [1.0, 1.0, 1.0, 1.0, 0.0], (1, 2.5)], [[1.0, NAN], ["1.0"], 1.0, "1,1", [None]]),
    "per_device_train_batch_size": ([8, 16], [0, -8, 8.0, None]),
    "gradient_accumulation_steps": ([1, 2, 4], [0, -1, 1.5, None]),
    "steps_per_generation": ([None, 1, 4], [0, -2, 2.0]),
    "generation_batch_size": ([None, 16, 32], [0, -16, 16.0]),
    "learning_rate": ([5e-6, 1e-5, 2e-4], [0, -1e-5, NAN, INF, "1e-5", None]),
    "adam_beta1": ([0.9, 0.0], [1.0, 1.5, -0.1, NAN, None]),
    "adam_beta2": ([0.99, 0.999], [1, 2.0, -0.5, NAN]),
    "weight_decay": ([0.0, 0.1], [-0.1, NAN, None]),
    "max_grad_norm": ([0.0, 0.1, 1.0], [-1.0, NAN, INF, None]),
    "warmup_steps": ([0, 0.1, 10], [-1, -0.1, NAN, None]),
    "lr_scheduler_type": (["cosine", "constant", "linear"], ["cosin", "Cosine", "", None, 1]),
    "optim": (["adamw_torch", "adamw_8bit", "sgd"], ["adam", "AdamW", "", None]),
    "max_steps": ([1, 14, 250, -1], [0, -2, 10.5, "250", None]),
    "logging_steps": ([1, 10, 0.5], [0, -1, 2.5, NAN, None]),
    "save_strategy": (["steps", "no", "epoch"], ["sometimes", "Steps", None, False]),
    "save_steps": ([50, 0.25], [0, -50, 12.5, NAN]),
    "report_to": (["none", "all", [], ["none"]], ["nonsense", "wandb-offline", ["none", "x"], None, 0]),
    "log_completions": ([True, False], ["true", 1, None]),
    "seed": ([0, 3407, 2**32 - 1], [-1, 2**32, 3.5, "3407", None]),
    "output_dir": (["runs/x", None], ["", 5]),
    "bf16": ([False], ["no", 0, None]),
    "fp16": ([False], ["no", 1, None]),
    "use_cpu": ([True, False], ["yes", 1, None]),
    "gradient_checkpointing": ([True, False], ["no", 0, None]),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_RUN_DIR", str(tmp_path / "run"))


def expected(name, value) -> str:
    """The table's message for a refused value: the field, the value, the rule, what to type instead."""
    rule, fix = RULES[name]
    return f"{name}: {value!r} must be {rule.describe()}: "


def test_the_cases_cover_every_row_and_the_rows_are_well_formed():
    assert set(CASES) == set(RULES) and len(RULES) == len(FIELD_RULES)
    from trl import GRPOConfig

    fields = GRPOConfig.__dataclass_fields__
    for name, rule, fix in FIELD_RULES:
        assert name in fields, f"{name}: not a field of the installed TRL's GRPOConfig"
        assert fix.startswith(f"{name}="), f"{name}: the fix shows what to type"
        assert rule.describe(), name


@pytest.mark.parametrize("name", list(CASES))
def test_each_row_refuses_its_bad_values_with_its_message(name):
    good, bad = CASES[name]
    for value in bad:
        message = field_problem(name, value)
        assert message and message.startswith(expected(name, value)) and "type " in message, (name, value, message)
        with pytest.raises(ConfigError) as error:
            make_config("basic", hardware=CPU, **{name: value})
        assert any(p.startswith(expected(name, value)) for p in error.value.problems), (value, error.value.problems)
    for value in good:
        assert field_problem(name, value) is None, (name, value)


@pytest.mark.parametrize("name", list(CASES))
def test_each_row_builds_with_its_good_values(name):
    for value in CASES[name][0]:
        extra = LOSS_COMPANIONS.get(value, {}) if name == "loss_type" else {}
        if name == "generation_batch_size" and value is not None:
            extra = {"steps_per_generation": None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConfigWarning)
            config = make_config("basic", hardware=CPU, **{name: value, **extra})
            assert validate_config(config) is not None


def test_every_problem_is_listed_in_one_error():
    bad = {name: values[1][0] for name, values in CASES.items()}
    with pytest.raises(ConfigError) as error:
        make_config("basic", hardware=CPU, max_new_tokens=5, **bad)
    problems = error.value.problems
    assert len(problems) == len(RULES) + 1 and problems[0].startswith("max_new_tokens: use max_completion_length")
    assert f"has {len(problems)} problem(s)" in str(error.value)
    for name, value in bad.items():
        assert any(p.startswith(expected(name, value)) for p in problems), name


def test_a_hand_built_or_changed_config_is_checked_by_validate_config():
    from trl import GRPOConfig

    config = GRPOConfig(output_dir="x", use_cpu=True, learning_rate=-1e-5, beta=-0.1, top_p=1.5, num_generations=4,
                        per_device_train_batch_size=8, scale_rewards="std", report_to="none")  # fmt: skip
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert [p.split(":")[0] for p in error.value.problems] == ["top_p", "beta", "scale_rewards", "learning_rate"]
    config = make_config("quick_cpu", hardware=CPU)
    config.max_completion_length, config.loss_type = 0, "ppo"
    with pytest.raises(
        ConfigError, match=r"max_completion_length: 0 must be a whole number >= 1.*\n.*loss_type: 'ppo'"
    ):
        validate_config(config)


def test_a_misspelt_choice_gets_the_closest_value():
    assert "did you mean lr_scheduler_type='cosine'? type lr_scheduler_type=" in field_problem(
        "lr_scheduler_type", "cosin"
    )
    assert "did you mean loss_type='dr_grpo'?" in field_problem("loss_type", "drgrpo")
    assert "did you mean" not in field_problem("loss_type", "ppo")


def test_a_saved_config_cut_off_or_from_another_trl_version(tmp_path):
    path = save_config(make_config("quick_cpu", hardware=CPU), tmp_path / "c.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ConfigError, match=r"the file is not complete JSON \(.*\): it was cut off .*save_config"):
        load_config(path)
    path.write_text(json.dumps({**json.loads(text), "vllm_sleep_level_v9": 1}))
    with pytest.raises(
        ConfigError, match=r"vllm_sleep_level_v9: not a GRPOConfig setting.*saved by another TRL version"
    ):
        load_config(path)
    path.write_text(json.dumps({**json.loads(text), "temperature": -1}))
    with pytest.raises(ConfigError, match=r"temperature: -1 must be a finite number > 0"):
        load_config(path)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="the file holds a list, not the settings save_config writes"):
        load_config(path)


# -- the sweep: values across each field's domain ------------------------------------------------------
SMALL = {"num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 8, "max_steps": 2,
         "reward_weights": None, "save_strategy": "no", "disable_tqdm": True}  # fmt: skip


def draw(rng: random.Random, name: str):
    """A value for ``name``: one of its listed cases, or a random number or name across the domain."""
    good, bad = CASES[name]
    pick = rng.random()
    if pick < 0.35:
        return rng.choice(good)
    if pick < 0.6:
        return rng.choice(bad)
    if pick < 0.8:
        return rng.choice([rng.randint(-3, 40), rng.uniform(-2, 3), 10 ** rng.uniform(-8, 2), NAN, -INF, 0, 1, 2])
    return rng.choice([None, True, "", "none", "group", "steps", "cosine", [1.0, 2.0], "x" * rng.randint(1, 6)])


def reward(completions, **kwargs):
    return [float(len(c)) for c in completions]


@cpu_trainer
def test_sweep_each_value_gets_a_named_error_or_a_config_grpotrainer_takes(tiny_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOTrainer

    from tiny_model import tiny_lora_model

    rng, names = random.Random(24), list(CASES)
    dataset = Dataset.from_dict({"prompt": ["What is 2 + 3?", "Say hi.", "Name a colour.", "A fruit?"]})
    model, tokenizer = tiny_lora_model(tiny_dir)
    outcomes, start = {"refused": 0, "constructed": 0}, time.monotonic()
    for case in range(240):
        name = names[case % len(names)] if case < len(names) else rng.choice(names)
        value = draw(rng, name)
        if name == "output_dir" and (value is None or (isinstance(value, str) and value)):
            value = str(tmp_path / "out")  # GRPOTrainer makes the folder: never in the working directory
        settings = {**SMALL, "output_dir": str(tmp_path / f"c{case}"), name: value}
        if name == "loss_type" and value in LOSS_COMPANIONS:
            settings.update(LOSS_COMPANIONS[value])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                config = make_config("quick_cpu", hardware=CPU, **settings)
                validate_config(config, model, tokenizer, dataset, trainer_kwargs={"reward_funcs": [reward]})
                GRPOTrainer(model=model, reward_funcs=[reward], args=config, train_dataset=dataset,
                            processing_class=tokenizer)  # fmt: skip
        except ConfigError as error:  # named: the field appears in the message, and that it must be ...
            assert name in str(error), (name, value, str(error))
            outcomes["refused"] += 1
        else:
            if "ref" in model.peft_config:  # beta > 0 added a reference adapter: the next trainer gets a fresh model
                model, tokenizer = tiny_lora_model(tiny_dir)
            if not isinstance(value, float) or math.isfinite(value):
                assert field_problem(name, value) is None
            outcomes["constructed"] += 1
    assert outcomes["refused"] > 60 and outcomes["constructed"] > 60, outcomes
    assert time.monotonic() - start < 60
