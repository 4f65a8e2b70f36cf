"""The offline planner: reading goals, and choosing the next step from the conversation alone."""

from __future__ import annotations

import json

import pytest

from agent.goal import parse_goal
from agent.models.planner import PlannerModel


@pytest.mark.parametrize("text, expected", [
    ("Tune gemini-2.5-flash on data/train.jsonl, validate with data/val.jsonl, project my-proj",
     dict(training="data/train.jsonl", validation="data/val.jsonl", base_model="gemini-2.5-flash", project="my-proj")),
    ("Tune gemma-3-270m on examples/data/train.jsonl with validation examples/data/val.jsonl, 2 epochs, "
     "adapter size 4, learning rate multiplier 0.5",
     dict(training="examples/data/train.jsonl", validation="examples/data/val.jsonl", epochs=2, adapter_size=4,
          learning_rate_multiplier=0.5)),
    ('fine tune on "my data/train.jsonl" in europe-west4, bucket gs://my-bucket/tuning, lr 2',
     dict(training="my data/train.jsonl", region="europe-west4", bucket="gs://my-bucket", learning_rate_multiplier=2.0)),
    ("validate data/train.jsonl then tune locally for 3 epochs", dict(training="data/train.jsonl", validation=None,
                                                                      backend="local", epochs=3)),
    ("train.jsonl and dev.jsonl on Vertex AI with rank 8", dict(training="train.jsonl", validation="dev.jsonl",
                                                                 backend="vertex", adapter_size=8)),
    ("tune something nice", dict(training=None, base_model=None, epochs=None)),
])
def test_goal_parsing(text, expected):
    goal = parse_goal(text)
    for key, value in expected.items():
        assert getattr(goal, key) == value, key


def turn(model, messages):
    return model.complete("", messages, []).message["content"]


def tool_use(content):
    return next(b for b in content if b["type"] == "tool_use")


def answer(messages, content, result, is_error=False):
    """Append the planner's turn and a tool result for its (first) call."""
    call = tool_use(content)
    messages += [{"role": "assistant", "content": content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                               "content": result if is_error else json.dumps(result),
                                               "is_error": is_error}]}]


def test_one_shot_without_a_dataset_fails_naming_what_is_missing():
    content = turn(PlannerModel(), [{"role": "user", "content": "tune something"}])
    assert content[0]["type"] == "text" and "training dataset" in content[0]["text"]
    assert "one-shot" in content[0]["text"]


def test_interactive_asks_and_uses_the_answer():
    model = PlannerModel(interactive=True)
    messages = [{"role": "user", "content": "tune something"}]
    question = turn(model, messages)
    assert question == [{"type": "text", "text": question[0]["text"]}] and question[0]["text"].endswith("convert).")
    messages += [{"role": "assistant", "content": question}, {"role": "user", "content": "use data/t.jsonl"}]
    assert tool_use(turn(model, messages))["name"] == "check_environment"


def test_a_gemini_goal_on_the_local_backend_is_a_gemma_rehearsal_said_plainly():
    messages = [{"role": "user", "content": "Tune gemini-2.5-flash on data/t.jsonl"}]
    content = turn(PlannerModel(backend="local"), messages)
    assert "Rehearsing on this machine with gemma-3-270m" in content[0]["text"]
    answer(messages, content, {"ok": True, "checks": []})
    call = tool_use(turn(PlannerModel(backend="local"), messages))
    assert call["name"] == "validate_dataset" and call["input"]["base_model"] == "gemma-3-270m"


def test_vertex_needs_a_bucket():
    content = turn(PlannerModel(backend="vertex"), [{"role": "user", "content": "Tune gemini-2.5-flash on d/t.jsonl"}])
    assert "bucket" in content[0]["text"]


def test_broken_data_is_repaired_then_revalidated_with_the_copy():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    answer(messages, turn(model, messages), {"ok": True, "checks": []})
    answer(messages, turn(model, messages), {"ok": False, "train": {"errors": 3}, "report_path": "/r.json"})
    fix = tool_use(turn(model, messages))
    assert fix == {**fix, "name": "fix_dataset", "input": {"path": "data/t.jsonl"}}
    answer(messages, [{"type": "tool_use", **fix}], {"output_path": "data/t.fixed.jsonl"})
    again = tool_use(turn(model, messages))
    assert again["name"] == "validate_dataset" and again["input"]["path"] == "data/t.fixed.jsonl"
    answer(messages, [{"type": "tool_use", **again}], {"ok": False, "train": {"errors": 1}, "report_path": "/r2"})
    stop = turn(model, messages)
    assert stop[0]["type"] == "text" and "still has errors" in stop[0]["text"] and "/r2" in stop[0]["text"]


def test_declined_job_stops_without_retrying():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    content = turn(model, messages)
    answer(messages, content, "The user declined: Tuning costs $4.00. Nothing was done.", is_error=True)
    stop = turn(model, messages)
    assert stop[0]["type"] == "text" and "nothing was spent" in stop[0]["text"]


def test_explicit_hyperparameters_win_over_recommendations():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl, 7 epochs"}]
    answer(messages, turn(model, messages), {"ok": True, "checks": []})
    answer(messages, turn(model, messages), {"ok": True, "train": {"errors": 0}})
    answer(messages, turn(model, messages), {"epochs": {"value": 3}, "adapter_size": {"value": 8},
                                             "learning_rate_multiplier": {"value": 1.0}})
    estimate = tool_use(turn(model, messages))
    assert estimate["name"] == "estimate_cost" and estimate["input"]["epochs"] == 7
    answer(messages, [{"type": "tool_use", **estimate}], {"training_cost_usd": 0})
    upload = tool_use(turn(model, messages))
    answer(messages, [{"type": "tool_use", **upload}], {"uri": "local://t"})
    create = tool_use(turn(model, messages))
    assert create["name"] == "create_tuning_job"
    assert create["input"] == {"training_dataset_uri": "local://t", "base_model": "gemma-3-270m", "epochs": 7,
                               "adapter_size": 8, "learning_rate_multiplier": 1.0, "backend": "local"}
