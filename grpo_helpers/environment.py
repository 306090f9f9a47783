"""environment: the tutorial's switches (environment variables, read here and nowhere else) and the machine.

- ``GRPO_QUICK=1``: quick mode, the same code with small numbers (``pick``), as the tests run it.
- ``GRPO_MODEL``: the model every notebook uses (a Hub id or a local folder) instead of the default.
- ``GRPO_BACKEND``: ``unsloth``, ``bitsandbytes`` or ``transformers`` instead of ``choose_backend``'s.
- ``GRPO_CACHE_DIR``: where the offline model copy is converted to (default ``~/.cache/grpo_helpers``).
- ``GRPO_RUN_DIR``: where notebooks write their outputs (default ``runs/latest``; ``make run`` sets it).
- ``GRPO_DASHBOARD``: ``notebook``, ``headless`` or ``auto`` (default): how the reward dashboard draws.
- ``GRPO_INSTALL=check``: the install cell only prints what it would install.
- ``HF_HUB_OFFLINE=1`` (Hugging Face's own switch): the tutorial does not try the Hub either.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("unsloth", "bitsandbytes", "transformers")
_YES = ("1", "true", "yes", "on")


def _switch(name: str, allowed: tuple[str, ...], fix: str) -> str:
    value = os.environ.get(name, "").strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not understood: {fix}")
    return value


def quick_mode() -> bool:
    """True when ``GRPO_QUICK`` asks for the small, fast version of every notebook."""
    no = ("", "0", "false", "no", "off")
    return _switch("GRPO_QUICK", _YES + no, "set it to 1 (quick mode) or 0 (full run).") in _YES


def dashboard_mode() -> str:
    """``GRPO_DASHBOARD``: ``notebook``, ``headless`` or ``auto`` (when unset)."""
    modes = ("", "auto", "notebook", "headless")
    return _switch("GRPO_DASHBOARD", modes, "set it to notebook, headless or auto.") or "auto"


def install_mode() -> str:
    """``GRPO_INSTALL``: ``check`` (print the plan, install nothing) or ``install`` (when unset)."""
    fix = "set it to 'check' (print what is missing, install nothing) or leave it unset (install what is missing)."
    return _switch("GRPO_INSTALL", ("", "install", "check"), fix) or "install"


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` set to 1/true/yes/on: Hugging Face's libraries stay offline, so does the tutorial."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _YES


def model_override() -> str | None:
    """``GRPO_MODEL`` when set (a Hub id or a local folder), else None."""
    return os.environ.get("GRPO_MODEL", "").strip() or None


def cuda_available() -> bool:
    """True when PyTorch sees a CUDA GPU (the one CUDA check of the package); before torch is
    installed (the install cell on a new machine), when ``nvidia-smi`` is there."""
    if importlib.util.find_spec("torch") is None:
        return shutil.which("nvidia-smi") is not None
    import torch

    return torch.cuda.is_available()


def run_mode() -> str:
    """Which of ``pick``'s values apply: ``quick`` (``GRPO_QUICK=1``), ``cpu`` (no CUDA GPU) or ``full``."""
    return "quick" if quick_mode() else "full" if cuda_available() else "cpu"


MODES = {
    "quick": "Quick mode (GRPO_QUICK=1): the smallest numbers, to check that every cell runs; no result means anything",
    "cpu": "CPU mode (no CUDA GPU): the full run, with the smaller numbers written cpu=... where a GPU's take hours",
    "full": "Full mode (a CUDA GPU): the numbers written full=...",
}


def pick(full, quick, cpu=None):
    """``quick`` in quick mode, else ``full`` (``pick(full=200, quick=8)``); ``cpu``, when given, replaces
    ``full`` without a CUDA GPU, for numbers that would take hours there (``pick(full=200, quick=4, cpu=30)``)."""
    mode = run_mode()
    return quick if mode == "quick" else cpu if mode == "cpu" and cpu is not None else full


def cache_dir() -> Path:
    """The folder that holds converted models (``GRPO_CACHE_DIR``); created on first use."""
    path = Path(os.environ.get("GRPO_CACHE_DIR", "").strip() or Path.home() / ".cache" / "grpo_helpers").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir() -> Path:
    """The folder this run's outputs go to (``GRPO_RUN_DIR``); created on first use."""
    path = Path(os.environ.get("GRPO_RUN_DIR", "").strip() or Path("runs") / "latest").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu"
    platform: str  # "colab", "kaggle", "binder" or "local"
    cpu_count: int
    ram_gib: float | None  # None where the OS does not say
    gpu_name: str | None = None
    vram_gib: float | None = None
    compute_capability: tuple[int, int] | None = None
    bf16: bool = False  # bfloat16 in hardware: the GPU's, or the CPU's instructions (cpu_has_bf16)

    @property
    def has_cuda(self) -> bool:
        return self.device == "cuda"


def detect_platform(environ=None) -> str:
    """Where the notebook runs, from the variables each service sets."""
    env = os.environ if environ is None else environ
    services = {"COLAB_": "colab", "KAGGLE_": "kaggle", "BINDER_": "binder"}
    return next((name for prefix, name in services.items() if any(k.startswith(prefix) for k in env)), "local")


def cpu_has_bf16() -> bool:
    """True where the CPU has bfloat16 instructions (AVX512-BF16, AMX: AMD Zen 4+, Intel Xeon since Cooper
    Lake), which make a GRPO step 1.6x faster; elsewhere (Apple silicon, older laptops) it is emulated, slower."""
    import torch

    return any(
        getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def detect_hardware() -> Hardware:
    """The machine: a CUDA GPU (name, memory, bf16) or the CPU (Apple GPUs too: 4-bit and Unsloth need CUDA)."""
    import torch

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30 if hasattr(os, "sysconf") else None
    common = dict(platform=detect_platform(), cpu_count=os.cpu_count() or 1, ram_gib=ram)
    if cuda_available():
        props = torch.cuda.get_device_properties(0)
        return Hardware(
            device="cuda",
            gpu_name=props.name,
            vram_gib=props.total_memory / 2**30,
            compute_capability=(props.major, props.minor),
            bf16=torch.cuda.is_bf16_supported(),
            **common,
        )
    return Hardware(device="cpu", bf16=cpu_has_bf16(), **common)


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def sixteen_bit_gpu(hw: Hardware) -> bool:
    """A CUDA GPU with bfloat16 and 20 GiB or more (A100, L4, H100, H200): 16-bit LoRA, whose generation compiles,
    measured 3.2x the steps per second of Unsloth 4-bit on an H200 (docs/benchmarks.md, *Choosing the GPU default*).
    A T4 or V100 (no bfloat16) or a smaller GPU keeps 4-bit: the 16-bit path is not measured there."""
    return hw.has_cuda and hw.bf16 and (hw.vram_gib or 0) >= 20


def choose_backend(hardware: Hardware | None = None, backend: str | None = None) -> str:
    """``transformers`` (16-bit, compiled generation) on a ``sixteen_bit_gpu`` and without a CUDA GPU; on other CUDA
    GPUs ``unsloth`` (4-bit) where installed, else ``bitsandbytes``. A ``backend`` given (or ``GRPO_BACKEND``) is used
    instead, once checked against the machine."""
    hw = hardware or detect_hardware()
    forced = backend or _switch("GRPO_BACKEND", ("",) + BACKENDS, f"use one of {', '.join(BACKENDS)}.")
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"backend={forced!r} is not a backend: use one of {', '.join(BACKENDS)}.")
        if forced != "transformers" and not hw.has_cuda:
            raise ValueError(f"The {forced} backend needs a CUDA GPU; this machine has none: use transformers.")
        if forced == "unsloth" and not unsloth_installed():
            raise ValueError("The unsloth backend needs Unsloth, which is not installed: run the install cell first.")
        return forced
    if not hw.has_cuda or sixteen_bit_gpu(hw):
        return "transformers"
    return "unsloth" if unsloth_installed() else "bitsandbytes" if bitsandbytes_installed() else "transformers"


_BACKEND_NOTES = {
    "unsloth": "Unsloth, 4-bit weights + LoRA (the fast path on a GPU without bfloat16 or under 20 GiB)",
    "bitsandbytes": "transformers + bitsandbytes 4-bit + PEFT (Unsloth not installed)",
    "transformers": "transformers + PEFT, 16- or 32-bit weights (4-bit quantization needs a CUDA GPU)",
}
_SIXTEEN_BIT_NOTE = "transformers + PEFT, 16-bit weights, compiled generation (the fastest measured on a bf16 GPU)"
_FIXES = {
    "gpu": "Run the install cell above (it installs Unsloth), then restart the kernel.",
    "colab": "Runtime > Change runtime type > T4 GPU, then run the notebook again from the top.",
    "kaggle": "Settings > Accelerator > GPU T4 x2 and Settings > Internet > On, then run again from the top.",
    "binder": "Binder has no GPU: a small model on the CPU, enough to learn with; Colab or Kaggle train a bigger one.",
    "local": "No CUDA GPU here: a small model on the CPU, enough to learn with; Colab or Kaggle train a bigger one.",
}


def hardware_report(hw: Hardware | None = None, backend: str | None = None) -> str:
    """A short report: what the machine has, which backend runs, and what to do to get the fast path."""
    hw = hw or detect_hardware()
    backend = backend or choose_backend(hw)
    machine = f"CPU only (bfloat16 instructions: {'yes' if hw.bf16 else 'no: the model runs in float32'})"
    if hw.has_cuda:
        cc = ".".join(map(str, hw.compute_capability or ())) or "?"
        machine = (
            f"GPU {hw.gpu_name} ({hw.vram_gib:.1f} GiB, compute capability {cc}, "
            f"bf16 {'yes' if hw.bf16 else 'no: fp16 is used'})"
        )
    ram = f", {hw.ram_gib:.1f} GiB RAM" if hw.ram_gib else ""
    note = _SIXTEEN_BIT_NOTE if backend == "transformers" and hw.has_cuda else _BACKEND_NOTES[backend]
    lines = [
        f"Machine : {machine}; {hw.cpu_count} CPU cores{ram}",
        f"Platform: {hw.platform}",
        f"Backend : {backend}: {note}",
    ]
    if backend != "unsloth" and not sixteen_bit_gpu(hw):
        lines.append(f"To change: {_FIXES['gpu' if hw.has_cuda else hw.platform]}")
    return "\n".join(lines)


def print_hardware_report() -> Hardware:
    """Print the report and return the detected hardware."""
    print(hardware_report(hw := detect_hardware()))
    return hw
