import subprocess
import sys

import pytest

from grpo_helpers.environment import Hardware, choose_backend, detect_hardware, detect_platform, hardware_report

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=24.0)
T4 = Hardware(
    device="cuda", platform="colab", cpu_count=2, ram_gib=12.7, gpu_name="Tesla T4", vram_gib=14.7,
    compute_capability=(7, 5), bf16=False,
)


def test_import_is_light_and_report_names_the_machine():
    import torch

    expected = "GPU " if torch.cuda.is_available() else "CPU only"
    code = (
        "import sys, grpo_helpers, grpo_helpers.environment\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'unsloth') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(grpo_helpers.environment.hardware_report())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert expected in out and "Backend : " in out


def test_detect_hardware_on_this_machine_is_cpu():
    pytest.importorskip("torch").cuda.is_available() and pytest.skip("this machine has a GPU")
    hw = detect_hardware()
    assert hw.device == "cpu" and not hw.has_cuda and hw.cpu_count >= 1


@pytest.mark.parametrize(
    "env, expected",
    [({"COLAB_RELEASE_TAG": "x"}, "colab"), ({"KAGGLE_KERNEL_RUN_TYPE": "i"}, "kaggle"),
     ({"BINDER_LAUNCH_HOST": "h"}, "binder"), ({"HOME": "/root"}, "local")],
)
def test_detect_platform(env, expected):
    assert detect_platform(env) == expected


def test_backend_choice(monkeypatch):
    import grpo_helpers.environment as hardware

    assert choose_backend(CPU, environ={}) == "transformers"
    monkeypatch.setattr(hardware, "unsloth_installed", lambda: True)
    assert choose_backend(T4, environ={}) == "unsloth"
    monkeypatch.setattr(hardware, "unsloth_installed", lambda: False)
    monkeypatch.setattr(hardware, "bitsandbytes_installed", lambda: True)
    assert choose_backend(T4, environ={}) == "bitsandbytes"
    monkeypatch.setattr(hardware, "bitsandbytes_installed", lambda: False)
    assert choose_backend(T4, environ={}) == "transformers"
    assert choose_backend(T4, environ={"GRPO_BACKEND": "transformers"}) == "transformers"


@pytest.mark.parametrize(
    "value, message", [("fast", "is not a backend"), ("unsloth", "needs a CUDA GPU"), ("bitsandbytes", "needs a CUDA GPU")]
)
def test_backend_override_errors_say_what_to_change(value, message):
    with pytest.raises(ValueError, match=message):
        choose_backend(CPU, environ={"GRPO_BACKEND": value})


def test_report_gives_the_platform_fix():
    report = hardware_report(Hardware(device="cpu", platform="colab", cpu_count=2, ram_gib=12.0), "transformers")
    assert "Change runtime type" in report
    gpu_report = hardware_report(T4, "unsloth")
    assert "Tesla T4" in gpu_report and "fp16" in gpu_report and "To change" not in gpu_report


def test_pick_chooses_quick_full_or_cpu_sizes(monkeypatch):
    import grpo_helpers.environment as settings

    monkeypatch.setattr(settings, "_has_cuda", lambda: False)
    monkeypatch.setenv("GRPO_QUICK", "1")
    assert settings.pick(full=200, quick=4, cpu=30) == 4
    monkeypatch.setenv("GRPO_QUICK", "0")
    assert settings.pick(full=200, quick=4, cpu=30) == 30 and settings.pick(full=200, quick=4) == 200
    monkeypatch.setattr(settings, "_has_cuda", lambda: True)
    assert settings.pick(full=200, quick=4, cpu=30) == 200
    monkeypatch.setenv("GRPO_QUICK", "maybe")
    with pytest.raises(ValueError, match="GRPO_QUICK"):
        settings.pick(full=1, quick=2)
