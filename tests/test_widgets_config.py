"""The config widget, driven as a learner would: pick a preset, move controls, press the button."""

import pytest

from grpo_helpers.config import PRESETS, make_config
from grpo_helpers.environment import Hardware
from grpo_helpers.widgets import CONTROLLED, ConfigWidget

pytest.importorskip("ipywidgets")

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("GRPO_QUICK", "0")  # the widget starts from the machine's preset, quick_cpu here


@pytest.fixture
def panel():
    return ConfigWidget(hardware=CPU)


def test_starts_from_the_preset_for_the_machine(panel):
    assert panel.preset.value == "quick_cpu"
    assert panel.values() == {name: PRESETS["quick_cpu"][name] for name in CONTROLLED}
    assert "No problems." in panel.messages.value


@pytest.mark.parametrize("preset", list(PRESETS))
def test_choosing_a_preset_moves_every_control(panel, preset):
    panel.preset.value = preset
    assert panel.values() == {name: PRESETS[preset][name] for name in CONTROLLED}


def test_the_built_config_equals_make_config_with_the_same_values(panel):
    panel.preset.value = "conservative"
    panel.set(
        num_generations=8,
        temperature=0.8,
        beta=0.05,
        learning_rate=2e-6,
        max_completion_length=192,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=3,
        max_steps=40,
        loss_type="dr_grpo",
    )
    built = panel.build()
    direct = make_config(
        "conservative", hardware=CPU, num_generations=8, temperature=0.8, beta=0.05, learning_rate=2e-6,
        max_completion_length=192, per_device_train_batch_size=8, gradient_accumulation_steps=3, max_steps=40,
        loss_type="dr_grpo",
    )  # fmt: skip
    assert built == direct and panel.config is built
    assert built.generation_batch_size == 24 and built.scale_rewards == "none"  # the preset's companion kept


def test_the_button_builds_or_shows_the_problem(panel):
    panel.button.click()
    assert panel.config == make_config("quick_cpu", hardware=CPU) and "Built" in panel.result.value
    panel.set(num_generations=3)
    panel.config = None
    panel.button.click()
    assert panel.config is None
    assert "must be divisible by num_generations (3)" in panel.result.value


def test_validation_and_explanations_are_live(panel):
    before = panel.notes["temperature"].value
    panel.set(temperature=0.2)
    assert panel.notes["temperature"].value != before and "near-greedy" in panel.notes["temperature"].value
    assert "temperature: 0.2 makes completions nearly identical" in panel.messages.value
    panel.set(num_generations=3)
    assert (
        "No problems." not in panel.messages.value
        and "must be divisible by num_generations (3)" in panel.messages.value
    )
    assert panel.config is None  # the live check builds nothing you could take by mistake
    panel.set(num_generations=4, temperature=0.0)
    assert "temperature: 0.0 must be a finite number &gt; 0" in panel.messages.value
    assert "temperature: 0.0 must be a finite number &gt; 0" in panel.notes["temperature"].value  # beside its slider
    assert "must be" not in panel.notes["beta"].value
    panel.set(temperature=0.7)
    panel.set(num_generations=4, loss_type="cispo")
    assert "set epsilon_high=5.0" in panel.messages.value


def test_set_refuses_what_the_controls_cannot_hold(panel):
    with pytest.raises(ValueError, match=r"\['seed'\]: the widget controls num_generations"):
        panel.set(seed=1)
    with pytest.raises(ValueError, match="learning_rate=3e-06: the slider offers"):
        panel.set(learning_rate=3e-6)
    with pytest.raises(ValueError, match="max_steps=5000 is outside the slider's range"):
        panel.set(max_steps=5000)


@pytest.fixture(params=["trl", "unsloth"])
def grpo_config_kind(request):
    """TRL's GRPOConfig, or one that repairs a bad batch as Unsloth's does: the widget reports the batch either way."""
    if request.param == "unsloth":
        request.getfixturevalue("unsloth_like_grpo_config")
    return request.param


def test_each_message_shows_beside_every_control_it_names(panel, grpo_config_kind):
    """TRL's batch arithmetic names several settings: its message shows beside each of their controls (and at
    the bottom), as the table's one-field messages do; a companion rule shows beside the control it names."""
    trl_says = "must be divisible by num_generations (3)"
    panel.set(num_generations=3)  # quick_cpu: 8 completions per generation batch, not whole groups of 3
    assert trl_says in panel.messages.value
    beside = {name for name in CONTROLLED if trl_says in panel.notes[name].value}
    assert beside == {"num_generations", "per_device_train_batch_size", "gradient_accumulation_steps"}
    panel.set(num_generations=4)
    assert not any("must be" in panel.notes[name].value for name in CONTROLLED)
    # quick_cpu keeps scale_rewards='group': a problem of scale_rewards, set by loss_type
    panel.set(loss_type="dr_grpo")
    assert "set scale_rewards=&#x27;none&#x27;" in panel.notes["loss_type"].value
    assert "scale_rewards" not in panel.notes["beta"].value
    panel.set(loss_type="dapo", temperature=0.2)  # a warning beside its own slider, in the warning colour
    assert "#8a6d00'>temperature: 0.2 makes completions nearly identical" in panel.notes["temperature"].value
    assert "nearly identical" not in panel.notes["beta"].value
