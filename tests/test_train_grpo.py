"""scripts/train_grpo.py: its arguments, the batch arithmetic across processes, the accelerate
configs, and real runs under ``accelerate launch`` on the CPU (2 processes over gloo, then a resume).

The runs use the tiny random model (tests/tiny_model.py). The same 2-process run with the offline
SmolLM2-135M (the tutorial's CPU model) and a DeepSpeed ZeRO-2 run are marked ``slow`` and run only
when asked for: ``pytest -m slow tests/test_train_grpo.py`` (README, For developers).
"""

import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grpo_helpers.config import run_plan
from tiny_model import cpu_trainer

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_grpo.py"
CONFIGS = ROOT / "configs" / "accelerate"


def load_script():
    spec = importlib.util.spec_from_file_location("train_grpo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


# ---- arguments


def parse(*argv):
    return script.build_parser().parse_args(list(argv))


def test_command_line_settings_become_grpoconfig_overrides():
    args = parse(
        "--preset",
        "basic",
        "--max-steps",
        "5",
        "--num-generations",
        "4",
        "--steps-per-generation",
        "2",
        "--save-steps",
        "10",
        "--use-vllm",
        "--vllm-mode",
        "server",
        "--set",
        "beta=0.0",
        "--set",
        "reward_weights=[1, 0.5]",
        "--set",
        "loss_type=dr_grpo",
    )
    assert script.overrides_from(args) == {
        "max_steps": 5,
        "num_generations": 4,
        "steps_per_generation": 2,
        "save_strategy": "steps",
        "save_steps": 10,
        "use_vllm": True,
        "vllm_mode": "server",
        "beta": 0.0,
        "reward_weights": [1, 0.5],
        "loss_type": "dr_grpo",
    }
    assert script.overrides_from(parse()) == {}
    assert parse("--resume").resume == "latest" and parse("--resume", "x/checkpoint-4").resume == "x/checkpoint-4"


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-steps", "0"],
        ["--set", "beta"],
        ["--preset", "fast"],
        ["--vllm-mode", "sideways"],
        ["--per-device-train-batch-size", "two"],
    ],
)
def test_bad_arguments_stop_with_a_usage_message(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(*argv)
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--vllm-mode", "server"], "only apply with --use-vllm"),
        (["--config", "a.json", "--preset", "basic"], "give one of them"),
        (["--config", "no/such/file.json"], "no such file"),
        (["--num-processes", "2"], "accelerate launch --num_processes 2"),
    ],
)
def test_inconsistent_arguments_say_what_to_change(argv, says):
    with pytest.raises(SystemExit, match=re.escape(says)):
        script.main(argv)


def test_check_only_prints_the_arithmetic_for_the_processes_asked(capsys):
    assert (
        script.main(["--check-only", "--preset", "quick_cpu", "--num-processes", "3", "--steps-per-generation", "2"])
        == 0
    )
    out = capsys.readouterr().out
    assert "8 per device x 3 process(es) x 1 accumulation = 24 (6 prompt(s) of 4)" in out
    assert "8 per device x 3 process(es) x 2 steps_per_generation = 48 completions (12 prompt(s) of 4)" in out


def test_nothing_unsloth_patches_is_imported_before_the_backend_is_chosen():
    """Unsloth must come before transformers, TRL and PEFT: what the script imports before it picks the
    backend (argparse, grpo_helpers' config and environment, accelerate's PartialState) brings none of them."""
    check = (
        "import runpy, sys; sys.argv = ['train_grpo.py', '--check-only', '--num-processes', '2']\n"
        f"try:\n    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\nexcept SystemExit as end:\n"
        "    assert end.code == 0, end.code\n"
        "early = [m for m in ('transformers', 'trl', 'peft') if m in sys.modules]\nassert not early, early\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "2 process(es)" in result.stdout


# ---- batch arithmetic


def plan(per_device, processes, rounds, generations, accumulation=1):
    settings = {
        "per_device_train_batch_size": per_device,
        "num_generations": generations,
        "steps_per_generation": rounds,
        "gradient_accumulation_steps": accumulation,
    }
    return script.batch_plan(settings, processes)


def test_the_generation_batch_counts_completions_of_every_process():
    p = plan(per_device=6, processes=4, rounds=8, generations=8, accumulation=2)
    assert p["completions per optimizer step"] == 6 * 4 * 2 and p["prompts per optimizer step"] == 6
    assert p["generation batch (completions)"] == 6 * 4 * 8 and p["prompts per generation batch"] == 24
    assert p["optimizer steps per generation batch"] == 4
    assert script.batch_problems(p) == []


def test_make_configs_gpu_rounds_are_planned_like_make_config():
    from grpo_helpers.config import GPU_GENERATION_ROUNDS, PRESETS, make_config
    from grpo_helpers.environment import Hardware

    cpu = Hardware(device="cpu", platform="local", cpu_count=2, ram_gib=8.0)
    for preset in ("basic", "conservative"):
        built = make_config(preset, cpu, report_to="none")
        planned = script.planned_settings(PRESETS[preset], {}, False)  # on a CPU TRL's default: the accumulation
        assert planned.get("steps_per_generation", planned["gradient_accumulation_steps"]) == built.steps_per_generation
        accumulation = PRESETS[preset]["gradient_accumulation_steps"]
        assert (
            script.planned_settings(PRESETS[preset], {}, True)["steps_per_generation"]
            == GPU_GENERATION_ROUNDS * accumulation
        )
    assert script.planned_settings(PRESETS["basic"], {"steps_per_generation": 3}, True)["steps_per_generation"] == 3


def test_a_batch_without_whole_groups_is_refused_with_the_numbers_and_fixes_that_work():
    with pytest.raises(SystemExit) as stop:
        script.check_batches({"per_device_train_batch_size": 3, "num_generations": 4, "steps_per_generation": 1}, 2)
    message = str(stop.value)
    assert "per_device_train_batch_size 3 x 2 process(es) x steps_per_generation 1 = 6 completions" in message
    assert "not a multiple of 4" in message
    fixes = {
        flag: [int(v) for v in re.findall(re.escape(flag) + r"[ =](\d+)", message)]
        for flag in ("--per-device-train-batch-size", "--steps-per-generation", "--num-generations", "--num_processes")
    }
    assert all(fixes.values()), fixes
    base = dict(per_device=3, processes=2, rounds=1, generations=4)
    names = {
        "--per-device-train-batch-size": "per_device",
        "--steps-per-generation": "rounds",
        "--num-generations": "generations",
        "--num_processes": "processes",
    }
    for flag, values in fixes.items():
        for value in values:  # each suggestion, applied alone, fixes the batch
            assert script.batch_problems(plan(**{**base, names[flag]: value})) == [], (flag, value)


def test_too_few_generations_and_odd_generation_batch_sizes_are_refused():
    assert "at least 2" in script.batch_problems(plan(4, 1, 1, 1))[0]
    odd = script.batch_plan({"per_device_train_batch_size": 8, "num_generations": 4, "generation_batch_size": 20}, 2)
    assert "multiple of per_device_train_batch_size x processes = 16" in script.batch_problems(odd)[0]


def test_the_check_agrees_with_trl_on_one_process(tmp_path):
    """GRPOConfig (which sees one process here) refuses exactly the combinations the script refuses."""
    from trl import GRPOConfig

    for per_device, rounds, generations in itertools.product((2, 3, 4, 6), (1, 2, 3), (2, 4, 6, 8)):
        problems = script.batch_problems(plan(per_device, 1, rounds, generations))
        try:
            GRPOConfig(
                output_dir=str(tmp_path),
                use_cpu=True,
                report_to="none",
                per_device_train_batch_size=per_device,
                steps_per_generation=rounds,
                num_generations=generations,
            )
            trl_ok = True
        except ValueError:
            trl_ok = False
        assert trl_ok == (problems == []), (per_device, rounds, generations, problems)


# ---- accelerate configs and the 4-bit load


def test_accelerate_configs_load_as_accelerate_reads_them():
    from accelerate.commands.config.config_args import load_config_from_file

    expected = {"ddp.yaml": ("MULTI_GPU", None), "zero2.yaml": ("DEEPSPEED", 2), "zero3.yaml": ("DEEPSPEED", 3)}
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(expected)
    for name, (kind, stage) in expected.items():
        config = load_config_from_file(str(CONFIGS / name))  # accelerate's own reader: unknown keys raise
        assert config.distributed_type.value == kind and config.num_machines == 1 and not config.use_cpu
        assert config.mixed_precision == "no"  # bf16/fp16 come from the script's GRPOConfig, per GPU
        assert (config.deepspeed_config or {}).get("zero_stage") == stage
        if stage:
            assert config.deepspeed_config["offload_optimizer_device"] == "none"


def test_deepspeed_plugin_accepts_the_zero_configs():
    pytest.importorskip("deepspeed", reason="deepspeed is not installed (it is not part of the pinned environments)")
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin

    for name, stage in (("zero2.yaml", 2), ("zero3.yaml", 3)):
        ds = load_config_from_file(str(CONFIGS / name)).deepspeed_config
        plugin = DeepSpeedPlugin(
            zero_stage=ds["zero_stage"],
            offload_optimizer_device=ds["offload_optimizer_device"],
            offload_param_device=ds["offload_param_device"],
            zero3_init_flag=ds["zero3_init_flag"],
        )
        assert plugin.deepspeed_config["zero_optimization"]["stage"] == stage


def test_each_process_loads_through_load_model_on_its_own_gpu(monkeypatch):
    import grpo_helpers.models as models

    calls = []
    monkeypatch.setattr(models, "load_model", lambda *a, **k: calls.append(k) or ("model", "tokenizer"))
    monkeypatch.setattr(models, "add_lora", lambda model, **k: (model, k))
    (model, lora), tokenizer = script.load_policy("bitsandbytes", "/m", 512, 8, device_index=1)
    assert calls == [{"max_seq_length": 512, "backend": "bitsandbytes", "device_index": 1}]
    assert lora == {"backend": "bitsandbytes", "r": 8} and tokenizer == "tokenizer"
    assert "BitsAndBytesConfig" not in SCRIPT.read_text()  # one 4-bit load: load_model's


def test_step_figures_leave_the_first_generation_round_out():
    figures = script.step_figures([30.0, 2.0, 2.0, 2.0, 9.0, 3.0, 3.0, 3.0], warmup=4)
    assert figures["seconds_per_step"] == 4.5 and figures["warmup_steps_left_out"] == 4
    assert script.step_figures([5.0], warmup=1)["seconds_per_step"] == 5.0


# ---- real runs under accelerate launch on the CPU


def launch(processes: int, *argv, tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``accelerate launch`` on this CPU. Several processes go through accelerate's torchrun launcher
    (``--multi_gpu``; the script's CPU state then joins them over gloo): accelerate 1.15's ``--cpu`` starts
    a single process unless it is given an MPI host file."""
    how = ["--multi_gpu"] if processes > 1 else []
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *how,
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(SCRIPT),
        *argv,
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "GRPO_RUN_DIR": str(tmp_path / "run"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def tiny_args(model, out, steps):
    return [
        "--model",
        str(model),
        "--output-dir",
        str(out),
        "--max-steps",
        str(steps),
        "--num-generations",
        "2",
        "--per-device-train-batch-size",
        "2",
        "--max-completion-length",
        "8",
        "--train-size",
        "8",
        "--save-steps",
        "2",
    ]


def check_run(result, out: Path, processes: int, steps: list[int], printed: list[int] | None = None):
    """The run exited 0 and wrote one set of metrics files holding ``steps``; its stdout has the dashboard's
    line for each of ``printed`` (default: ``steps``) exactly once, though every process ran them."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["processes"] == processes and summary["steps"] == steps[-1]
    assert summary["compiled_generation"] is False  # a CPU: generate runs eagerly (compiled only on a GPU, 16-bit)
    assert [row["step"] for row in json.loads((out / "metrics.json").read_text())["rows"]] == steps
    assert sorted(p.name for p in out.rglob("metrics.*")) == ["metrics.csv", "metrics.json"]  # one set of files
    for step in steps if printed is None else printed:  # printed by the main process only
        assert len(re.findall(rf"^step {step}/{steps[-1]} \| reward", result.stdout, flags=re.M)) == 1, result.stdout
    assert (out / "adapter" / "adapter_config.json").is_file()
    return summary


@cpu_trainer
def test_two_cpu_processes_train_and_one_resumes(tiny_dir, tmp_path):
    out = tmp_path / "two"
    two = launch(2, *tiny_args(tiny_dir, out, 2), tmp_path=tmp_path)
    summary = check_run(two, out, processes=2, steps=[1, 2])
    assert summary["distributed_type"] == "MULTI_CPU" and summary["batch"]["generation batch (completions)"] == 4
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    # Resume: one process (two CPU processes cannot resume: transformers maps to "cpu:0"; the script says so)
    resumed = launch(1, *tiny_args(tiny_dir, out, 3), "--resume", tmp_path=tmp_path)
    summary = check_run(resumed, out, processes=1, steps=[1, 2, 3], printed=[3])
    assert summary["resumed_from"].endswith("checkpoint-2") and len(summary["step_seconds"]) == 1
    assert "step 1/3" not in resumed.stdout  # it continued from step 2; it did not start again


@cpu_trainer
def test_resume_from_a_folder_without_a_checkpoint_stops_before_loading_or_writing(tiny_dir, tmp_path):
    out = tmp_path / "out"
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (out / "adapter").mkdir()
    (out / "adapter" / "adapter_config.json").write_text("{}")
    (out / "metrics.csv").write_text("step,reward\n1,0.5\n")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}
    adapter, newest = out / "adapter", out / "checkpoints" / "checkpoint-2"
    refused = launch(1, *tiny_args(tiny_dir, out, 3), "--resume", str(adapter), tmp_path=tmp_path)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert (
        f"--resume {adapter}: resume_from_checkpoint={str(adapter)!r}: {adapter} is not a checkpoint (no "
        f"trainer_state.json; it holds adapter_config.json): pass resume_from_checkpoint={str(newest)!r} or True "
        f"(the newest in output_dir). (--resume with no value is resume_from_checkpoint=True with output_dir "
        f"{out / 'checkpoints'}"
    ) in said, said[-3000:]
    assert "config:" not in refused.stdout  # stopped before the model, the data and the config
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()} == before


# ---- slow: only with -m slow


def only_when_asked(request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow (minutes on 2 cores): run with  pytest -m slow tests/test_train_grpo.py")


@pytest.mark.slow
@cpu_trainer
def test_two_cpu_processes_with_the_offline_model(request, tmp_path):
    only_when_asked(request)
    out = tmp_path / "smollm2"
    result = launch(
        2,
        "--output-dir",
        str(out),
        "--max-steps",
        "2",
        "--num-generations",
        "4",
        "--per-device-train-batch-size",
        "2",
        "--max-completion-length",
        "32",
        "--train-size",
        "16",
        "--save-steps",
        "2",
        tmp_path=tmp_path,
    )
    summary = check_run(result, out, processes=2, steps=[1, 2])
    assert "SmolLM2-135M-Instruct" in summary["model"] and summary["preset"] == run_plan().preset
    refused = launch(2, "--output-dir", str(out), "--max-steps", "3", "--resume", tmp_path=tmp_path)
    assert refused.returncode != 0 and "--num_processes 1" in refused.stderr + refused.stdout


@pytest.mark.slow
@cpu_trainer
def test_deepspeed_zero2_on_two_cpu_processes(request, tiny_dir, tmp_path):
    only_when_asked(request)
    pytest.importorskip("deepspeed", reason="deepspeed is not installed (pip install deepspeed, DS_BUILD_OPS=0)")
    out = tmp_path / "zero2"
    command_args = tiny_args(tiny_dir, out, 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRPO_RUN_DIR": str(tmp_path / "run"), "DS_ACCELERATOR": "cpu"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(CONFIGS / "zero2.yaml"),
            "--num_processes",
            "2",
            str(SCRIPT),
            *command_args,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=env,
    )
    summary = check_run(result, out, processes=2, steps=[1, 2])
    assert summary["distributed_type"] == "DEEPSPEED (ZeRO stage 2)"
