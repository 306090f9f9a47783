"""One real, tiny GRPO run on the CPU, shared by the dashboard and completion-browser tests.

A 2-layer random-init Llama with the tutorial model's tokenizer, trained by the real
``trl.GRPOTrainer`` for two steps with two reward functions that record what they returned.
The run happens once per test session (``tiny_grpo_run(tiny_dir)`` caches it).
"""

import atexit
import contextlib
import functools
import io
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PROMPTS = ["What is 2 + 3?", "Name a colour.", "Count to three.", "Say hi."]
NUM_GENERATIONS = 2
BATCH = 4  # two prompts per step, two completions each


@dataclass
class Run:
    trainer: object
    folder: Path
    headless: object  # LiveRewardDashboard(mode="headless")
    notebook: object  # LiveRewardDashboard(mode="notebook"), shown through IPython.display
    recorder: object  # CompletionRecorder
    stdout: str
    calls: dict = field(default_factory=dict)  # reward function name -> [(completions, scores)] per call


@functools.lru_cache(maxsize=1)
def tiny_grpo_run(model_dir: Path) -> Run:
    """``model_dir``: the ``tiny_dir`` fixture."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from grpo_helpers.dashboard import LiveRewardDashboard
    from grpo_helpers.training import record_completions

    folder = Path(tempfile.mkdtemp(prefix="grpo_dashboard_test_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    calls = {"length_reward": [], "vowel_reward": []}

    def length_reward(completions, **kwargs):
        scores = [len(c) / 10 for c in completions]
        calls["length_reward"].append((list(completions), scores))
        return scores

    def vowel_reward(completions, **kwargs):
        scores = [float(sum(ch in "aeiou" for ch in c)) for c in completions]
        calls["vowel_reward"].append((list(completions), scores))
        return scores

    config = GRPOConfig(
        output_dir=str(folder / "out"),
        use_cpu=True,
        max_steps=2,
        num_generations=NUM_GENERATIONS,
        per_device_train_batch_size=BATCH,
        max_completion_length=8,
        learning_rate=1e-2,
        beta=0.1,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=3,
        temperature=1.0,
        disable_tqdm=True,
        log_completions=True,
        num_completions_to_print=0,  # TRL saves each step's completions: the recorder reads them
    )
    headless = LiveRewardDashboard(mode="headless")  # saves beside the run: config.output_dir
    notebook = LiveRewardDashboard(output_dir=folder / "notebook", mode="notebook", every_seconds=0)
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        reward_funcs=[length_reward, vowel_reward],
        args=config,
        train_dataset=Dataset.from_dict({"prompt": PROMPTS * 2}),
        callbacks=[headless],
    )
    trainer.add_callback(notebook)
    recorder = record_completions(trainer)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        trainer.train()
    return Run(trainer, folder, headless, notebook, recorder, out.getvalue(), calls)
