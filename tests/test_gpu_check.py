"""The GPU check's scripts (docs/gpu-check.md), as far as a CPU can check them in a moment: shell
syntax, the wheel list and slimming, and the summary written from junit XML and progress lines."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

GPU_CHECK = Path(__file__).resolve().parents[1] / "gpu_check"


def load(name):
    spec = importlib.util.spec_from_file_location(name, GPU_CHECK / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gpu_summary = load("gpu_summary")
gpu_wheels = load("gpu_wheels")


# gpu_check.sh run on the CPU in a copy of its checkout: a python3 first on PATH answers for pip, the model build
# and the probe, and for pytest: it records its arguments and environment, and reports each notebook it was
# given as passed, as gpu_check_plugin.py would; the summary is written by the real Python.
FAKE_PYTHON = r"""#!/usr/bin/env bash
case "$1 $2" in "-m benchmarks.random_model") echo "random-init model (fake)"; exit 0 ;; esac
case "$1 $2" in
    "-m pip") exit 0 ;;
    "-m pytest")
        printf '%s\n' "$@" >"$CALLS/pytest_$GPU_CHECK_LABEL.args"
        env | grep -E '^(GRPO_|HF_HUB_OFFLINE=)' | sort >"$CALLS/env_$GPU_CHECK_LABEL"
        for arg in "$@"; do
            case $arg in notebooks/*) printf '{"event": "result", "run": "%s", "time": 1, "nodeid": "%s::%s", "when": "call", "outcome": "passed", "seconds": 1.0}\n' "$GPU_CHECK_LABEL" "$arg" "${arg#notebooks/}" >>"$GPU_CHECK_PROGRESS" ;; esac
        done
        exit 0 ;;
    "-c import xdist") exit 1 ;;
    "-m venv") mkdir -p "${@: -1}/bin" && cp "$FAKE_ENV_PYTHON" "${@: -1}/bin/python" && exit 0 ;;
    "- "*) cat >/dev/null; exit 0 ;; # python3 - <<'PY' (the full chain's max_steps change)
esac
case "$2" in probe) echo '{"gpus": []}'; exit 0 ;; esac
exec "$REAL_PYTHON" "$@"
"""  # noqa: E501
# The new environment's python (the install cell's step): records what it was given and writes install_cell.json
# as gpu_check/install_cell.py would, with the status FAKE_INSTALL_STATUS names.
FAKE_ENV_PYTHON = r"""#!/usr/bin/env bash
if [ "$1" = -c ]; then mkdir -p "$(dirname "$0")/../lib" && echo "$(dirname "$0")/../lib"; exit 0; fi
env | grep -E '^(PIP_|GRPO_INSTALL=|PYTHONPATH=)' | sort >"$CALLS/env_install_cell"
printf '%s\n' "$@" >"$CALLS/install_cell.args"
printf '{"status": "%s", "planned": {"trl": "trl==1.15.0"}, "runs": [{"run": "first run", "seconds": 9.0}, {"run": "second run", "seconds": 0.4}], "problems": []}\n' "${FAKE_INSTALL_STATUS:-passed}" >"$OUT/install_cell.json"
[ "${FAKE_INSTALL_STATUS:-passed}" = passed ]
"""  # noqa: E501
NOTEBOOK_NAMES = [
    "00_start.ipynb",
    "03_rewards.ipynb",
    "04_prepare.ipynb",
    "05_configure.ipynb",
    "06_train.ipynb",
    "07_evaluate.ipynb",
    "08_scratch.ipynb",
    "10_help.ipynb",
]


def run_gpu_check(tmp_path, wheels=True, **env):
    """bash gpu_check.sh in a copy of the checkout; returns (the run, the pytest calls' arguments by label)."""
    root, calls, bin_dir = tmp_path / "checkout", tmp_path / "calls", tmp_path / "bin"
    for folder in (root / "gpu_check", root / "notebooks", calls, bin_dir):
        folder.mkdir(parents=True)
    for name in ("gpu_check.sh", "gpu_summary.py"):
        shutil.copy(GPU_CHECK / name, root / "gpu_check" / name)
    for name in NOTEBOOK_NAMES:
        (root / "notebooks" / name).write_text("{}")
    if wheels:
        (root / ".whl").mkdir()
        (root / ".whl" / "unsloth-1.0-py3-none-any.whl").write_bytes(b"")
    for name, text in (("python3", FAKE_PYTHON), ("env_python", FAKE_ENV_PYTHON)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        # without the GPU check's own settings: these tests also run inside a GPU check, which sets some
        **{k: v for k, v in os.environ.items() if not k.startswith("GPU_CHECK_")},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "REAL_PYTHON": sys.executable,
        "CALLS": str(calls),
        "FAKE_ENV_PYTHON": str(bin_dir / "env_python"),
        "GPU_CHECK_WORK": str(tmp_path / "work"),
        "OUT": str(tmp_path / "out"),
        **env,
    }
    done = subprocess.run(
        ["bash", str(root / "gpu_check" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    pytest_calls = {
        p.name[len("pytest_") : -len(".args")]: p.read_text().splitlines() for p in calls.glob("pytest_*.args")
    }
    return done, pytest_calls


needs_bash = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="no bash")


@needs_bash
def test_the_check_runs_notebooks_04_to_07_in_one_run_and_the_rest_beside_it_within_the_budget(tmp_path):
    for script in ("gpu_check.sh", "gpu_real_model.sh"):
        syntax = subprocess.run(["bash", "-n", str(GPU_CHECK / script)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
    done, calls = run_gpu_check(tmp_path, GPU_CHECK_BUDGET="300")
    assert sorted(calls) == ["chain", "rest"], done.stdout[-3000:]
    notebooks = {label: [a.split("/")[-1] for a in args if a.startswith("notebooks/")] for label, args in calls.items()}
    assert notebooks["chain"] == ["04_prepare.ipynb", "05_configure.ipynb", "06_train.ipynb", "07_evaluate.ipynb"]
    assert notebooks["rest"] == ["00_start.ipynb", "03_rewards.ipynb", "08_scratch.ipynb", "10_help.ipynb"]
    assert "tests" in calls["rest"] and "tests" not in calls["chain"]
    left = int(re.search(r"== pytest: (\d+) s left", done.stdout).group(1))
    assert 300 - 45 - 10 <= left <= 300 - 45  # the budget less what ran before and 45 s for the clean-up and summary
    for label, args in calls.items():
        assert f"--nbmake-timeout={left}" in args and "gpu_check_plugin" in args
        env = (tmp_path / "calls" / f"env_{label}").read_text().splitlines()
        assert {"GRPO_QUICK=1", "GRPO_INSTALL=check", "HF_HUB_OFFLINE=1"} <= set(env), env  # quick mode, offline
    steps = (tmp_path / "work" / "steps.tsv").read_text().splitlines()
    assert [line.split("\t")[:2] for line in steps][:3] == [["install cell", "0"], ["install", "0"], ["model", "0"]]
    assert (tmp_path / "out" / "gpu_summary.json").is_file() and (tmp_path / "out" / "gpu_check.log").is_file()
    # the install cell in install mode, in a new environment, pip reading the wheel folder instead of PyPI
    install_env = dict(
        line.split("=", 1) for line in (tmp_path / "calls" / "env_install_cell").read_text().splitlines()
    )
    root = tmp_path / "checkout"
    assert install_env["GRPO_INSTALL"] == "install" and install_env["PYTHONPATH"] == str(root)
    assert install_env["PIP_NO_INDEX"] == "1" and install_env["PIP_FIND_LINKS"] == str(root / ".whl")
    assert (tmp_path / "calls" / "install_cell.args").read_text().split()[:2] == ["gpu_check/install_cell.py", "--out"]
    assert "## The install cell in install mode: passed" in (tmp_path / "out" / "gpu_summary.md").read_text()


@needs_bash
def test_a_failed_install_cell_fails_the_check_and_its_summary_says_so(tmp_path):
    done, calls = run_gpu_check(tmp_path, FAKE_INSTALL_STATUS="failed")
    summary = json.loads((tmp_path / "out" / "gpu_summary.json").read_text())
    assert done.returncode != 0 and summary["status"] == "failed" and sorted(calls) == ["chain", "rest"]
    assert summary["steps"][0]["step"] == "install cell" and summary["steps"][0]["exit_code"] != 0
    assert "## The install cell in install mode: failed" in (tmp_path / "out" / "gpu_summary.md").read_text()


@needs_bash
def test_with_a_real_model_notebooks_05_to_07_run_in_full_mode_one_after_the_other(tmp_path):
    done, calls = run_gpu_check(tmp_path, GPU_CHECK_FULL_MODEL="/models/smollm2", GPU_CHECK_BUDGET="400")
    assert sorted(calls) == ["chain", "full05", "full06", "full07", "rest"], done.stdout[-3000:]
    assert [a for a in calls["chain"] if a.startswith("notebooks/")] == ["notebooks/04_prepare.ipynb"]
    for label, name in (("full05", "05_configure"), ("full06", "06_train"), ("full07", "07_evaluate")):
        assert f"notebooks/full/{name}.ipynb" in calls[label] and "--overwrite" in calls[label]  # a copy, executed
        env = (tmp_path / "calls" / f"env_{label}").read_text().splitlines()
        assert {"GRPO_QUICK=0", "GRPO_MODEL=/models/smollm2", f"GRPO_RUN_DIR={tmp_path}/work/full_run"} <= set(env)
    with tarfile.open(tmp_path / "out" / "executed.tgz") as archive:  # one file, as the device tool brings back
        assert {f"executed/{n}.ipynb" for n in ("05_configure", "06_train", "07_evaluate")} <= set(archive.getnames())
    summary = json.loads((tmp_path / "out" / "gpu_summary.json").read_text())
    modes = {row["notebook"]: (row["mode"], row["result"]) for row in summary["notebooks"]}
    assert modes["06_train.ipynb"] == ("full, /models/smollm2", "passed") and modes["04_prepare.ipynb"][0] == "quick"
    assert summary["status"] == "passed" and done.returncode == 0
    steps = [step["step"] for step in summary["steps"]]
    assert "pytest notebook 04" in steps and "pytest 06_train (full mode)" in steps, steps


@needs_bash
def test_gpu_check_only_runs_just_those_notebooks_and_says_it_is_a_partial_check(tmp_path):
    done, calls = run_gpu_check(tmp_path, GPU_CHECK_ONLY="notebooks/07_evaluate.ipynb notebooks/10_help.ipynb")
    assert list(calls) == ["chain"], done.stdout[-3000:]  # no unit tests
    assert [a for a in calls["chain"] if a.startswith("notebooks/")] == [
        "notebooks/07_evaluate.ipynb",
        "notebooks/10_help.ipynb",
    ]
    summary = json.loads((tmp_path / "out" / "gpu_summary.json").read_text())
    assert (
        done.returncode == 0
        and summary["status"] == "passed"
        and summary["only"] == ["07_evaluate.ipynb", "10_help.ipynb"]
    )
    assert [row["notebook"] for row in summary["notebooks"]] == ["07_evaluate.ipynb", "10_help.ipynb"]
    assert "(a partial check" in (tmp_path / "out" / "gpu_summary.md").read_text().splitlines()[0]


@needs_bash
def test_a_budget_too_small_for_the_tests_stops_before_pytest_with_a_summary(tmp_path):
    done, calls = run_gpu_check(tmp_path, GPU_CHECK_BUDGET="100")
    assert done.returncode == 1 and calls == {}
    assert re.search(r"only \d+ s left for the tests", done.stdout)
    assert json.loads((tmp_path / "out" / "gpu_summary.json").read_text())["status"] != "passed"


@needs_bash
def test_without_wheels_the_check_says_how_to_get_them_and_still_writes_its_summary(tmp_path):
    done, calls = run_gpu_check(tmp_path, wheels=False)
    assert done.returncode == 2 and calls == {}
    assert "no wheels in .whl/: run python3 gpu_check/gpu_wheels.py" in done.stdout
    assert (tmp_path / "out" / "gpu_summary.md").read_text().startswith("# GPU check: ")


def test_wheel_list_has_one_version_each_and_leaves_the_machines_packages_alone():
    want = gpu_wheels.wanted()
    for name in ("unsloth", "unsloth_zoo", "trl", "peft", "bitsandbytes", "nbmake", "ipykernel", "ipywidgets"):
        assert name in want, name
    for name in ("torch", "transformers", "accelerate", "pandas", "matplotlib", "triton"):
        assert name not in want, f"{name} is on the GPU machine already"
    assert "debugpy" not in want


def test_slimming_drops_files_and_their_record_lines(tmp_path):
    wheel = tmp_path / "unsloth-1.0-py3-none-any.whl"
    record = "unsloth/__init__.py,sha256=abc,3\nstudio/app.js,sha256=def,9\nunsloth-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("unsloth/__init__.py", "x=1")
        zf.writestr("studio/app.js", "ui code")
        zf.writestr("unsloth-1.0.dist-info/RECORD", record)
    assert gpu_wheels.slim_wheel(wheel, gpu_wheels.SLIMMERS["unsloth"])
    with zipfile.ZipFile(wheel) as zf:
        assert sorted(zf.namelist()) == ["unsloth-1.0.dist-info/RECORD", "unsloth/__init__.py"]
        assert "studio" not in zf.read("unsloth-1.0.dist-info/RECORD").decode()
    assert not gpu_wheels.slim_wheel(wheel, gpu_wheels.SLIMMERS["unsloth"])  # idempotent
    keep = gpu_wheels.SLIMMERS["bitsandbytes"]
    assert keep("bitsandbytes/libbitsandbytes_cuda130.so") and keep("bitsandbytes/nn/modules.py")
    assert not keep("bitsandbytes/libbitsandbytes_cuda128.so") and not keep("bitsandbytes/libbitsandbytes_rocm64.so")


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
 <testcase classname="tests.test_answers" name="test_ok" file="tests/test_answers.py" time="0.5"/>
 <testcase classname="tests.test_answers" name="test_bad" file="tests/test_answers.py" time="0.25">
  <failure message="AssertionError: 2 != 3">def test_bad():
E   AssertionError: 2 != 3</failure></testcase>
 <testcase classname="tests.test_lora" name="test_gpu_only" file="tests/test_lora.py" time="0">
  <skipped type="pytest.skip" message="needs a GPU"/></testcase>
 <testcase classname="notebooks.00_start_here.ipynb" name="00_start_here.ipynb" file="notebooks/00_start_here.ipynb" time="12.5"/>
 <testcase classname="notebooks.07_evaluate_and_share.ipynb" name="07_evaluate_and_share.ipynb" time="80.0">
  <failure message="RuntimeError">Cell In[15], line 3
RuntimeError: expected mat1 and mat2 to have the same dtype, but got: c10::BFloat16 != float</failure></testcase>
</testsuite></testsuites>
"""  # noqa: E501


def test_summary_from_junit_xml(tmp_path):
    (tmp_path / "junit.xml").write_text(JUNIT)
    steps = tmp_path / "steps.tsv"
    steps.write_text("install\t0\t20\nmodel\t0\t9\n")
    machine = {"gpus": [{"name": "NVIDIA H200", "memory": "143771 MiB", "driver": "580.159.04"}],
               "torch_cuda": "13.0", "versions": {"torch": "2.11.0+cu130", "unsloth": "2026.10.9"}}  # fmt: skip
    notebooks = ["00_start_here.ipynb", "06_train_and_save.ipynb", "07_evaluate_and_share.ipynb"]
    summary = gpu_summary.write(tmp_path / "out", machine, gpu_summary.read_steps(steps), None,
                                [tmp_path / "junit.xml", tmp_path / "missing.xml"], notebooks)  # fmt: skip
    rows = {row["notebook"]: row for row in summary["notebooks"]}
    assert rows["00_start_here.ipynb"]["result"] == "passed" and rows["00_start_here.ipynb"]["seconds"] == 12.5
    assert rows["06_train_and_save.ipynb"]["result"] == "not finished"
    assert rows["07_evaluate_and_share.ipynb"]["result"] == "failed"
    assert rows["07_evaluate_and_share.ipynb"]["failure"].endswith("c10::BFloat16 != float")
    assert summary["unit_tests"]["passed"] == 1 and summary["unit_tests"]["failed"] == 1
    assert summary["unit_tests"]["skipped"] == 1 and summary["status"] == "failed"
    assert json.loads((tmp_path / "out" / "gpu_summary.json").read_text()) == summary
    md = (tmp_path / "out" / "gpu_summary.md").read_text()
    assert "| 07_evaluate_and_share.ipynb | quick | failed | 80.0 |" in md and "NVIDIA H200" in md
    assert "tests/test_answers.py::test_bad" in md and "AssertionError: 2 != 3" in md


def test_summary_from_progress_lines_of_a_run_stopped_at_the_deadline(tmp_path):
    progress = tmp_path / "progress.jsonl"
    lines = [
        {
            "event": "collected",
            "run": "rest",
            "time": 1,
            "nodeids": ["tests/test_a.py::test_one", "tests/test_a.py::test_two"],
        },
        {
            "event": "result",
            "run": "rest",
            "time": 2,
            "nodeid": "tests/test_a.py::test_one",
            "when": "call",
            "outcome": "passed",
            "seconds": 0.1,
        },
        {
            "event": "result",
            "run": "chain",
            "time": 3,
            "nodeid": "notebooks/04_prepare_gsm8k.ipynb::04_prepare_gsm8k.ipynb",
            "when": "call",
            "outcome": "passed",
            "seconds": 30.0,
        },
        {"event": "interrupted", "run": "chain", "time": 10},
        {
            "event": "result",
            "run": "chain",
            "time": 11,
            "nodeid": "notebooks/05_configure_grpo.ipynb::05_configure_grpo.ipynb",
            "when": "call",
            "outcome": "failed",
            "seconds": 7.0,
            "message": "KeyboardInterrupt",
        },
    ]
    progress.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"event": "res')  # a torn last line
    steps = tmp_path / "steps.tsv"
    log = tmp_path / "pytest_chain.log"
    log.write_text("collected 4 items\n\x1b[31mKeyboardInterrupt\x1b[0m\n")
    steps.write_text(f"pytest notebooks 04 and later\t124\t500\t{log}\n")
    notebooks = ["04_prepare_gsm8k.ipynb", "05_configure_grpo.ipynb", "06_train_and_save.ipynb"]
    summary = gpu_summary.write(tmp_path, {}, gpu_summary.read_steps(steps), progress, [], notebooks)
    assert [row["result"] for row in summary["notebooks"]] == ["passed", "stopped at the deadline", "not finished"]
    assert summary["unit_tests"]["passed"] == 1 and summary["unit_tests"]["not finished"] == 1
    assert summary["steps"][0]["last_lines"].endswith("KeyboardInterrupt")  # colours removed
    assert "exit code 124: stopped at the deadline" in (tmp_path / "gpu_summary.md").read_text()


def test_a_unit_test_whose_parameter_names_a_notebook_counts_as_a_unit_test():
    assert (
        gpu_summary.notebook_of("notebooks/05_configure_grpo.ipynb::05_configure_grpo.ipynb")
        == "05_configure_grpo.ipynb"
    )
    assert (
        gpu_summary.notebook_of("tests/test_notebook_structure.py::test_chapter_shape[05_configure_grpo.ipynb]") is None
    )


def test_a_gpu_check_only_run_lists_its_notebooks_and_passes_when_they_pass(tmp_path):
    progress = tmp_path / "progress.jsonl"
    lines = [
        {
            "event": "result",
            "run": "chain",
            "time": 1,
            "nodeid": f"notebooks/{nb}::{nb}",
            "when": "call",
            "outcome": "passed",
            "seconds": 40.0,
        }
        for nb in ("01_load_4bit_model.ipynb", "08_grpo_from_scratch.ipynb")
    ]
    progress.write_text("".join(json.dumps(x) + "\n" for x in lines))
    steps = tmp_path / "steps.tsv"
    steps.write_text("pytest notebooks 04 and later\t0\t90\n")
    code = gpu_summary.main(
        [
            "write",
            "--out",
            str(tmp_path / "out"),
            "--steps",
            str(steps),
            "--progress",
            str(progress),
            "--notebooks",
            "notebooks/01_load_4bit_model.ipynb",
            "notebooks/08_grpo_from_scratch.ipynb",
        ]
    )
    summary = json.loads((tmp_path / "out" / "gpu_summary.json").read_text())
    assert code == 0 and summary["status"] == "passed"
    assert [row["notebook"] for row in summary["notebooks"]] == [
        "01_load_4bit_model.ipynb",
        "08_grpo_from_scratch.ipynb",
    ]
    assert (tmp_path / "out" / "gpu_summary.md").read_text().startswith("# GPU check: passed (a partial check")


def test_install_cell_runs_the_notebooks_setup_cell_and_fails_where_there_was_nothing_to_install(tmp_path):
    install_cell = load("install_cell")
    source = install_cell.setup_cell()
    assert "%pip" not in source and "ensure_environment()" in source  # the notebook's cell, as plain Python
    compile(source, "install cell", "exec")
    # this environment has every pin: both runs find nothing to install, so it is no new runtime's first run
    env = {**os.environ, "GRPO_INSTALL": "install"}
    command = [sys.executable, str(GPU_CHECK / "install_cell.py"), "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    report = json.loads((tmp_path / "install_cell.json").read_text())
    assert done.returncode == 1 and report["status"] == "failed", done.stdout[-2000:]
    assert [r["run"] for r in report["runs"]] == ["first run", "second run"]
    assert all("Nothing to install." in r["printed"] and r["error"] is None for r in report["runs"])
    assert report["problems"] == [
        "the first run planned nothing: this interpreter already had every pin (not a new machine)"
    ]
