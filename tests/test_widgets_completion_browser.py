"""The completion recorder and browser: what they show for a logged step is what the reward
functions returned, with TRL's group-relative advantages."""

import statistics

import pytest
from transformers import TrainerState

from grpo_helpers.training import CompletionRecorder, as_text, record_completions
from grpo_helpers.widgets import completion_browser, render_html
from grpo_run import NUM_GENERATIONS, tiny_grpo_run
from tiny_model import cpu_trainer

pytestmark = cpu_trainer


@pytest.fixture(scope="module")
def run(tiny_dir):
    return tiny_grpo_run(tiny_dir)


def test_each_logged_step_holds_what_the_reward_functions_returned(run):
    recorder = run.recorder
    assert sorted(recorder.steps) == [1, 2]  # one generation per step, logging_steps=1
    for step in (1, 2):
        records = recorder.completions(step)
        for name, calls in run.calls.items():
            completions, scores = calls[step - 1]
            assert [r.completion for r in records] == completions
            assert [r.rewards[name] for r in records] == pytest.approx(scores)
        assert [r.total for r in records] == pytest.approx(
            [
                a + b
                for a, b in zip(
                    run.calls["length_reward"][step - 1][1], run.calls["vowel_reward"][step - 1][1], strict=True
                )
            ]
        )


def test_advantages_are_relative_to_each_prompt_group(run):
    records = run.recorder.completions(1)
    groups = {}
    for record in records:
        groups.setdefault(record.group, []).append(record)
    assert len(groups) == 2 and all(len(g) == NUM_GENERATIONS for g in groups.values())
    for group in groups.values():
        assert len({r.prompt for r in group}) == 1 and [r.index for r in group] == list(range(NUM_GENERATIONS))
        totals = [r.total for r in group]
        mean, std = statistics.mean(totals), statistics.stdev(totals)  # TRL: group mean, unbiased group std
        assert [r.advantage for r in group] == pytest.approx([(t - mean) / (std + 1e-4) for t in totals], abs=1e-3)


def test_filters_by_step_and_by_reward(run):
    recorder = run.recorder
    everything = recorder.completions()
    assert len(everything) == 2 * 4 and {r.step for r in everything} == {1, 2}
    scores = [r.rewards["vowel_reward"] for r in recorder.completions(2)]
    middle = sorted(scores)[1]
    kept = recorder.completions(2, reward="vowel_reward", low=middle)
    assert sorted(r.rewards["vowel_reward"] for r in kept) == sorted(s for s in scores if s >= middle)
    assert all(r.total <= 16 for r in recorder.completions(None, high=16))
    with pytest.raises(KeyError, match="recorded steps: 1, 2"):
        recorder.completions(7)
    with pytest.raises(KeyError, match="choose one of total, length_reward, vowel_reward"):
        recorder.completions(1, reward="correctness")


def test_the_browser_shows_the_chosen_step_and_range(run):
    browser = completion_browser(run.recorder)
    assert browser.step.options == (1, 2) and browser.step.value == 2  # follows the run: newest step
    assert browser.shown == run.recorder.completions(2)
    shown = browser.select(step=1, reward="length_reward")
    assert shown == run.recorder.completions(1)  # the range resets to the whole range of that reward
    best = max(r.rewards["length_reward"] for r in shown)
    top = browser.select(low=best)
    assert top and all(r.rewards["length_reward"] == best for r in top)
    assert "Step 1" in browser.summary.value and f"showing {len(top)} of 4" in browser.summary.value
    for record in top:
        assert f"{record.advantage:+.3f}" in browser.table.value
    with pytest.raises(KeyError, match="was not recorded"):
        browser.select(step=9)


def write_table(run, step, from_step):
    """Write step ``step``'s completions table as TRL does, holding the batch TRL saved at ``from_step``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = run.recorder.folder
    table = pq.read_table(folder / f"completions_{from_step:05d}.parquet").to_pylist()
    pq.write_table(
        pa.Table.from_pylist([{**row, "step": step} for row in table]), folder / f"completions_{step:05d}.parquet"
    )


def test_the_browser_follows_new_steps_as_they_are_recorded(run):
    recorder = CompletionRecorder(run.trainer)  # the run's own tables are older: not this recorder's
    browser = completion_browser(recorder)
    assert browser.shown == [] and "No step recorded yet" in browser.summary.value
    write_table(run, 5, from_step=2)
    recorder.on_step_begin(run.trainer.args, TrainerState(global_step=5), None)
    assert browser.step.value == 5
    assert [(r.completion, r.rewards) for r in browser.shown] == [
        (r.completion, r.rewards) for r in run.recorder.completions(2)
    ]
    write_table(run, 6, from_step=2)  # the same generation batch again (steps_per_generation > 1): not a new step
    recorder.on_log(run.trainer.args, TrainerState(global_step=6), None, logs={"reward": 1.0})
    assert list(recorder.steps) == [5]
    for step in (5, 6):
        (recorder.folder / f"completions_{step:05d}.parquet").unlink()


def test_render_html_escapes_text_and_says_when_nothing_matches(run):
    record = run.recorder.completions(1)[0]
    html = render_html([record], run.recorder.reward_names())
    assert "<th>length_reward</th>" in html and "<th>advantage</th>" in html
    assert "No completions match" in render_html([], run.recorder.reward_names())
    assert as_text([{"role": "user", "content": "<b>2+2</b>"}]) == "user: <b>2+2</b>"
    assert as_text([{"role": "assistant", "content": "4"}]) == "4"
    from dataclasses import replace

    assert "&lt;b&gt;" in render_html([replace(record, completion="<b>x</b>")], run.recorder.reward_names())


def test_bad_input_says_what_to_pass(run):
    with pytest.raises(TypeError, match="not a trl.GRPOTrainer"):
        record_completions(object())
    run.trainer.args.log_completions = False
    try:
        with pytest.raises(ValueError, match="set log_completions=True"):
            record_completions(run.trainer)
    finally:
        run.trainer.args.log_completions = True
    with pytest.raises(TypeError, match="record_completions"):
        completion_browser(run.trainer)
    with pytest.raises(ValueError, match="keep must be"):
        CompletionRecorder(run.trainer, keep=0)
