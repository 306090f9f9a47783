"""environment: merged from settings, hardware.

[settings] Switches read from environment variables, in one place.

- ``GRPO_QUICK=1``: quick mode. Every notebook shrinks its work (fewer examples, fewer tokens,
  fewer steps) so that the whole learning path runs in CI in minutes. Same code, smaller numbers.
- ``GRPO_CACHE_DIR``: where converted models are cached (default ``~/.cache/grpo_helpers``).
- ``GRPO_RUN_DIR``: where notebooks write what they produce (plots, metrics, adapters);
  ``make run`` sets it to ``runs/<timestamp>/``. Default: ``runs/latest`` under the current folder.
- ``GRPO_MODEL``: the model every notebook uses (a Hub id or a local folder) instead of the
  default (SmolLM2-135M-Instruct on a CPU, Qwen2.5-1.5B-Instruct on a CUDA GPU).
- ``GRPO_BACKEND``: force a backend (``unsloth``, ``bitsandbytes`` or ``transformers``) instead
  of the one chosen from the hardware.


[hardware] What this machine can do, which backend the tutorial uses on it, and what to change if it is
not what you wanted.

Three backends, one set of notebooks:

- ``unsloth``: a CUDA GPU with Unsloth installed (Colab, Kaggle, a workstation). 4-bit weights,
  Unsloth's fast kernels and its low-memory gradient checkpointing.
- ``bitsandbytes``: a CUDA GPU without Unsloth. 4-bit weights through bitsandbytes, plain
  transformers + PEFT + TRL. Same algorithm, slower.
- ``transformers``: no CUDA GPU (a laptop, Binder, CI). Full precision on the CPU, a small model.
"""

from __future__ import annotations

import os
from pathlib import Path
import importlib.util
from dataclasses import dataclass


# ---- settings

QUICK_ENV = "GRPO_QUICK"
CACHE_ENV = "GRPO_CACHE_DIR"
RUN_DIR_ENV = "GRPO_RUN_DIR"
BACKEND_ENV = "GRPO_BACKEND"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """True when ``GRPO_QUICK`` asks for the small, fast version of every notebook."""
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{QUICK_ENV}={value!r} is not understood: set it to 1 (quick mode) or 0 (full run).")


_UNSET = object()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def pick(full, quick, cpu=_UNSET):
    """``quick`` in quick mode, else ``full``: ``N_EXAMPLES = pick(full=200, quick=8)``.

    ``cpu``, when given, replaces ``full`` on a machine without a CUDA GPU, for the numbers that
    would take hours there (``pick(full=200, quick=4, cpu=30)``): a full run on a laptop stays
    within minutes per notebook.
    """
    if quick_mode():
        return quick
    if cpu is not _UNSET and not _has_cuda():
        return cpu
    return full


def cache_dir() -> Path:
    """The folder that holds converted models; created on first use."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "grpo_helpers").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir() -> Path:
    """The folder this run's outputs go to; created on first use."""
    path = Path(os.environ.get(RUN_DIR_ENV) or Path("runs") / "latest").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- hardware

BACKENDS = ("unsloth", "bitsandbytes", "transformers")


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda", "mps" or "cpu"
    platform: str  # "colab", "kaggle", "binder" or "local"
    cpu_count: int
    ram_gib: float | None
    gpu_name: str | None = None
    vram_gib: float | None = None
    compute_capability: tuple[int, int] | None = None
    bf16: bool = False

    @property
    def has_cuda(self) -> bool:
        return self.device == "cuda"


def detect_platform(environ=None) -> str:
    """Where the notebook runs, from the variables each service sets."""
    env = os.environ if environ is None else environ
    if any(key.startswith("COLAB_") for key in env):
        return "colab"
    if any(key.startswith("KAGGLE_") for key in env):
        return "kaggle"
    if any(key.startswith("BINDER_") for key in env):
        return "binder"
    return "local"


def _ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return None


def detect_hardware() -> Hardware:
    """Look at the machine: CUDA GPU (name, memory, bf16), Apple GPU, or CPU."""
    import torch

    common = dict(platform=detect_platform(), cpu_count=os.cpu_count() or 1, ram_gib=_ram_gib())
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Hardware(
            device="cuda",
            gpu_name=props.name,
            vram_gib=props.total_memory / 2**30,
            compute_capability=(props.major, props.minor),
            bf16=torch.cuda.is_bf16_supported(),
            **common,
        )
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return Hardware(device="mps", gpu_name="Apple GPU (MPS)", **common)
    return Hardware(device="cpu", **common)


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def bitsandbytes_installed() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def choose_backend(hardware: Hardware | None = None, environ=None) -> str:
    """``unsloth`` on a CUDA GPU with Unsloth, ``bitsandbytes`` on a CUDA GPU without it,
    ``transformers`` everywhere else. ``GRPO_BACKEND`` overrides the choice."""
    env = os.environ if environ is None else environ
    hw = hardware or detect_hardware()
    forced = env.get(BACKEND_ENV, "").strip().lower()
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"{BACKEND_ENV}={forced!r} is not a backend: use one of {', '.join(BACKENDS)}.")
        if forced != "transformers" and not hw.has_cuda:
            raise ValueError(
                f"{BACKEND_ENV}={forced} needs a CUDA GPU and this machine has none: "
                f"unset {BACKEND_ENV} or set it to transformers."
            )
        if forced == "unsloth" and not unsloth_installed():
            raise ValueError(f"{BACKEND_ENV}=unsloth but Unsloth is not installed: run the install cell first.")
        return forced
    if hw.has_cuda and unsloth_installed():
        return "unsloth"
    if hw.has_cuda and bitsandbytes_installed():
        return "bitsandbytes"
    return "transformers"


_BACKEND_NOTES = {
    "unsloth": "Unsloth, 4-bit weights + LoRA (the fast path)",
    "bitsandbytes": "transformers + bitsandbytes 4-bit + PEFT (Unsloth not installed)",
    "transformers": "transformers + PEFT in full precision (4-bit quantization needs a CUDA GPU)",
}


def platform_fix(hw: Hardware, backend: str) -> str | None:
    """The one thing to do on this platform to get the fast path, or None when it is already on."""
    if backend == "unsloth":
        return None
    if hw.has_cuda:
        return "Run the install cell above (it installs Unsloth), then restart the kernel."
    return {
        "colab": "Runtime > Change runtime type > T4 GPU, then run the notebook again from the top.",
        "kaggle": "Settings > Accelerator > GPU T4 x2 and Settings > Internet > On, then run again from the top.",
        "binder": "Binder has no GPU: this runs the CPU path on a small model, which is enough to learn with. "
        "Open the notebook in Colab or Kaggle (badges at the top) to train a bigger model.",
    }.get(
        hw.platform,
        "No CUDA GPU here: the notebooks run on the CPU with a small model, which is enough to learn with. "
        "Open them in Colab or Kaggle (badges at the top) to train a bigger model.",
    )


def hardware_report(hw: Hardware | None = None, backend: str | None = None) -> str:
    """A short, human-readable report: what the machine has and which backend runs."""
    hw = hw or detect_hardware()
    backend = backend or choose_backend(hw)
    ram = f", {hw.ram_gib:.1f} GiB RAM" if hw.ram_gib else ""
    if hw.has_cuda:
        cc = ".".join(map(str, hw.compute_capability)) if hw.compute_capability else "?"
        machine = (
            f"GPU {hw.gpu_name} ({hw.vram_gib:.1f} GiB, compute capability {cc}, "
            f"bf16 {'yes' if hw.bf16 else 'no: fp16 is used'})"
        )
    elif hw.device == "mps":
        machine = "Apple GPU (MPS): the tutorial uses the CPU path there, as 4-bit and Unsloth need CUDA"
    else:
        machine = "CPU only"
    lines = [
        f"Machine : {machine}; {hw.cpu_count} CPU cores{ram}",
        f"Platform: {hw.platform}",
        f"Backend : {backend}: {_BACKEND_NOTES[backend]}",
    ]
    fix = platform_fix(hw, backend)
    if fix:
        lines.append(f"To change: {fix}")
    return "\n".join(lines)


def print_hardware_report() -> Hardware:
    """Print the report and return the detected hardware."""
    hw = detect_hardware()
    print(hardware_report(hw))
    return hw
