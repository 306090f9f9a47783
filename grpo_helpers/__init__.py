"""grpo_helpers: the GRPO tutorial's helpers, one module per concern. Import from the module that holds
what you need (``from grpo_helpers.rewards import correctness_reward``). This file imports nothing, so a
notebook can still import Unsloth (which patches transformers, TRL and PEFT) before them.

| module        | what is in it                                              | chapters |
|---------------|------------------------------------------------------------|----------|
| environment   | the environment switches, the machine, the backend         | all      |
| install       | the install cell's ``ensure_environment()``                 | all      |
| models        | which model, its offline copy, load_model, add_lora, LoRA targets | 01, 02 |
| answers       | reading and comparing final answers                         | 03       |
| rewards       | the reward functions and their pre-flight check             | 03       |
| gsm8k         | loading GSM8K and building the training prompts             | 04       |
| config        | presets, ``make_config`` and the checks TRL does not make   | 05       |
| training      | stop-button save, early stopping, the completion recorder   | 06, 07   |
| dashboard     | the live reward dashboard and its health warnings           | 06       |
| evaluation    | greedy replies, held-out accuracy and intervals, pass@k     | 04, 06, 07, 10 |
| arithmetic    | seeded one/two-step word problems, the CPU curriculum       | 04, 10   |
| tasks         | what a run trains on and is judged on, by the hardware      | 04, 06, 07, 10 |
| grpo_loss     | a GRPO step by hand: advantages, log-probs, KL, every loss  | 08       |
| widgets       | reward playground, config widget, completion browser        | 03, 05, 06 |
"""

__version__ = "0.2.0"
