"""The install step of every notebook's first code cell: ``ensure_environment()``.

On a CUDA GPU it installs the ``requirements/gpu.txt`` pins that are missing or at another version, keeping the
platform's torch, pandas, matplotlib and ipywidgets (a constraints file) when they meet ``gpu-platform.txt``:
Colab pins several itself, so replacing them would break it. Elsewhere it installs what ``requirements/cpu.txt``
lacks, plus the offline model of ``no-deps.txt`` without dependencies. It prints the plan, what pip changed, and
when to restart. ``GRPO_INSTALL=check`` or ``check_only=True``: the plan only. It imports no torch, transformers,
TRL, PEFT or Unsloth, so Unsloth can still be imported first.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grpo_helpers.environment import cuda_available, detect_platform, install_mode

REQUIREMENTS_DIR = Path(__file__).parent / "requirements"
INSTALL_ENV = "GRPO_INSTALL"
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)\s*(#.*)?$")
_MINIMUM = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^\s,;#]*)\s*(?:,\s*<\s*([0-9][^\s;#]*))?\s*(#.*)?$")
# What pip prints when it cannot reach the package index (offline, no DNS, a proxy in the way).
_NETWORK_ERRORS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
    "Connection refused",
    "No route to host",
    "nodename nor servname",
    "NameResolutionError",
    "Failed to resolve",
)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Minimum:
    """A package the platform provides: kept when ``minimum <= installed < below``."""

    name: str
    minimum: str
    below: str | None = None

    def __str__(self) -> str:
        return f"{self.name}>={self.minimum}" + (f",<{self.below}" if self.below else "")

    def accepts(self, version: str) -> bool:
        release = _release(version)
        return release >= _release(self.minimum) and (self.below is None or release < _release(self.below))


def _parse(filename: str, pattern: re.Pattern, form: str) -> list[re.Match]:
    """``pattern`` matched on each requirement line of ``filename``; a line it does not match is an error."""
    lines = [
        line
        for line in (REQUIREMENTS_DIR / filename).read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    bad = [line for line in lines if not pattern.match(line)]
    if bad:
        raise ValueError(f"{filename}: {bad[0]!r} is not {form}")
    return [pattern.match(line) for line in lines]


def read_pins(filename: str) -> list[Pin]:
    """The ``name==version`` lines of one of the package's requirements files."""
    return [Pin(*match.group(1, 2)) for match in _parse(filename, _PIN, "pinned as name==version")]


def read_minimums(filename: str = "gpu-platform.txt") -> list[Minimum]:
    """The ``name>=minimum`` (optionally ``,<bound``) lines of ``requirements/gpu-platform.txt``."""
    form = "written as name>=minimum or name>=minimum,<bound"
    return [Minimum(*match.group(1, 2, 3)) for match in _parse(filename, _MINIMUM, form)]


def _release(version: str) -> tuple[int, ...]:
    """``"2.11.0+cu128"`` -> ``(2, 11, 0)``: the release numbers, padded to three, for comparisons."""
    numbers = [int(n) for n in re.match(r"\d+(?:\.\d+)*", version).group(0).split(".")]
    return tuple(numbers + [0] * (3 - len(numbers)))


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Step:
    """One package in the plan: ``requirement`` is what pip is given, ``None`` when it is left alone."""

    name: str
    installed: str | None
    requirement: str | None
    reason: str


@dataclass(frozen=True)
class Plan:
    environment: str
    install: tuple[Step, ...]  # installed with their dependencies
    install_without_deps: tuple[Step, ...]
    left_alone: tuple[Step, ...]  # installed, not at the tested pin or the platform's own: kept
    keep: tuple[Pin, ...]  # what pip must not replace while it installs (a constraints file)
    up_to_date: tuple[str, ...] = ()  # already at their pins

    @property
    def nothing_to_install(self) -> bool:
        return not self.install and not self.install_without_deps

    def requirements(self, without_deps: bool = False) -> list[str]:
        return [s.requirement for s in (self.install_without_deps if without_deps else self.install)]

    def describe(self) -> str:
        """The plan as the install cell prints it: what it installs and why, what it keeps and why."""
        if self.nothing_to_install and not self.left_alone:
            return f"{self.environment}: everything is installed at the tutorial's pins."
        lines = [f"{self.environment}:"]
        lines += [
            f"  install  {step.requirement:<28} {step.reason}" for step in self.install + self.install_without_deps
        ]
        lines += [f"  keep     {step.name + ' ' + step.installed:<28} {step.reason}" for step in self.left_alone]
        if self.up_to_date:
            lines.append(f"  ok       {', '.join(self.up_to_date)}: at the tutorial's pins")
        return "\n".join(lines)


def make_plan(installed: Mapping[str, str | None], gpu: bool) -> Plan:
    """What to install given the ``installed`` versions (a name missing or mapped to ``None`` is not installed).

    A missing pin is installed. GPU: a ``gpu.txt`` pin at another version is installed too; a platform package of
    ``gpu-platform.txt`` is kept and held when it meets its minimum, else installed at its ``gpu.txt`` pin (torch,
    which has none: at the range). CPU: a ``cpu.txt`` pin at another version is kept and noted; the offline model
    of ``no-deps.txt`` is installed without its dependencies."""
    versions = {_key(name): version for name, version in installed.items() if version}
    install, without_deps, left_alone, keep, up_to_date = [], [], [], [], []
    minimums = {_key(m.name): m for m in read_minimums()} if gpu else {}
    pins = {_key(p.name): p for p in read_pins("gpu.txt" if gpu else "cpu.txt")}
    for key, pin in pins.items():
        version = versions.get(key)
        if key in minimums:  # a platform package: below
            continue
        if version is None:
            install.append(Step(pin.name, None, str(pin), "missing"))
        elif pin.version in (version, version.split("+", 1)[0]):  # "2.13.0+cpu" is torch 2.13.0
            up_to_date.append(pin.name)
        elif gpu:
            install.append(
                Step(pin.name, version, str(pin), f"{version} is installed; the tutorial needs {pin.version}")
            )
        else:
            left_alone.append(Step(pin.name, version, None, f"kept; the tutorial is tested with {pin.version}"))
    for key, minimum in minimums.items():
        version = versions.get(key)
        target = str(pins[key]) if key in pins else str(minimum)
        if version is None:
            install.append(Step(minimum.name, None, target, "missing"))
        elif not minimum.accepts(version):
            install.append(Step(minimum.name, version, target, f"{version} is installed; the tutorial needs {minimum}"))
        else:
            left_alone.append(Step(minimum.name, version, None, f"the platform's, kept (the tutorial needs {minimum})"))
            keep.append(Pin(minimum.name, version))
    if not gpu:  # the offline default model is for the CPU path only
        without_deps = [
            Step(pin.name, None, str(pin), "missing (the offline default model, without its dependencies)")
            for pin in read_pins("no-deps.txt")
            if versions.get(_key(pin.name)) is None
        ]
    environment = "GPU environment (Unsloth)" if gpu else "CPU environment"
    return Plan(environment, tuple(install), tuple(without_deps), tuple(left_alone), tuple(keep), tuple(up_to_date))


def installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def plan_install(gpu: bool) -> Plan:
    """``make_plan`` for the versions installed here."""
    files = ["gpu.txt"] if gpu else ["cpu.txt", "no-deps.txt"]
    names = [p.name for file in files for p in read_pins(file)] + ([m.name for m in read_minimums()] if gpu else [])
    return make_plan({name: installed_version(name) for name in names}, gpu)


def _distributions() -> dict[str, str]:
    """Every installed distribution's version, by normalized name."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_key(name), dist.version)
    return found


def _imported(changed: list[str]) -> list[str]:
    """Those of the ``changed`` distributions that this session has already imported."""
    modules = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            modules.setdefault(_key(dist), set()).add(module)
    return [name for name in changed if any(m in sys.modules for m in modules.get(name, {name.replace("-", "_")}))]


class InstallError(RuntimeError):
    """pip could not install what the plan needs."""


def _pip(requirements: list[str], options: tuple[str, ...] = ()) -> None:
    """``pip install OPTIONS REQUIREMENTS``, its output shown in the notebook (a subprocess's own output would
    go to the kernel's terminal in Jupyter); ``InstallError`` saying what to do when it fails."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *options,
        *requirements,
    ]
    print("$ pip install", " ".join([*options, *requirements]), flush=True)
    output = []
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as error:
        raise InstallError(f"pip could not be started ({error}).\n{_what_to_do(offline=False)}") from None
    for line in process.stdout:
        output.append(line)
        print(line, end="", flush=True)
    if process.wait() != 0:
        text = "".join(output)
        offline = any(marker in text for marker in _NETWORK_ERRORS)
        if offline:
            reason = "pip could not reach the package index: this machine seems to be offline"
        elif "(from versions: none)" in text:  # our pins exist on PyPI: the index was not reached
            offline, reason = True, "pip found no version on its package index: this machine may be offline"
        else:
            reason = f"pip failed (exit code {process.returncode}); its output is above"
        raise InstallError(
            f"{reason}, so {' '.join(requirements)} could not be installed.\n{_what_to_do(offline)}"
        ) from None


def _what_to_do(offline: bool) -> str:
    return "\n".join(
        [
            "Fix one of these:",
            "  - connect this machine to the internet (on Kaggle: Settings > Internet > On) and run this cell again"
            if offline
            else "  - read pip's message above, fix its cause and run this cell again",
            "  - if these packages are installed another way (a folder of wheels, an offline image), skip the install:",
            f'    set {INSTALL_ENV}=check (os.environ["{INSTALL_ENV}"] = "check" before this cell) or call',
            "    ensure_environment(check_only=True); the cell then only prints what it finds",
        ]
    )


def ensure_environment(check_only: bool | None = None) -> None:
    """Install what this machine is missing for the tutorial, and say what it did; ``check_only=True`` (default:
    ``GRPO_INSTALL=check``) prints the plan and installs nothing."""
    if check_only is None:
        check_only = install_mode() == "check"
    plan = plan_install(cuda_available())
    print(plan.describe(), flush=True)
    if plan.nothing_to_install:
        print("Nothing to install.")
        return
    if check_only:
        print(f"Check only ({INSTALL_ENV}=check or check_only=True): nothing was installed.")
        return
    before = _distributions()
    if plan.install:
        options = ()
        if plan.keep:
            # hold the platform's packages (torch's CUDA build, Colab's pandas ...) where they are
            constraints = Path(tempfile.mkdtemp(prefix="grpo-install-")) / "constraints.txt"
            constraints.write_text("".join(f"{pin}\n" for pin in plan.keep))
            options = ("-c", str(constraints))
        _pip(plan.requirements(), options)
    if plan.install_without_deps:
        _pip(plan.requirements(without_deps=True), ("--no-deps",))
    importlib.invalidate_caches()
    _report(before, _distributions(), {_key(s.name) for s in plan.install + plan.install_without_deps})


def _report(before: dict[str, str], after: dict[str, str], planned: set[str]) -> None:
    """Say what pip changed, and whether the session must restart to use it."""
    changed = sorted(name for name, version in after.items() if before.get(name) != version)

    def versions(names):
        return ", ".join(f"{n} {before[n]} -> {after[n]}" if n in before else f"{n} {after[n]}" for n in names)

    if any(n in planned for n in changed):
        print("Installed: " + versions(n for n in changed if n in planned))
    if any(n not in planned for n in changed):
        print("and, as their dependencies: " + versions(n for n in changed if n not in planned))
    replaced = _imported([name for name in changed if name in before])
    if not replaced:
        print("Done: no restart needed (nothing that was replaced had been imported yet).")
        return
    one = len(replaced) == 1
    how = {"colab": "Runtime > Restart session", "kaggle": "Run > Restart & clear cell outputs"}.get(
        detect_platform(), "Kernel > Restart Kernel"
    )
    print(
        f"Restart needed: {', '.join(replaced)} {'was' if one else 'were'} already imported in this session and "
        f"{'has' if one else 'have'} been replaced. Restart ({how}), then run the notebook from the top: "
        "this cell will then find everything installed."
    )
