"""grpo_helpers.environment: the switches, the machine, the backend and the hardware report."""

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import grpo_helpers.environment as environment
from grpo_helpers.environment import Hardware, choose_backend, detect_hardware, detect_platform, hardware_report

CPU = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=24.0)
T4 = Hardware(
    device="cuda",
    platform="colab",
    cpu_count=2,
    ram_gib=12.7,
    gpu_name="Tesla T4",
    vram_gib=14.7,
    compute_capability=(7, 5),
    bf16=False,
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
    assert hw.device == "cpu" and not hw.has_cuda and hw.cpu_count >= 1 and not environment.cuda_available()


@pytest.mark.parametrize(
    "avx512_bf16, amx, expected", [(True, False, True), (False, True, True), (False, False, False)]
)
def test_cpu_bf16_follows_the_cpus_bfloat16_instructions(monkeypatch, avx512_bf16, amx, expected):
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert environment.cpu_has_bf16() is expected
    if not torch.cuda.is_available():
        assert detect_hardware().bf16 is expected
        assert ("bfloat16 instructions: yes" if expected else "no: the model runs in float32") in hardware_report()


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"COLAB_RELEASE_TAG": "x"}, "colab"),
        ({"KAGGLE_KERNEL_RUN_TYPE": "i"}, "kaggle"),
        ({"BINDER_LAUNCH_HOST": "h"}, "binder"),
        ({"HOME": "/root"}, "local"),
    ],
)
def test_detect_platform(env, expected):
    assert detect_platform(env) == expected


def test_backend_choice(monkeypatch):
    monkeypatch.delenv("GRPO_BACKEND", raising=False)
    assert choose_backend(CPU) == "transformers"
    monkeypatch.setattr(environment, "unsloth_installed", lambda: True)
    assert choose_backend(T4) == "unsloth"
    monkeypatch.setattr(environment, "unsloth_installed", lambda: False)
    monkeypatch.setattr(environment, "bitsandbytes_installed", lambda: True)
    assert choose_backend(T4) == "bitsandbytes"
    monkeypatch.setattr(environment, "bitsandbytes_installed", lambda: False)
    assert choose_backend(T4) == "transformers"
    monkeypatch.setenv("GRPO_BACKEND", "transformers")
    assert choose_backend(T4) == "transformers"
    assert choose_backend(CPU, backend="transformers") == "transformers"  # an explicit backend wins


@pytest.mark.parametrize(
    "bf16, vram, expected",
    [(True, 80.0, "transformers"), (True, 22.0, "transformers"), (True, 16.0, "unsloth"), (False, 32.0, "unsloth")],
)
def test_a_bf16_gpu_with_20_gib_gets_16_bit_weights(monkeypatch, bf16, vram, expected):
    monkeypatch.delenv("GRPO_BACKEND", raising=False)
    monkeypatch.setattr(environment, "unsloth_installed", lambda: True)
    gpu = dataclasses.replace(T4, gpu_name="some GPU", bf16=bf16, vram_gib=vram)
    assert choose_backend(gpu) == expected
    report = hardware_report(gpu)
    assert ("compiled generation" in report) == (expected == "transformers") and "To change" not in report
    assert choose_backend(gpu, backend="unsloth") == "unsloth"  # GRPO_BACKEND / backend= still choose Unsloth


@pytest.mark.parametrize(
    "value, message",
    [("fast", "is not understood"), ("unsloth", "needs a CUDA GPU"), ("bitsandbytes", "needs a CUDA GPU")],
)
def test_backend_override_errors_say_what_to_change(monkeypatch, value, message):
    monkeypatch.setenv("GRPO_BACKEND", value)
    with pytest.raises(ValueError, match=message):
        choose_backend(CPU)


def test_an_explicit_backend_is_checked_too(monkeypatch):
    with pytest.raises(ValueError, match="backend='tpu' is not a backend"):
        choose_backend(CPU, backend="tpu")
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        choose_backend(CPU, backend="unsloth")
    monkeypatch.setattr(environment, "unsloth_installed", lambda: False)
    with pytest.raises(ValueError, match="run the install cell"):
        choose_backend(T4, backend="unsloth")


def test_report_gives_the_platform_fix():
    report = hardware_report(Hardware(device="cpu", platform="colab", cpu_count=2, ram_gib=12.0), "transformers")
    assert "Change runtime type" in report
    gpu_report = hardware_report(T4, "unsloth")
    assert "Tesla T4" in gpu_report and "fp16" in gpu_report and "To change" not in gpu_report
    assert "install cell" in hardware_report(T4, "bitsandbytes")


def test_pick_chooses_quick_full_or_cpu_sizes(monkeypatch):
    monkeypatch.setattr(environment, "cuda_available", lambda: False)
    monkeypatch.setenv("GRPO_QUICK", "1")
    assert environment.pick(full=200, quick=4, cpu=30) == 4
    monkeypatch.setenv("GRPO_QUICK", "0")
    assert environment.pick(full=200, quick=4, cpu=30) == 30 and environment.pick(full=200, quick=4) == 200
    monkeypatch.setattr(environment, "cuda_available", lambda: True)
    assert environment.pick(full=200, quick=4, cpu=30) == 200
    monkeypatch.setenv("GRPO_QUICK", "maybe")
    with pytest.raises(ValueError, match="GRPO_QUICK"):
        environment.pick(full=1, quick=2)


def test_every_switch_is_read_here(monkeypatch, tmp_path):
    monkeypatch.setenv("GRPO_MODEL", " /models/mine ")
    monkeypatch.setenv("GRPO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GRPO_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("GRPO_DASHBOARD", "Headless")
    assert environment.model_override() == "/models/mine"
    assert environment.cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    assert environment.run_dir() == tmp_path / "run" and (tmp_path / "run").is_dir()
    assert environment.dashboard_mode() == "headless"
    monkeypatch.setenv("GRPO_DASHBOARD", "fancy")
    with pytest.raises(ValueError, match="GRPO_DASHBOARD='fancy'.*notebook, headless or auto"):
        environment.dashboard_mode()
    for name in ("GRPO_MODEL", "GRPO_DASHBOARD"):
        monkeypatch.delenv(name)
    assert environment.model_override() is None and environment.dashboard_mode() == "auto"


def test_every_switch_is_documented():
    names = (
        "GRPO_QUICK",
        "GRPO_MODEL",
        "GRPO_BACKEND",
        "GRPO_CACHE_DIR",
        "GRPO_RUN_DIR",
        "GRPO_DASHBOARD",
        "GRPO_INSTALL",
        "HF_HUB_OFFLINE",
    )
    for name in names:
        assert f"``{name}" in environment.__doc__, name
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in names[:-1]:  # HF_HUB_OFFLINE is Hugging Face's own
        assert f"`{name}" in readme, f"README's switches table lacks {name}"


def test_no_other_module_reads_the_environment():
    package = Path(environment.__file__).parent
    for module in package.glob("*.py"):
        if module.name == "environment.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Attribute):
                assert ast.unparse(node) not in ("os.environ", "os.getenv"), (
                    f"{module.name}:{node.lineno} reads the environment"
                )


ROOT = Path(__file__).resolve().parents[1]
WHERE_A_TEST_RUN_WRITES = """import json, runpy, sys
runpy.run_path(sys.argv[1])  # the repository's conftest.py, as pytest loads it
from grpo_helpers.environment import run_dir
print(json.dumps({"run_dir": str(run_dir().resolve()), "empty": not any(run_dir().iterdir())}))
"""


def run_conftest(env):
    done = subprocess.run(
        [sys.executable, "-c", WHERE_A_TEST_RUN_WRITES, str(ROOT / "conftest.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_test_run_gets_a_new_empty_run_folder_outside_runs_and_removes_it_at_the_end(monkeypatch):
    """conftest.py: notebooks 05 -> 06 -> 07 pass files through the run folder, so a test run must never see
    (or write to) what make run or make lab left in runs/latest; its own folder is gone when it ends."""
    env = {k: v for k, v in os.environ.items() if k != "GRPO_RUN_DIR"}
    first, second = run_conftest(env), run_conftest(env)
    assert first["empty"] and second["empty"] and first["run_dir"] != second["run_dir"]
    for seen in (first, second):
        assert not Path(seen["run_dir"]).is_relative_to(ROOT / "runs"), seen
        assert not Path(seen["run_dir"]).exists(), f"{seen['run_dir']} was left behind"


def test_a_run_folder_given_to_a_test_run_is_used_and_kept(tmp_path):
    mine = tmp_path / "mine"
    seen = run_conftest({**os.environ, "GRPO_RUN_DIR": str(mine)})
    assert seen == {"run_dir": str(mine.resolve()), "empty": True} and mine.is_dir()


def test_the_run_folder_cell_keeps_colab_runs_on_drive(monkeypatch, tmp_path):
    """Notebooks 05-07's run-folder cell: on Colab it mounts Drive and points GRPO_RUN_DIR there; elsewhere it
    leaves the run folder alone."""
    import types

    from benchmarks.common.notebook_cells import run_cell

    monkeypatch.setenv("GRPO_RUN_DIR", str(tmp_path / "local"))
    local = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=24.0)
    for number in ("05", "06", "07"):
        assert run_cell(number, "run-folder", {"hardware": local})["RUN_ON_DRIVE"] is False
    assert environment.run_dir() == tmp_path / "local"
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(Path, "mkdir", lambda self, **kwargs: None)  # no /content/drive here
    run_cell("06", "run-folder", {"hardware": dataclasses.replace(local, platform="colab")})
    assert mounted == ["/content/drive"] and environment.run_dir() == Path("/content/drive/MyDrive/grpo-tutorial/run")
