"""The install step every notebook's first code cell runs: ``ensure_environment()``.

- On a CUDA GPU (Colab, Kaggle, a workstation) it installs the GPU environment
  (``requirements/gpu.txt``: Unsloth and the TRL/transformers versions it accepts) where a package
  is missing or has another version, keeping the platform's own CUDA build of torch.
- Anywhere else (a laptop, Binder, CI) it installs only what is missing from the CPU environment
  (``requirements/cpu.txt``); ``make lab``, ``make run`` and Binder have already installed it,
  so there it does nothing and says so.
- Both install the offline default model (``requirements/no-deps.txt``) without its dependencies.

It never imports transformers, TRL or PEFT, so Unsloth can still be imported first afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REQUIREMENTS_DIR = Path(__file__).parent / "requirements"
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def read_pins(filename: str) -> list[Pin]:
    """The ``name==version`` lines of one of the package's requirements files."""
    pins = []
    for line in (REQUIREMENTS_DIR / filename).read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins.append(Pin(*match.groups()))
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{filename}: {line!r} is not pinned as name==version")
    return pins


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _same_version(installed: str, pinned: str) -> bool:
    # "2.13.0+cpu" is torch 2.13.0
    return installed == pinned or installed.split("+", 1)[0] == pinned


def cuda_available() -> bool:
    """A CUDA GPU is there: asked of torch when it is installed, else of ``nvidia-smi``."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        return torch.cuda.is_available()
    return shutil.which("nvidia-smi") is not None


def plan_install(gpu: bool) -> tuple[list[Pin], list[Pin], list[tuple[Pin, str]]]:
    """``(to_install, to_install_without_deps, left_alone)`` for this machine.

    On a GPU machine a package at another version is reinstalled at the pinned one; on a CPU
    machine it is left alone (listed in ``left_alone`` with its installed version).
    """
    to_install, left_alone = [], []
    for pin in read_pins("gpu.txt" if gpu else "cpu.txt"):
        if gpu and pin.name == "torch":
            continue
        version = installed_version(pin.name)
        if version is None or (gpu and not _same_version(version, pin.version)):
            to_install.append(pin)
        elif not _same_version(version, pin.version):
            left_alone.append((pin, version))
    no_deps = [pin for pin in read_pins("no-deps.txt") if installed_version(pin.name) is None]
    return to_install, no_deps, left_alone


def _pip(args: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", *args]
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)


def ensure_environment(dry_run: bool = False) -> None:
    """Install what this machine is missing for the tutorial (``dry_run``: only say what)."""
    gpu = cuda_available()
    to_install, no_deps, left_alone = plan_install(gpu)
    env_name = "GPU environment (Unsloth)" if gpu else "CPU environment"
    for pin, version in left_alone:
        print(f"Note: {pin.name} {version} is installed; the tutorial is tested with {pin}.")
    if not to_install and not no_deps:
        print(f"{env_name}: everything is installed.")
        return
    print(f"{env_name}: installing {', '.join(map(str, to_install + no_deps))}")
    if dry_run:
        return
    if to_install:
        args = [str(p) for p in to_install]
        torch_version = installed_version("torch")
        if gpu and torch_version:
            # keep the platform's CUDA build of torch: Unsloth's dependencies must not replace it
            constraints = Path(tempfile.mkdtemp()) / "constraints.txt"
            constraints.write_text(f"torch=={torch_version}\n")
            args += ["-c", str(constraints)]
        _pip(args)
    if no_deps:
        _pip(["--no-deps", *map(str, no_deps)])
    importlib.invalidate_caches()
    already_imported = [p.name for p in to_install if p.name.replace("-", "_") in sys.modules]
    if already_imported:
        restart = "Runtime > Restart session" if "COLAB_RELEASE_TAG" in os.environ else "Kernel > Restart"
        print(f"Installed. {', '.join(already_imported)} was already imported: restart ({restart}) and run again.")
    else:
        print("Installed.")
