"""recommend_hyperparameters: the guide's rows by dataset size and example length, only adapter sizes each model
accepts, a one-line reason for each value, and the local Gemma settings measured on this kind of machine."""

from __future__ import annotations

import pytest

from tools.catalog import catalog
from tools.training.hyperparams import recommend

GUIDE_ROWS = [  # (examples, avg tokens) -> (epochs, learning-rate multiplier, adapter), §3.3 of the reference
    ((300, 120.0), (20, 10.0, 4)),
    ((300, 900.0), (10, 5.0, 4)),
    ((5000, 120.0), (10, 1.0, 4)),
    ((5000, 900.0), (10, 1.0, 8)),
]


@pytest.mark.parametrize(("size", "expected"), GUIDE_ROWS)
def test_guide_rows(size, expected):
    advice = recommend("gemini-2.5-flash", *size)
    assert (advice.epochs.value, advice.learning_rate_multiplier.value, advice.adapter_size.value) == expected


@pytest.mark.parametrize("model", [m.id for m in catalog().models])
@pytest.mark.parametrize("size", [(None, None), (20, 50.0), (300, 900.0), (5000, 900.0), (200_000, 2000.0)])
def test_only_accepted_values_and_one_line_reasons(model, size):
    advice = recommend(model, *size)
    assert advice.adapter_size.value in catalog().get(model).adapter_sizes
    assert advice.epochs.value >= 1 and advice.learning_rate_multiplier.value > 0
    for choice in (advice.epochs, advice.adapter_size, advice.learning_rate_multiplier):
        assert choice.reason and "\n" not in choice.reason


def test_unknown_size_says_so():
    advice = recommend("gemini-2.5-pro", None, None)
    assert "unknown" in advice.epochs.reason


def test_small_and_large_datasets_get_notes():
    assert any("at least 100" in n for n in recommend("gemini-2.5-flash", 40, 100).notes)
    assert any("fewer epochs" in n for n in recommend("gemini-2.5-flash", 50_000, 100).notes)


def test_local_gemma_uses_the_measured_settings():
    advice = recommend("gemma-3-270m", 100, 77)
    assert (advice.epochs.value, advice.adapter_size.value, advice.learning_rate_multiplier.value) == (3, 8, 1.0)
    assert "measured" in advice.epochs.reason and "LoRA rank" in advice.adapter_size.reason
    assert any("min of training" in n for n in advice.notes)
    assert recommend("gemma-3-270m", 12, 50).epochs.value == 5
    assert recommend("gemma-3-270m", 20_000, 50).epochs.value == 1


def test_tool_reads_the_dataset(write_jsonl, good_rows, call):
    rows = good_rows(1200) + [{"contents": []}]  # one invalid example does not count
    result = call("recommend_hyperparameters", training_path=write_jsonl("t.jsonl", rows))
    assert not result.is_error, result.content
    assert result.output.example_count == 1200 and result.output.epochs.value == 10
    assert result.output.avg_tokens is not None
    assert call("recommend_hyperparameters", base_model="gpt-4", example_count=10).is_error
    assert call("recommend_hyperparameters", example_count=-1).is_error
