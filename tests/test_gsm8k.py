import pytest

from grpo_helpers.gsm8k import load_gsm8k


@pytest.mark.parametrize("split, rows", [("train", 7473), ("test", 1319)])
def test_bundled_gsm8k(split, rows):
    ds = load_gsm8k(split, source="bundled")
    assert ds.num_rows == rows and set(ds.column_names) == {"question", "answer"}
    # every reference solution ends with its final answer after "####"
    finals = [a.rsplit("####", 1)[1].strip() for a in ds["answer"]]
    assert all(a.count("####") == 1 for a in ds["answer"])
    assert all(f.replace(",", "").lstrip("-").replace(".", "", 1).isdigit() for f in finals)
    assert ds[0]["answer"].endswith("#### 72") if split == "train" else True


def test_offline_auto_uses_the_bundled_copy_fast(monkeypatch):
    import grpo_helpers.gsm8k as gsm8k

    monkeypatch.setattr(gsm8k, "hub_reachable", lambda: False)
    assert load_gsm8k("test").num_rows == 1319


def test_bad_split_and_source():
    with pytest.raises(ValueError, match="splits"):
        load_gsm8k("validation")
    with pytest.raises(ValueError, match="source"):
        load_gsm8k("train", source="kaggle")


def test_license_ships_with_the_data():
    from grpo_helpers.gsm8k import BUNDLED_DIR

    assert "MIT License" in (BUNDLED_DIR / "LICENSE").read_text()


def test_solutions_rewritten_in_the_answer_format_for_priming():
    from grpo_helpers.gsm8k import answer_format_solution, sft_example, training_prompt
    from grpo_helpers.rewards import correctness_reward, strict_format_reward

    train = load_gsm8k("train", source="bundled")
    row = train[0]  # "Natalia sold 48/2 = <<48/2=24>>24 clips in May. ... #### 72"
    text = answer_format_solution(row["answer"])
    assert text.endswith("\n<answer>72</answer>") and "<<" not in text and "####" not in text
    assert text.startswith("Natalia sold 48/2 = 24 clips in May.")
    solutions = [answer_format_solution(a) for a in train.select(range(200))["answer"]]
    assert strict_format_reward(None, solutions) == [0.5] * 200  # each is what the format rewards pay for
    truths = [a.rsplit("####", 1)[1].strip().replace(",", "") for a in train.select(range(200))["answer"]]
    assert correctness_reward(None, solutions, truths) == [2.0] * 200
    example = sft_example(row)
    assert example["prompt"] == training_prompt(row["question"])
    assert example["completion"] == [{"role": "assistant", "content": text}]
    with pytest.raises(KeyError, match="'answer'"):
        sft_example({"question": "q"})
