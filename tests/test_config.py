"""GRPO configs: presets, the checks and their messages, save/load, the step estimate."""
import dataclasses
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from grpo_helpers.config import config_settings, longest_prompt_tokens, make_config, validate_config
from grpo_helpers.config import ConfigWarning
from grpo_helpers.config import default_config_path, load_config, save_config
from grpo_helpers.config import EXPLAINED_FIELDS, batch_arithmetic, explain
from grpo_helpers.estimate import CALIBRATION, KNOWN_MODELS, T4, calibration, estimate_step, model_shape
from grpo_helpers.environment import Hardware
from grpo_helpers.config import (
    GPU_GENERATION_ROUNDS, PRECISION_FIELDS, PRESET_FIELDS, PRESET_NAMES, PRESETS, precision_settings, recommended_preset,
)
from grpo_helpers.config import SEED_LOSS_TYPES, accepted_loss_types, config_fields, trainer_arguments

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
H100 = Hardware(device="cuda", platform="local", cpu_count=16, ram_gib=128.0, gpu_name="NVIDIA H100 80GB HBM3",
                vram_gib=79.2, compute_capability=(9, 0), bf16=True)  # fmt: skip
# What each loss type needs besides its name (the checks below fail without these).
COMPANIONS = {
    "dr_grpo": {"scale_rewards": "none"},
    "cispo": {"epsilon_high": 5.0},
    "luspo": {"importance_sampling_level": "sequence"},
}


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
def test_each_preset_builds_a_valid_config_on_cpu(preset):
    from trl import GRPOConfig

    config = quiet_config(preset, hardware=CPU)
    assert isinstance(config, GRPOConfig)
    assert config.use_cpu and not config.bf16 and not config.fp16 and config.optim.value == "adamw_torch"
    for name, value in PRESETS[preset].items():
        assert getattr(config, name) == value, name
    assert config.generation_batch_size % config.num_generations == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        assert validate_config(config, hardware=CPU) == []


def test_presets_differ_where_seed_003_says():
    basic, aggressive, conservative = (PRESETS[p] for p in ("basic", "aggressive", "conservative"))
    assert aggressive["learning_rate"] > basic["learning_rate"] > conservative["learning_rate"]
    assert aggressive["beta"] < basic["beta"] < conservative["beta"]
    assert aggressive["num_generations"] < basic["num_generations"] < conservative["num_generations"]
    quick = PRESETS["quick_cpu"]  # at most as many generated tokens as 12 steps of 8 x 96
    assert quick["max_completion_length"] * quick["per_device_train_batch_size"] * quick["max_steps"] <= 12 * 8 * 96


def test_precision_follows_the_hardware():
    assert precision_settings(CPU) == {"bf16": False, "fp16": False, "use_cpu": True, "optim": "adamw_torch"}
    assert precision_settings(T4, bitsandbytes=True) == {"bf16": False, "fp16": True, "use_cpu": False, "optim": "adamw_8bit",
                                                         "bf16_full_eval": False, "fp16_full_eval": True}
    assert precision_settings(T4, bitsandbytes=False)["optim"] == "adamw_torch"
    assert precision_settings(H100, bitsandbytes=True) == {"bf16": True, "fp16": False, "use_cpu": False, "optim": "adamw_8bit",
                                                           "bf16_full_eval": True, "fp16_full_eval": False}
    t4_config = make_config("colab_t4", hardware=T4, bitsandbytes=True)  # fp16 configs build on any machine
    assert t4_config.fp16 and not t4_config.bf16 and not t4_config.use_cpu and t4_config.optim.value == "adamw_8bit"
    assert [recommended_preset(h) for h in (CPU, T4, H100)] == ["quick_cpu", "colab_t4", "basic"]


def test_gpu_configs_generate_once_for_several_steps():
    t4 = make_config("colab_t4", hardware=T4, bitsandbytes=True)
    assert t4.steps_per_generation == GPU_GENERATION_ROUNDS == 4 and t4.generation_batch_size == 6 * 4
    assert batch_arithmetic(t4)["completions per step"] == 6 and batch_arithmetic(t4)["steps per generation round"] == 4
    # One round feeds 4 optimizer steps whatever the accumulation: 4 x 2 micro-batches.
    assert config_settings("conservative", hardware=H100, bitsandbytes=True)["steps_per_generation"] == 8
    # Your own choice wins, either way of saying it; a CPU generates for every step.
    assert make_config("colab_t4", hardware=T4, bitsandbytes=True, steps_per_generation=1).steps_per_generation == 1
    assert make_config("colab_t4", hardware=T4, bitsandbytes=True, generation_batch_size=12).steps_per_generation == 2
    assert "steps_per_generation" not in config_settings("basic", hardware=CPU)
    # The estimate is per optimizer step: the round's generation is shared by its steps.
    every_step = estimate_step({**PRESETS["colab_t4"], "steps_per_generation": 1}, "unsloth/Qwen2.5-1.5B-Instruct", T4)
    per_round = estimate_step(config_settings("colab_t4", hardware=T4, bitsandbytes=True), "unsloth/Qwen2.5-1.5B-Instruct", T4)
    assert per_round.generation_s == pytest.approx(every_step.generation_s / 4, rel=0.05)


def test_overrides_and_output_dir(tmp_path):
    config = quiet_config("basic", hardware=CPU, learning_rate=1e-5, max_steps=7)
    assert config.learning_rate == 1e-5 and config.max_steps == 7 and config.beta == PRESETS["basic"]["beta"]
    assert config.output_dir == str(tmp_path / "run" / "checkpoints")
    assert quiet_config("basic", hardware=CPU, output_dir=str(tmp_path / "x")).output_dir == str(tmp_path / "x")
    with pytest.raises(ValueError, match="preset='fast' is not a preset: use one of basic"):
        make_config("fast", hardware=CPU)


def test_api_drift_fields_and_loss_types_exist_in_installed_trl():
    fields = config_fields()
    missing = [name for name in (*PRESET_FIELDS, *PRECISION_FIELDS, "output_dir") if name not in fields]
    assert not missing, f"GRPOConfig of the installed TRL lacks {missing}"
    assert set(SEED_LOSS_TYPES) <= set(accepted_loss_types()), "TRL's loss_type documentation changed: update trl_api"
    assert {p["loss_type"] for p in PRESETS.values()} <= set(accepted_loss_types())
    assert {"model", "reward_funcs", "args", "train_dataset", "processing_class"} <= set(trainer_arguments())


# -- errors ------------------------------------------------------------------------------------------
ERRORS = [
    ({"num_generations": 3}, r"= 8 is not divisible by num_generations=3.*per_device_train_batch_size to a multiple of 3"),
    ({"per_device_train_batch_size": 4, "gradient_accumulation_steps": 3, "num_generations": 8},
     r"4 x 3 x 1 = 12 is not divisible by num_generations=8.*multiple of 8.*num_generations to a divisor of 12"),
    ({"per_device_train_batch_size": 2, "generation_batch_size": 12}, r"generation_batch_size \(12\) is not divisible by num_generations=8"),
    ({"generation_batch_size": 16, "steps_per_generation": 2}, r"generation_batch_size: set either generation_batch_size or steps_per_generation"),
    ({"num_generations": 1}, r"num_generations: 1 completions per prompt cannot give an advantage.*at least 2"),
    ({"temperature": 0}, r"temperature: 0 must be > 0"),
    ({"temperature": -0.5}, r"temperature: -0.5 must be > 0"),
    ({"beta": -0.1}, r"beta: -0.1 must be >= 0"),
    ({"learning_rate": 0}, r"learning_rate: 0 must be a positive number"),
    ({"max_completion_length": 0}, r"max_completion_length: 0 must be a positive number of tokens"),
    ({"bf16": True}, r"bf16: bf16 is requested but this CPU has no bfloat16 support: set bf16=False"),
    ({"fp16": True}, r"fp16: fp16 mixed precision needs a CUDA GPU: set fp16=False"),
    ({"use_cpu": False}, r"use_cpu: this machine has no CUDA GPU: set use_cpu=True"),
    ({"optim": "adamw_8bit"}, r"optim: 'adamw_8bit' needs bitsandbytes on a CUDA GPU.*set optim='adamw_torch'"),
    ({"max_new_tokens": 200}, r"max_new_tokens: not a GRPOConfig setting.*use max_completion_length"),
    ({"max_prompt_length": 256}, r"max_prompt_length: .*no longer truncates prompts"),
    ({"warmup_ratio": 0.1}, r"warmup_ratio: .*use warmup_steps"),
    ({"reward_fn": len}, r"reward_fn: .*pass reward_funcs=\[...\] to GRPOTrainer"),
    ({"tokenizer": object()}, r"tokenizer: .*pass processing_class=tokenizer to GRPOTrainer"),
    ({"resume_from_checkpoint": "ckpt"}, r"resume_from_checkpoint: .*trainer.train\(resume_from_checkpoint="),
    ({"learnin_rate": 1e-5}, r"learnin_rate: GRPOConfig has no field of this name: did you mean learning_rate"),
    ({"loss_type": "ppo"}, r"loss_type: 'ppo' is not a loss type of this TRL: use one of grpo"),
    ({"loss_type": "dr_grpo"}, r"scale_rewards: loss_type='dr_grpo' .*Set scale_rewards='none'"),
    ({"loss_type": "cispo"}, r"epsilon_high: loss_type='cispo' .*set epsilon_high=5.0"),
    ({"loss_type": "cispo", "epsilon_high": 0.28}, r"epsilon_high: loss_type='cispo' caps each importance weight at epsilon_high itself, so 0.28"),
    ({"loss_type": "luspo"}, r"importance_sampling_level: loss_type='luspo' .*set importance_sampling_level='sequence'"),
    ({"loss_type": "vespo", "importance_sampling_level": "sequence"}, r"importance_sampling_level: loss_type='vespo' .*'token'"),
    ({"loss_type": "sapo", "sapo_temperature_pos": 0.0}, r"sapo_temperature_pos: 0.0 must be > 0 for loss_type='sapo'"),
    ({"scale_rewards": "prompt"}, r"scale_rewards: 'prompt' must be 'group', 'batch' or 'none'"),
    ({"top_p": 0}, r"top_p: 0 must be in \(0, 1\]"),
]


@pytest.mark.parametrize("overrides, message", ERRORS, ids=lambda v: ",".join(v) if isinstance(v, dict) else None)
def test_each_invalid_setting_raises_with_its_fix(overrides, message):
    loss = overrides.get("loss_type")
    if loss and loss not in accepted_loss_types() and loss != "ppo":
        pytest.skip(f"loss_type={loss!r} is not in this TRL")
    with pytest.raises(ValueError, match=message):
        make_config("basic", hardware=CPU, **overrides)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ValueError, match=r"has 3 problem\(s\)") as error:
        make_config("basic", hardware=CPU, temperature=0, beta=-1, max_new_tokens=5)
    assert "max_new_tokens" in str(error.value)
    with pytest.raises(ValueError, match="temperature: 0 must be > 0") as error:
        make_config("basic", hardware=CPU, temperature=0, beta=-1)
    assert "beta: -1 must be >= 0" in str(error.value)


def test_precision_errors_on_gpus():
    with pytest.raises(ValueError, match=r"bf16: bf16 is requested but Tesla T4 has no bfloat16 support: set bf16=False, fp16=True"):
        make_config("colab_t4", hardware=T4, bf16=True, fp16=False, bitsandbytes=True)
    with pytest.raises(ValueError, match="bitsandbytes is not installed: set optim='adamw_torch'"):
        make_config("colab_t4", hardware=T4, optim="adamw_8bit", bitsandbytes=False)
    with pytest.raises(ValueError, match="bf16 and fp16 are both True: keep one"):
        make_config("basic", hardware=H100, fp16=True, bitsandbytes=True)


@pytest.mark.parametrize("loss_type", accepted_loss_types())
def test_every_loss_type_of_installed_trl_builds_with_its_companions(loss_type):
    config = quiet_config("basic", hardware=CPU, loss_type=loss_type, beta=0.0, **COMPANIONS.get(loss_type, {}))
    assert config.loss_type == loss_type


# -- warnings -------------------------------------------------------------------------------------
WARNINGS = [
    ({"learning_rate": 1e-2}, r"learning_rate: 0.01 is outside the usual 1e-07 to 0.0002 for LoRA GRPO: updates this large"),
    ({"learning_rate": 1e-9}, r"learning_rate: 1e-09 is outside the usual .* the adapters will barely move"),
    ({"temperature": 1.8}, r"temperature: 1.8 makes completions close to random text"),
    ({"temperature": 0.2}, r"temperature: 0.2 makes the completions of a group nearly identical"),
    ({"beta": 2.0}, r"beta: 2.0 holds the policy so close to the reference"),
    ({"max_completion_length": 16}, r"max_completion_length: 16 tokens is too few"),
    ({"loss_type": "dapo"}, r"beta: the DAPO paper trains without the KL term"),
    ({"loss_type": "dapo", "beta": 0.0, "importance_sampling_level": "sequence"},
     r"importance_sampling_level: 'sequence' with loss_type='dapo'"),
]


@pytest.mark.parametrize("overrides, message", WARNINGS, ids=lambda v: ",".join(v) if isinstance(v, dict) else None)
def test_unusual_values_warn_and_are_kept(overrides, message):
    with pytest.warns(ConfigWarning, match=message):
        config = make_config("basic", hardware=CPU, **overrides)
    for name, value in overrides.items():
        assert getattr(config, name) == value  # warned about, never changed or dropped


# -- validate_config: model, tokenizer, dataset, trainer arguments -----------------------------------
class WordTokenizer:
    """Counts whitespace-separated words as tokens; chat prompts become 'role: content' lines."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [text.split() for text in texts]}

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + ("\nassistant:" if add_generation_prompt else "")


def test_longest_prompt_for_plain_and_chat_prompts():
    from datasets import Dataset

    plain = Dataset.from_dict({"prompt": ["one two three", "one two three four five"]})
    chat = Dataset.from_dict({"prompt": [[{"role": "system", "content": "be brief"}, {"role": "user", "content": "a b c"}]]})
    assert longest_prompt_tokens(plain, WordTokenizer()) == 5
    assert longest_prompt_tokens(chat, WordTokenizer()) == 8  # "system: be brief / user: a b c / assistant:"
    with pytest.raises(ValueError, match=r"reads the prompts from a column named 'prompt', and this dataset has \['question'\]"):
        longest_prompt_tokens(Dataset.from_dict({"question": ["q"]}), WordTokenizer())


def test_prompt_plus_completion_must_fit_max_seq_length():
    from datasets import Dataset

    config = quiet_config("basic", hardware=CPU)  # max_completion_length 256
    model = SimpleNamespace(max_seq_length=300)
    with pytest.raises(ValueError, match=r"longest prompt \(100 tokens\) \+ max_completion_length \(256\) = 356 tokens "
                       r"exceeds the model's max_seq_length \(set by load_model\) \(300\): lower max_completion_length to "
                       r"200 or less, or load the model with max_seq_length >= 356, or drop prompts longer than 44 tokens"):
        validate_config(config, model, hardware=CPU, longest_prompt=100)
    with pytest.raises(ValueError, match=r"exceeds the max_seq_length you passed \(200\): load the model with "
                       r"max_seq_length >= 556\Z"):
        validate_config(config, hardware=CPU, longest_prompt=300, max_seq_length=200)
    assert validate_config(config, model, hardware=CPU, longest_prompt=44) == []
    dataset = Dataset.from_dict({"prompt": [" ".join(["w"] * 60)]})
    with pytest.raises(ValueError, match=r"longest prompt \(60 tokens\)"):
        validate_config(config, model, WordTokenizer(), dataset, hardware=CPU)
    with pytest.raises(ValueError, match="tokenizer: needed to measure the dataset's prompts: pass tokenizer=tokenizer"):
        validate_config(config, model, None, dataset, hardware=CPU)
    no_length = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=128))
    with pytest.raises(ValueError, match="exceeds the model's max_position_embeddings"):
        validate_config(config, no_length, hardware=CPU, longest_prompt=10)
    with pytest.warns(ConfigWarning, match="max_seq_length: prompt lengths were given but no model"):
        validate_config(config, hardware=CPU, longest_prompt=10)


def test_trainer_arguments_old_names_and_misplaced_settings():
    config = quiet_config("basic", hardware=CPU)
    good = {"model": None, "reward_funcs": [], "args": config, "train_dataset": None, "processing_class": None}
    assert validate_config(config, hardware=CPU, trainer_kwargs=good) == []
    cases = {
        "tokenizer": "tokenizer: GRPOTrainer has no argument of this name: use processing_class=tokenizer",
        "reward_fn": "reward_fn: GRPOTrainer has no argument of this name: use reward_funcs=",
        "resume_from_checkpoint": "call trainer.train(resume_from_checkpoint=path or True)",
        "num_generations": "num_generations: this is a GRPOConfig setting, not a trainer argument: build the config "
        "with make_config(..., num_generations=...)",
        "config": "use args=config",
        "data_collator": "data_collator: GRPOTrainer has no argument of this name; it takes model, reward_funcs",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError) as error:
            validate_config(config, hardware=CPU, trainer_kwargs={**good, name: None})
        assert message in str(error.value), name


def test_reward_weights_need_one_weight_per_reward_function():
    from grpo_helpers.rewards import correctness_reward, strict_format_reward, tutorial_rewards

    quick = quiet_config("quick_cpu", hardware=CPU)
    kwargs = {"model": None, "args": quick, "train_dataset": None, "processing_class": None}
    assert len(quick.reward_weights) == 5
    assert validate_config(quick, hardware=CPU, trainer_kwargs={**kwargs, "reward_funcs": tutorial_rewards(96)}) == []
    with pytest.raises(ValueError, match=r"reward_weights: 5 weights .* for 2 reward functions \['correctness_reward', "
                                         r"'strict_format_reward'\].*reward_weights=None"):
        validate_config(quick, hardware=CPU, trainer_kwargs={**kwargs, "reward_funcs": [correctness_reward, strict_format_reward]})
    unweighted = quiet_config("quick_cpu", hardware=CPU, reward_weights=None)
    assert validate_config(unweighted, hardware=CPU, trainer_kwargs={**kwargs, "reward_funcs": [correctness_reward]}) == []


def test_a_config_changed_after_building_is_checked_again():
    config = quiet_config("basic", hardware=CPU)
    config.temperature = 0.0
    config.num_generations = 3
    with pytest.raises(ValueError, match=r"GRPO config has 2 problem\(s\)"):
        validate_config(config, hardware=CPU)


# -- save and load ---------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_saved_and_loaded_configs_are_equal(preset, tmp_path):
    config = quiet_config(preset, hardware=CPU)
    path = save_config(config, tmp_path / f"{preset}.json")
    loaded = load_config(path, hardware=CPU)
    assert loaded == config
    settings = json.loads(path.read_text())["settings"]
    assert settings["loss_type"] == PRESETS[preset]["loss_type"] and settings["use_cpu"] is True


def test_round_trip_keeps_every_changed_field(tmp_path):
    config = quiet_config(
        "basic", hardware=CPU, steps_per_generation=2, top_p=0.95, generation_kwargs={"min_new_tokens": 3},
        report_to="none", log_completions=True,
    )  # fmt: skip
    loaded = load_config(save_config(config, tmp_path / "c.json"), hardware=CPU)
    assert loaded == config
    differing = [f.name for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(loaded, f.name)]
    assert differing == []


def test_default_path_is_in_run_dir_and_load_applies_overrides(tmp_path):
    config = quiet_config("quick_cpu", hardware=CPU)
    path = save_config(config)
    assert path == default_config_path() == tmp_path / "run" / "grpo_config.json"
    loaded = load_config(hardware=CPU, max_steps=3)
    assert loaded.max_steps == 3 and loaded.num_generations == config.num_generations
    with pytest.raises(ValueError, match="max_new_tokens: not a GRPOConfig setting"):
        load_config(hardware=CPU, max_new_tokens=3)


def test_a_gpu_config_loaded_on_a_cpu_says_what_to_change(tmp_path):
    path = save_config(make_config("colab_t4", hardware=T4, bitsandbytes=True), tmp_path / "t4.json")
    with pytest.raises(ValueError, match=r"has 3 problem\(s\)") as error:
        load_config(path, hardware=CPU)
    for text in ("fp16: fp16 mixed precision needs a CUDA GPU", "use_cpu: this machine has no CUDA GPU", "optim: 'adamw_8bit'"):
        assert text in str(error.value)
    assert load_config(path, check=False).fp16


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 05"):
        load_config(tmp_path / "missing.json")
    path = save_config(quiet_config("basic", hardware=CPU), tmp_path / "c.json")
    document = json.loads(path.read_text())
    document["settings"]["max_prompt_length"] = 256
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"settings this TRL \(.*\) does not know: \['max_prompt_length'\]"):
        load_config(path, hardware=CPU)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_config(path, hardware=CPU)
    path.write_text(json.dumps({"settings": {}}))
    with pytest.raises(ValueError, match="is not a config written by save_config"):
        load_config(path, hardware=CPU)


def test_save_never_drops_a_setting_quietly(tmp_path):
    config = quiet_config("basic", hardware=CPU, hub_token="secret")
    with pytest.warns(ConfigWarning, match="hub_token is a secret and was not written"):
        path = save_config(config, tmp_path / "c.json")
    assert "secret" not in path.read_text()
    config = quiet_config("basic", hardware=CPU, generation_kwargs={"stopper": object()})
    with pytest.raises(ValueError, match=r"generation_kwargs.stopper: a object cannot be written to JSON"):
        save_config(config, tmp_path / "d.json")


# -- notes and estimate ----------------------------------------------------------------------------
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
        "completions per step": 32, "prompts per step": 2.0, "completions per micro-batch": 16, "micro-batches per step": 2,
        "steps per generation round": 1.0,
    }  # fmt: skip


def test_estimate_matches_the_calibration_measurements():
    rows = calibration()
    assert len(rows) == len(CALIBRATION)
    assert any(not row["fitted"] for row in rows), "keep at least one measurement the constants were not fitted to"
    for row, (_, _, _, _, _, (low, high), memory, _fitted) in zip(rows, CALIBRATION):
        assert 0.8 * low <= row["estimated s/step"] <= 1.2 * high, row
        if memory is not None:
            assert 0.5 * memory <= row["estimated GiB"] <= 1.5 * memory, row  # the memory formula is not fitted


def test_estimate_grows_with_the_work():
    base = {"num_generations": 8, "per_device_train_batch_size": 8, "max_completion_length": 128, "beta": 0.0}
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    reference = estimate_step(base, model, CPU)
    longer = estimate_step({**base, "max_completion_length": 256}, model, CPU)
    wider = estimate_step({**base, "per_device_train_batch_size": 16, "num_generations": 16}, model, CPU)
    with_kl = estimate_step({**base, "beta": 0.04}, model, CPU)
    assert longer.seconds > reference.seconds and longer.memory_gib > reference.memory_gib
    assert wider.seconds > reference.seconds and wider.memory_gib > reference.memory_gib
    assert with_kl.training_s > reference.training_s and with_kl.generation_s == reference.generation_s
    big = estimate_step({**base, "per_device_train_batch_size": 64, "max_completion_length": 1024}, "unsloth/Qwen2.5-3B-Instruct", T4)
    assert not big.fits and "does not fit" in big.summary()


def test_model_shapes():
    published = {  # total parameters from the model cards, in billions
        "HuggingFaceTB/SmolLM2-135M-Instruct": 0.135, "HuggingFaceTB/SmolLM2-360M-Instruct": 0.362,
        "HuggingFaceTB/SmolLM2-1.7B-Instruct": 1.71, "unsloth/Qwen2.5-0.5B-Instruct": 0.494,
        "unsloth/Qwen2.5-1.5B-Instruct": 1.54, "unsloth/Qwen2.5-3B-Instruct": 3.09,
        "unsloth/Llama-3.2-1B-Instruct": 1.24, "unsloth/Llama-3.2-3B-Instruct": 3.21,
    }  # fmt: skip
    assert set(published) == set(KNOWN_MODELS)
    for name, billions in published.items():
        assert model_shape(name).total_params / 1e9 == pytest.approx(billions, rel=0.01), name
    assert model_shape("Qwen/Qwen2.5-1.5B-Instruct") is KNOWN_MODELS["unsloth/Qwen2.5-1.5B-Instruct"]
    with pytest.raises(ValueError, match="its shape is not known here and its config could not be read"):
        model_shape(str(Path(__file__).parent / "no-such-model"))


def test_model_shape_from_a_model_folder(tmp_path):
    from grpo_helpers.environment import cache_dir

    folder = cache_dir() / "SmolLM2-135M-Instruct"
    if not (folder / "config.json").is_file():
        pytest.skip("the offline SmolLM2 copy has not been converted on this machine")
    shape = model_shape(folder)
    known = KNOWN_MODELS["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert dataclasses.replace(shape, name=known.name) == known
