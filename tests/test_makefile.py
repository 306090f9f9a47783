"""The Makefile: make setup installs what the checks need, make test runs the tiers in order, CI runs make test."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def dry_run(*targets, venv, **variables):
    """The commands ``make -n`` would run, from the repository root, with .venv at ``venv``."""
    settings = [f"{name}={value}" for name, value in {"VENV": venv, **variables}.items()]
    done = subprocess.run(["make", "-n", *targets, *settings], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def set_up(venv: Path) -> Path:
    """A .venv whose set-up stamps are newer than every requirements file, so make -n shows only the checks."""
    venv.mkdir()
    for stamp in (".installed", ".browser-installed"):
        (venv / stamp).touch()
        os.utime(venv / stamp, (2**31, 2**31))
    return venv


def test_make_test_runs_lint_unit_notebooks_and_browser_in_that_order(tmp_path):
    venv = set_up(tmp_path / "venv")
    pytest_ = f"GRPO_QUICK=1 OMP_NUM_THREADS=1 {venv}/bin/python -m pytest"
    lines = dry_run("test", venv=venv, CHROMIUM="/bin/sh")
    checks = [line for line in lines if line.startswith((f"{venv}/bin/ruff", pytest_))]
    assert checks == [
        f"{venv}/bin/ruff check .",
        f"{venv}/bin/ruff format --check .",
        f'{pytest_} -m "not browser" tests',
        f"{pytest_} --nbmake notebooks --nbmake-timeout=1800",
        f"{pytest_} -m browser tests",
    ]
    tiers = {"lint": checks[:2], "unit": checks[2:3], "notebooks": checks[3:4], "browser": checks[4:]}
    for target, commands in tiers.items():  # each tier alone runs its own checks only
        assert [line for line in dry_run(target, venv=venv) if line in checks] == commands, target
    # installing Chromium is the browser test's set-up, before it (here a no-op: CHROMIUM exists)
    chromium = next(i for i, line in enumerate(lines) if "apt-get install -y -q chromium" in line)
    assert lines.index(checks[3]) < chromium < lines.index(checks[4])


def test_setup_installs_ruff_into_a_fresh_venv(tmp_path):
    lines = dry_run("setup", venv=tmp_path / "fresh", PYTHON="python3")
    assert f"{tmp_path}/fresh/bin/python -m pip install -r tests/requirements-dev.txt" in lines
    assert any(line.startswith("ruff==") for line in (ROOT / "tests" / "requirements-dev.txt").read_text().splitlines())
    makefile = (ROOT / "Makefile").read_text()
    assert "REQS := grpo_helpers/requirements" in makefile and "-r $(REQS)/cpu.txt" in makefile
    assert "--no-deps -r $(REQS)/no-deps.txt" in makefile


def test_ci_and_the_readme_use_the_make_commands():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for command in ("make run", "make test", "make lab", "make lint", "make unit", "make notebooks", "make browser"):
        assert command in readme, command
