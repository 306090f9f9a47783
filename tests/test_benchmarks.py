"""The benchmark scripts' own logic: the settings parser and the table they share, the summaries
they compute, and tiny GPU-benchmark runs on the CPU (the same code path as on the GPU, in a child process)."""

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import cpu_table, gpu_backends, gpu_generation
from benchmarks.common.learning_summary import learning_numbers
from benchmarks.common.settings import parse_settings
from benchmarks.common.tables import markdown_table
from grpo_helpers.dashboard import quarter_means
from tiny_model import cpu_trainer


def test_settings_are_python_values_or_strings():
    assert parse_settings(["learning_rate=2e-4", "reward_weights=[1, 0]", "loss_type=dapo", "bf16=False"]) == {
        "learning_rate": 2e-4, "reward_weights": [1, 0], "loss_type": "dapo", "bf16": False,
    }  # fmt: skip
    with pytest.raises(SystemExit, match="expected NAME=VALUE, got 'learning_rate'"):
        parse_settings(["learning_rate"])


def test_a_table_fills_short_rows_and_refuses_long_ones():
    assert markdown_table(["run", "s/step", "tokens/s"], [["a", 1.5, None], ["b", "failed: exit code 1"]]) == (
        "| run | s/step | tokens/s |\n|---|---|---|\n| a | 1.5 | None |\n| b | failed: exit code 1 |  |\n"
    )
    with pytest.raises(ValueError, match="more cells than the 2 columns"):
        markdown_table(["run", "s/step"], [["a", 1, 2]])


def test_the_cpu_table_has_a_row_of_ten_cells_per_committed_summary():
    folder = Path(__file__).resolve().parents[1] / "docs" / "results"
    summaries = [s for s in cpu_table.rows(folder) if "correctness_first_quarter" in s]
    lines = cpu_table.table(summaries).splitlines()
    assert summaries and len(lines) == 2 + len(summaries) and all(line.count("|") == 11 for line in lines)
    assert lines[2].startswith(f"| {cpu_table.arm(summaries[0])} | {summaries[0]['wall_clock_seconds']} |")


def test_variants_name_a_backend_and_their_settings():
    variant = gpu_backends.parse_variant("gen4:unsloth:steps_per_generation=4,rounds=2,warmup_rounds=1")
    assert variant == {
        "label": "gen4",
        "backend": "unsloth",
        "settings": {"steps_per_generation": 4, "rounds": 2, "warmup_rounds": 1},
    }
    assert gpu_backends.parse_variant("plain:bitsandbytes")["settings"] == {}
    with pytest.raises(SystemExit, match="BACKEND one of"):
        gpu_backends.parse_variant("fast:vllm:steps=2")
    with pytest.raises(SystemExit):
        gpu_backends.parse_args(["--model", "m", "--rounds", "0"])  # nothing left to time


def test_quarter_means_and_the_reward_ratio():
    assert quarter_means([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) == (pytest.approx(0.15), pytest.approx(0.75))
    rows = [{"reward": r, "completions/mean_length": 10.0} for r in (0.25, 0.25, 0.5, 0.5)]
    numbers = learning_numbers(rows, completions_per_step=8, train_seconds=40.0, generation_seconds=16.0)
    assert numbers["reward_ratio_last_to_first"] == 2.0 and numbers["seconds_per_step"] == 10.0
    assert numbers["generated_tokens"] == 320 and numbers["generated_tokens_per_second"] == 20.0
    with pytest.raises(ValueError, match="no logged steps"):
        quarter_means([])


def test_the_table_and_ratios_come_from_the_run_files(tmp_path):
    runs = {
        "unsloth": {
            "label": "unsloth",
            "backend": "unsloth",
            "load_in_4bit": True,
            "seconds_per_step": 10.0,
            "steps_per_second": 0.1,
            "generated_tokens_per_second": 200.0,
            "generation_share": 0.9,
            "peak_memory_gib": 1.5,
        },
        "bitsandbytes": {
            "label": "bitsandbytes",
            "backend": "bitsandbytes",
            "load_in_4bit": True,
            "seconds_per_step": 25.0,
            "steps_per_second": 0.04,
            "generated_tokens_per_second": 80.0,
            "generation_share": 0.9,
            "peak_memory_gib": 2.5,
        },
    }
    for label, run in runs.items():
        (tmp_path / f"{label}.json").write_text(json.dumps(run))
    loaded = gpu_backends.load_results(tmp_path)
    assert list(loaded) == ["unsloth", "bitsandbytes"]
    assert gpu_backends.ratios(loaded, "unsloth", "bitsandbytes") == {
        "steps_per_second": 2.5, "generated_tokens_per_second": 2.5, "peak_memory": 0.6,
    }  # fmt: skip
    table = gpu_backends.report(loaded)
    assert "| unsloth | Unsloth + TRL | 4-bit | 10.00 | 10.00, 10.00 (1 rounds) | 200.0 | 90% | 1.5 |" in table
    assert "unsloth / bitsandbytes: steps_per_second x2.5" in table


@cpu_trainer
def test_a_tiny_run_in_a_child_process_measures_each_step(tmp_path, tiny_dir):
    model = tiny_dir
    out = tmp_path / "results"
    status = gpu_backends.main(
        [
            "--model",
            str(model),
            "--backends",
            "transformers",
            "--preset",
            "quick_cpu",
            "--rounds",
            "2",
            "--warmup-rounds",
            "1",
            "--set",
            "max_completion_length=8",
            "--set",
            "num_generations=2",
            "--set",
            "per_device_train_batch_size=2",
            "--lora-rank",
            "4",
            "--max-seq-length",
            "512",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    run = json.loads((out / "transformers.json").read_text())
    assert len(run["step_seconds"]) == 3 and run["seconds_per_step"] > 0
    assert run["steps_per_round"] == 1 and len(run["round_seconds_per_step"]) == 2  # a CPU generates every step
    assert [call["completions"] for call in run["generation_calls"]] == [2, 2, 2]
    assert all(0 < call["tokens"] <= 2 * 8 for call in run["generation_calls"])
    assert run["config"]["max_completion_length"] == 8 and run["peak_memory_gib"] is None  # no GPU here
    assert {"python", "torch", "transformers", "trl", "peft"} <= set(run["versions"])
    summary = json.loads((out / "summary.json").read_text())
    assert [r["label"] for r in summary["runs"]] == ["transformers"]
    assert "| transformers | transformers + PEFT + TRL |" in (out / "table.md").read_text()


def test_generation_speed_runs_each_candidate_in_a_child_process(tmp_path, tiny_dir):
    out = tmp_path / "generation"
    status = gpu_generation.main(["--model", str(tiny_dir), "--quick", "--backends", "transformers",
                                  "--candidates", "dynamic", "unsloth-inference", "--out", str(out)])  # fmt: skip
    assert status == 0
    run = json.loads((out / "transformers.json").read_text())
    dynamic, unsloth = run["candidates"]
    assert (
        run["completions"] == 4
        and run["max_new_tokens"] == 8
        and unsloth == {"candidate": "unsloth-inference", "skipped": "Unsloth only"}
    )
    assert dynamic["tokens_per_second"] > 0 and len(dynamic["seconds"]) == 1 and dynamic["x_over_bandwidth_limit"] > 1
    assert (
        run["bytes_per_decoding_step"]["weights"] > 0 and "| transformers | dynamic |" in (out / "table.md").read_text()
    )


def test_a_random_model_of_a_model_folder_keeps_its_config_and_counts_as_its_offline_copy(tmp_path, tiny_dir):
    from benchmarks.common.random_models import make_random_model
    from grpo_helpers import models

    source = tmp_path / "source"
    shutil.copytree(tiny_dir, source)
    (source / models.CONVERSION_FILE).write_text(json.dumps({"version": models.CONVERSION_VERSION}))
    out = tmp_path / "random"
    make_random_model(str(source), str(source), str(out), seed=1, dtype="float32")
    assert (out / "config.json").read_text() == (source / "config.json").read_text()
    assert "random_init" in json.loads((out / models.CONVERSION_FILE).read_text())
    assert models._is_complete(out)  # resolve_model takes it where it looks for the offline copy
    with pytest.raises(ValueError, match="neither a model folder"):
        make_random_model(str(tmp_path / "nowhere"), str(source), str(tmp_path / "x"))


def test_the_loss_type_table_groups_runs_that_took_the_same_path():
    from benchmarks.loss_types import PATH_FIGURES, same_paths

    def run(seed, correctness, seconds):
        summary = {figure: 0.5 for figure in PATH_FIGURES} | {"seed": seed, "correctness_per_step": correctness}
        return summary | {"eval_after": {"generated": {"correct": 45, "format_rate": 0.98, "seconds": seconds}}}

    runs = {
        "grpo": [run(0, [0.25, 0.5], 94.7), run(1, [0.0, 0.5], 90.0)],
        "gspo": [run(0, [0.25, 0.5], 92.9), run(1, [0.0, 0.25], 90.0)],  # the time of the evaluation does not count
        "dapo": [run(0, [0.25, 0.0], 94.7)],
    }
    assert same_paths(runs) == {0: [["grpo", "gspo"], ["dapo"]], 1: [["grpo"], ["gspo"]]}
