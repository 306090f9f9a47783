"""benchmarks/estimate.py: the step-time and memory estimate (moved out of grpo_helpers: it misses
today's quick_cpu step by about 40 %, see its docstring). Its arithmetic still has to hold."""
import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from estimate import CALIBRATION, KNOWN_MODELS, T4, calibration, estimate_step, model_shape  # noqa: E402

from grpo_helpers.config import PRESETS, make_config  # noqa: E402
from grpo_helpers.environment import Hardware  # noqa: E402

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)


def test_estimate_matches_the_calibration_measurements():
    rows = calibration()
    assert len(rows) == len(CALIBRATION)
    assert any(not row["fitted"] for row in rows), "keep at least one measurement the constants were not fitted to"
    for row, (_, _, _, _, _, (low, high), memory, _fitted) in zip(rows, CALIBRATION):
        assert 0.8 * low <= row["estimated s/step"] <= 1.2 * high, row
        if memory is not None:
            assert 0.5 * memory <= row["estimated GiB"] <= 1.5 * memory, row  # the memory formula is not fitted


def test_a_generation_round_is_shared_by_its_steps(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_RUN_DIR", str(tmp_path))
    every_step = estimate_step({**PRESETS["colab_t4"], "steps_per_generation": 1}, "unsloth/Qwen2.5-1.5B-Instruct", T4)
    per_round = estimate_step(make_config("colab_t4", hardware=T4, bitsandbytes=True), "unsloth/Qwen2.5-1.5B-Instruct", T4)
    assert per_round.generation_s == pytest.approx(every_step.generation_s / 4, rel=0.05)


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


def test_model_shape_from_a_model_folder():
    from grpo_helpers.environment import cache_dir

    folder = cache_dir() / "SmolLM2-135M-Instruct"
    if not (folder / "config.json").is_file():
        pytest.skip("the offline SmolLM2 copy has not been converted on this machine")
    shape = model_shape(folder)
    known = KNOWN_MODELS["HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert dataclasses.replace(shape, name=known.name) == known
