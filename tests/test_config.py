"""GRPO configs: presets, the checks TRL does not make and their messages, save/load, the widget notes."""

import dataclasses
import json
import warnings

import pytest

from grpo_helpers.config import (
    EXPLAINED_FIELDS,
    GPU_GENERATION_ROUNDS,
    LOSS_COMPANIONS,
    PRESET_NAMES,
    PRESETS,
    ConfigWarning,
    RunPlan,
    accepted_loss_types,
    batch_arithmetic,
    default_config_path,
    explain,
    load_config,
    make_config,
    precision_settings,
    recommended_preset,
    run_plan,
    save_config,
    validate_config,
)
from grpo_helpers.environment import Hardware

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
T4 = Hardware(device="cuda", platform="colab", cpu_count=2, ram_gib=12.7, gpu_name="Tesla T4", vram_gib=15.0,
              compute_capability=(7, 5), bf16=False)  # fmt: skip
H100 = Hardware(device="cuda", platform="local", cpu_count=16, ram_gib=128.0, gpu_name="NVIDIA H100 80GB HBM3",
                vram_gib=79.2, compute_capability=(9, 0), bf16=True)  # fmt: skip
# make_config refuses dr_grpo and cispo without their companions (config.LOSS_COMPANIONS); luspo's is TRL's advice.
REQUIRED_COMPANIONS = {"dr_grpo": ("scale_rewards",), "cispo": ("epsilon_high",)}


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_RUN_DIR", str(tmp_path / "run"))


def quiet_config(*args, **kwargs):
    """make_config that fails on any ConfigWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        return make_config(*args, **kwargs)


# -- presets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_each_preset_builds_the_config_notebook_05_builds_inline(preset):
    from trl import GRPOConfig

    config = quiet_config(preset, hardware=CPU)
    assert config.use_cpu and not config.bf16 and not config.fp16 and config.optim.value == "adamw_torch"
    for name, value in PRESETS[preset].items():
        assert getattr(config, name) == ([] if value == "none" and name == "report_to" else value), name
    inline = GRPOConfig(**PRESETS[preset], bf16=False, fp16=False, use_cpu=True, optim="adamw_torch",
                        output_dir=str(default_config_path().parent / "checkpoints"))  # fmt: skip
    assert inline == config
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        assert validate_config(config) == []


def test_presets_differ_where_seed_003_says():
    basic, aggressive, conservative = (PRESETS[p] for p in ("basic", "aggressive", "conservative"))
    assert aggressive["learning_rate"] > basic["learning_rate"] > conservative["learning_rate"]
    assert aggressive["beta"] < basic["beta"] < conservative["beta"]
    assert aggressive["num_generations"] < basic["num_generations"] < conservative["num_generations"]
    quick = PRESETS["quick_cpu"]  # at most as many generated tokens as 12 steps of 8 x 96
    assert quick["max_completion_length"] * quick["per_device_train_batch_size"] * quick["max_steps"] <= 12 * 8 * 96
    assert {p["loss_type"] for p in PRESETS.values()} <= set(accepted_loss_types())
    assert {"grpo", "bnpo", "dr_grpo", "dapo"} <= set(accepted_loss_types()), "TRL's loss_type documentation changed"


def test_precision_follows_the_hardware():
    assert precision_settings(CPU) == {"bf16": False, "fp16": False, "use_cpu": True, "optim": "adamw_torch"}
    assert precision_settings(T4, bitsandbytes=True) == {
        "bf16": False,
        "fp16": True,
        "use_cpu": False,
        "optim": "adamw_8bit",
    }
    assert precision_settings(T4, bitsandbytes=False)["optim"] == "adamw_torch"
    assert precision_settings(H100, bitsandbytes=True) == {
        "bf16": True,
        "fp16": False,
        "use_cpu": False,
        "optim": "adamw_8bit",
    }
    t4_config = make_config("colab_t4", hardware=T4, bitsandbytes=True)  # fp16 configs build on any machine
    assert t4_config.fp16 and not t4_config.bf16 and not t4_config.use_cpu and t4_config.optim.value == "adamw_8bit"


def test_the_recommended_preset_follows_the_machine_and_quick_mode(monkeypatch):
    monkeypatch.setenv("GRPO_QUICK", "0")
    assert [recommended_preset(h) for h in (CPU, T4, H100)] == ["quick_cpu", "colab_t4", "basic"]
    assert run_plan(CPU) == RunPlan("quick_cpu", max_seq_length=1024, max_prompt_length=256)
    monkeypatch.setenv("GRPO_QUICK", "1")  # the tests, the GPU check: the smallest preset on every machine
    assert [recommended_preset(h) for h in (CPU, T4, H100)] == ["smoke_test"] * 3
    assert run_plan(H100) == RunPlan("smoke_test", max_seq_length=512, max_prompt_length=256)
    smoke = make_config("smoke_test", hardware=T4, bitsandbytes=True)  # a GPU config: generation rounds of 4 steps
    assert smoke.generation_batch_size == 16 and smoke.num_generations == 2 and smoke.max_steps == 2


def test_reward_weights_are_given_by_reward_name():
    from grpo_helpers.rewards import TUTORIAL_REWARDS, tutorial_rewards, weights_by_name

    assert TUTORIAL_REWARDS == tuple(f.__name__ for f in tutorial_rewards(48))
    assert PRESETS["quick_cpu"]["reward_weights"] == [0.0 if n == "overlong_penalty" else 1.0 for n in TUTORIAL_REWARDS]
    with pytest.raises(ValueError, match=r"\['overlong'\]: not one of tutorial_rewards' names"):
        weights_by_name({"overlong": 0.0})


def test_gpu_configs_generate_once_for_several_steps():
    t4 = make_config("colab_t4", hardware=T4, bitsandbytes=True)
    assert t4.steps_per_generation == GPU_GENERATION_ROUNDS == 4 and t4.generation_batch_size == 6 * 4
    assert batch_arithmetic(t4) == {
        "completions per step": 6,
        "prompts per step": 1.0,
        "steps per generation round": 4.0,
    }
    # One round feeds 4 optimizer steps whatever the accumulation: 4 x 2 micro-batches.
    # bf16 needs the GPU here
    assert make_config("conservative", hardware=T4, bitsandbytes=True).steps_per_generation == 8
    assert make_config("basic", hardware=T4, bitsandbytes=True, gradient_accumulation_steps=2).steps_per_generation == 8
    # Your own choice wins, either way of saying it; a CPU generates for every step.
    assert make_config("colab_t4", hardware=T4, bitsandbytes=True, steps_per_generation=1).steps_per_generation == 1
    assert make_config("colab_t4", hardware=T4, bitsandbytes=True, generation_batch_size=12).steps_per_generation == 2
    assert make_config("conservative", hardware=CPU).steps_per_generation == 2  # = gradient_accumulation_steps


def test_overrides_and_output_dir(tmp_path):
    config = quiet_config("basic", hardware=CPU, learning_rate=1e-5, max_steps=7)
    assert config.learning_rate == 1e-5 and config.max_steps == 7 and config.beta == PRESETS["basic"]["beta"]
    assert config.output_dir == str(tmp_path / "run" / "checkpoints")
    assert quiet_config("basic", hardware=CPU, output_dir=str(tmp_path / "x")).output_dir == str(tmp_path / "x")
    with pytest.raises(ValueError, match="preset='fast' is not a preset: use one of basic"):
        make_config("fast", hardware=CPU)


# -- errors ------------------------------------------------------------------------------------------
ERRORS = [  # the checks TRL does not make, each with its fix
    ({"max_new_tokens": 200}, r"max_new_tokens: use max_completion_length"),
    ({"max_prompt_length": 256}, r"max_prompt_length: TRL 1.x no longer truncates prompts"),
    ({"warmup_ratio": 0.1}, r"warmup_ratio: use warmup_steps"),
    ({"reward_fn": len}, r"reward_fn: pass reward_funcs=\[...\] to GRPOTrainer"),
    ({"tokenizer": object()}, r"tokenizer: pass processing_class=tokenizer to GRPOTrainer"),
    ({"resume_from_checkpoint": "ckpt"}, r"resume_from_checkpoint: call trainer.train\(resume_from_checkpoint="),
    ({"num_generations": 1, "per_device_train_batch_size": 8}, r"num_generations: 1 must be a whole number >= 2"),
    ({"temperature": 0}, r"temperature: 0 must be a finite number > 0: type temperature=0.9.*0.7 to 1.0"),
    ({"temperature": -0.5}, r"temperature: -0.5 must be a finite number > 0"),
    ({"loss_type": "ppo"}, r"loss_type: 'ppo' must be one of 'grpo', 'dr_grpo'.*: type loss_type='grpo'"),
    ({"loss_type": "dr_grpo"}, r"scale_rewards: loss_type='dr_grpo' .*set scale_rewards='none'"),
    (
        {"loss_type": "cispo"},
        r"epsilon_high: loss_type='cispo' caps each importance weight.*None would cap.*epsilon_high=5.0",
    ),
    ({"loss_type": "cispo", "epsilon_high": 0.28}, r"so 0.28 would cap every weight below 1"),
]
TRL_ERRORS = [  # what GRPOConfig itself refuses, passed through (with the batch settings it concerns)
    ({"num_generations": 3}, r"generation_batch_size \(8\) must be divisible by num_generations \(3\)"),
    ({"generation_batch_size": 16, "steps_per_generation": 2}, r"can not be both configured"),
    ({"bf16": True, "fp16": True}, r"At most one of fp16 and bf16"),
]


@pytest.mark.parametrize(
    "overrides, message", ERRORS + TRL_ERRORS, ids=lambda v: ",".join(v) if isinstance(v, dict) else None
)
def test_each_invalid_setting_raises_with_its_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_config("basic", hardware=CPU, **overrides)


def test_unknown_names_are_refused_with_the_closest_setting():
    # TRL's GRPOConfig raises TypeError for them, Unsloth's accepts them silently: make_config refuses both ways
    with pytest.raises(ValueError, match="learnin_rate: not a GRPOConfig setting; did you mean learning_rate?"):
        make_config("basic", hardware=CPU, learnin_rate=1e-5)


def test_a_batch_that_unsloth_would_repair_is_refused(unsloth_like_grpo_config):
    with pytest.raises(
        ValueError,
        match=r"generation batch: 8 completions .* must be divisible by num_generations "
        r"\(3\): change either \(Unsloth's GRPOConfig changed per_device_train_batch_size",
    ):
        make_config("quick_cpu", hardware=CPU, num_generations=3, per_device_train_batch_size=8)
    assert make_config("quick_cpu", hardware=CPU).per_device_train_batch_size == 8  # a whole batch passes unchanged


def test_every_problem_of_a_kind_is_reported_at_once():
    with pytest.raises(ValueError, match=r"has 2 problem\(s\)") as error:
        make_config("basic", hardware=CPU, temperature=0, loss_type="dr_grpo")
    assert "temperature: 0 must be a finite number > 0" in str(error.value) and "scale_rewards" in str(error.value)


@pytest.mark.parametrize("loss_type", accepted_loss_types())
def test_every_loss_type_of_installed_trl_builds_with_its_companions(loss_type):
    companions = LOSS_COMPANIONS.get(loss_type, {})
    config = quiet_config("basic", hardware=CPU, loss_type=loss_type, beta=0.0, **companions)
    assert validate_config(config) == []  # built by TRL's GRPOConfig, and no problem or warning of its own
    assert {name: getattr(config, name) for name in ("loss_type", *companions)} == {
        "loss_type": loss_type,
        **companions,
    }
    for name in REQUIRED_COMPANIONS.get(loss_type, ()):  # without it the config is refused, naming it
        with pytest.raises(ValueError, match=rf"- {name}: loss_type='{loss_type}'"):
            make_config(
                "basic",
                hardware=CPU,
                loss_type=loss_type,
                beta=0.0,
                **{k: v for k, v in companions.items() if k != name},
            )


WARNINGS = [
    (
        {"learning_rate": 1e-2},
        r"learning_rate: 0.01 is outside the usual 1e-07 to 0.0002 for LoRA GRPO: updates this large",
    ),
    ({"learning_rate": 1e-9}, r"learning_rate: 1e-09 is outside the usual .* the adapters will barely move"),
    ({"temperature": 1.8}, r"temperature: 1.8 makes completions close to random text"),
    ({"temperature": 0.2}, r"temperature: 0.2 makes completions nearly identical"),
]


@pytest.mark.parametrize("overrides, message", WARNINGS, ids=lambda v: ",".join(v) if isinstance(v, dict) else None)
def test_unusual_values_warn_and_are_kept(overrides, message):
    with pytest.warns(ConfigWarning, match=message):
        config = make_config("basic", hardware=CPU, **overrides)
    for name, value in overrides.items():
        assert getattr(config, name) == value  # warned about, never changed or dropped


# -- validate_config: prompts, model context, trainer arguments --------------------------------------
class WordTokenizer:
    """Counts whitespace-separated words as tokens; chat prompts become 'role: content' lines."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [text.split() for text in texts]}

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + (
            "\nassistant:" if add_generation_prompt else ""
        )


def test_prompt_plus_completion_must_fit_the_context():
    from types import SimpleNamespace

    from datasets import Dataset

    config = quiet_config("basic", hardware=CPU)  # max_completion_length 256
    prompts = Dataset.from_dict({"prompt": [" ".join(["w"] * 100), "w w"]})
    with pytest.raises(
        ValueError,
        match=r"longest prompt \(100 tokens\) \+ max_completion_length \(256\) = 356 tokens "
        r"exceeds the max_seq_length you passed \(300\): lower max_completion_length to 200 or less, or "
        r"load the model with max_seq_length >= 356, or drop prompts longer than 44 tokens",
    ):
        validate_config(config, None, WordTokenizer(), prompts, max_seq_length=300)
    assert validate_config(config, None, WordTokenizer(), prompts, max_seq_length=356) == []
    chat = Dataset.from_dict(
        {"prompt": [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "a b c"}]]}
    )
    with pytest.raises(ValueError, match=r"longest prompt \(8 tokens\) \+ max_completion_length \(256\) = 264 tokens"):
        # "system: be brief / user: a b c / assistant:"
        validate_config(config, None, WordTokenizer(), chat, max_seq_length=200)
    with pytest.raises(
        ValueError, match=r"exceeds the max_seq_length you passed \(90\): load the model with max_seq_length >= 356\Z"
    ):
        validate_config(config, None, WordTokenizer(), prompts, max_seq_length=90)
    short_model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=128))
    with pytest.raises(ValueError, match="exceeds the model's max_position_embeddings"):
        validate_config(config, short_model, WordTokenizer(), prompts)
    with pytest.raises(
        ValueError, match="tokenizer: needed to measure the dataset's prompts: pass tokenizer=tokenizer"
    ):
        validate_config(config, short_model, None, prompts)
    with pytest.raises(
        ValueError, match=r"reads the prompts from a column named 'prompt', and this dataset has \['question'\]"
    ):
        validate_config(config, None, WordTokenizer(), Dataset.from_dict({"question": ["q"]}), max_seq_length=512)


def test_trainer_arguments_old_names_and_misplaced_settings():
    config = quiet_config("basic", hardware=CPU)
    good = {"model": None, "reward_funcs": [], "args": config, "train_dataset": None, "processing_class": None}
    assert validate_config(config, trainer_kwargs=good) == []
    cases = {
        "tokenizer": "tokenizer: use processing_class=tokenizer",
        "reward_fn": "reward_fn: use reward_funcs=",
        "resume_from_checkpoint": "call trainer.train(resume_from_checkpoint=path or True)",
        "num_generations": "num_generations: this is a GRPOConfig setting, not a trainer argument: build the config "
        "with make_config(..., num_generations=...)",
        "config": "use args=config",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError) as error:
            validate_config(config, trainer_kwargs={**good, name: None})
        assert message in str(error.value), name


def test_reward_weights_need_one_weight_per_reward_function():
    from grpo_helpers.rewards import correctness_reward, strict_format_reward, tutorial_rewards

    quick = quiet_config("quick_cpu", hardware=CPU)
    kwargs = {"model": None, "args": quick, "train_dataset": None, "processing_class": None}
    assert len(quick.reward_weights) == 5
    assert validate_config(quick, trainer_kwargs={**kwargs, "reward_funcs": tutorial_rewards(96)}) == []
    with pytest.raises(
        ValueError,
        match=r"reward_weights: 5 weights .* for 2 reward functions \['correctness_reward', "
        r"'strict_format_reward'\].*reward_weights=None",
    ):
        validate_config(quick, trainer_kwargs={**kwargs, "reward_funcs": [correctness_reward, strict_format_reward]})
    unweighted = quiet_config("quick_cpu", hardware=CPU, reward_weights=None)
    assert validate_config(unweighted, trainer_kwargs={**kwargs, "reward_funcs": [correctness_reward]}) == []


def test_a_config_changed_after_building_is_checked_again():
    config = quiet_config("basic", hardware=CPU)
    config.temperature = 0.0
    config.loss_type = "dr_grpo"
    with pytest.raises(ValueError, match=r"GRPO config has 2 problem\(s\)"):
        validate_config(config)


# -- save and load ---------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_saved_and_loaded_configs_are_equal(preset, tmp_path):
    config = quiet_config(preset, hardware=CPU)
    path = save_config(config, tmp_path / f"{preset}.json")
    assert load_config(path) == config
    settings = json.loads(path.read_text())  # only what differs from GRPOConfig's defaults: short and readable
    assert settings["use_cpu"] is True and settings["seed"] == PRESETS[preset]["seed"] == 3407 and len(settings) < 50
    assert "generation_batch_size" not in settings and "hub_token" not in settings


def test_round_trip_keeps_every_changed_field(tmp_path):
    config = quiet_config(
        "basic",
        hardware=CPU,
        steps_per_generation=2,
        top_p=0.95,
        generation_kwargs={"min_new_tokens": 3},
        log_completions=True,
        hub_token="secret",
    )
    path = save_config(config, tmp_path / "c.json")
    assert "secret" not in path.read_text()  # a secret is never written: log in with `hf auth login`
    loaded = load_config(path)
    differing = [f.name for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(loaded, f.name)]
    assert differing == ["hub_token"] and loaded.hub_token is None


def test_default_path_is_in_run_dir_and_load_applies_overrides(tmp_path):
    config = quiet_config("quick_cpu", hardware=CPU)
    path = save_config(config)
    assert path == default_config_path() == tmp_path / "run" / "grpo_config.json"
    loaded = load_config(max_steps=3)
    assert loaded.max_steps == 3 and loaded.num_generations == config.num_generations
    with pytest.raises(ValueError, match="max_new_tokens: use max_completion_length"):
        load_config(max_new_tokens=3)
    with pytest.raises(ValueError, match="temperature: 0 must be a finite number > 0"):
        load_config(temperature=0)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 05"):
        load_config(tmp_path / "missing.json")
    path = save_config(quiet_config("basic", hardware=CPU), tmp_path / "c.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), "max_prompt_length": 256}))
    with pytest.raises(ValueError, match="max_prompt_length: TRL 1.x no longer truncates prompts"):
        load_config(path)


# -- what the widget shows -------------------------------------------------------------------------
def test_explanations_change_with_the_value():
    samples = {
        "num_generations": (2, 8, 32), "temperature": (0.2, 0.9, 1.8), "beta": (0.0, 0.04, 0.3),
        "loss_type": ("grpo", "dr_grpo", "dapo"), "learning_rate": (1e-7, 5e-6, 1e-3),
        "max_completion_length": (32, 256, 1024), "per_device_train_batch_size": (4, 8, 16),
        "gradient_accumulation_steps": (1, 2, 4), "max_steps": (5, 250, 500),
    }  # fmt: skip
    assert set(samples) == set(EXPLAINED_FIELDS)
    for name, values in samples.items():
        texts = {explain(name, v, {"num_generations": 8, "per_device_train_batch_size": 8}) for v in values}
        assert len(texts) == 3, name
    with pytest.raises(ValueError, match="no note for 'seed'"):
        explain("seed", 1)
    assert batch_arithmetic(PRESETS["conservative"]) == {
        "completions per step": 32, "prompts per step": 2.0, "steps per generation round": 1.0,
    }  # fmt: skip
