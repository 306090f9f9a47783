"""The tutorial's prompt until 2026-12-03, which the CPU benchmarks can still train and time with
(``cpu_learning --prompt previous``, ``step_timing``'s ``previous-prompt`` candidates): 174 prompt
tokens on GSM8K, 135 on a one-step problem; the present one is about 30% shorter. Its results are
in docs/benchmarks.md, *The prompt*."""

PREVIOUS_SYSTEM = (
    "You are a careful math tutor. Solve the problem. Think step by step, then give the final "
    "answer as a single number inside answer tags, like this: <answer>42</answer>. Write nothing "
    "after the answer tags."
)
PREVIOUS_EXAMPLE = (
    "Tom has 3 apples and buys 4 more. How many apples does he have now?",
    "Tom has 3 + 4 = 7 apples.\n<answer>7</answer>",
)
