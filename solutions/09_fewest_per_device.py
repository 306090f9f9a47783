"""Notebook 09's exercise, solved: ``fewest_per_device``, the smallest ``per_device_train_batch_size`` whose
generation batch across ``processes`` GPUs holds whole groups of ``num_generations`` completions."""

import math


def fewest_per_device(processes: int, steps_per_generation: int, num_generations: int) -> int:
    """The smallest d >= 1 with d x processes x steps_per_generation a multiple of num_generations."""
    return num_generations // math.gcd(num_generations, processes * steps_per_generation)
