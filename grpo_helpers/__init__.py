"""grpo_helpers: the small helper package of the GRPO tutorial, one module per concern.

Import from the module that holds what you need (``from grpo_helpers.rewards import
correctness_reward``). This file imports nothing, so ``import grpo_helpers`` stays light and a
notebook can still import Unsloth before transformers, TRL and PEFT (Unsloth patches them when it
is imported; every module here imports those libraries only inside the functions that use them,
or is imported after Unsloth).

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
| evaluation    | greedy replies and held-out accuracy                        | 06, 07   |
| widgets       | reward playground, config widget, completion browser        | 03, 05, 06 |
"""

__version__ = "0.2.0"
