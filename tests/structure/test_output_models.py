"""What a model reads is what a tool returned: the text a brain sees leaves out every field that is None, so every
output model must read that text back as the same result (the offline planner reads it so when it has no typed
record: a replayed conversation, a PlannerModel used on its own)."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from agent.models.planner_history import read_history
from tools.registry import REGISTRY
from tools.render import render_for_model
from tools.training.hyperparams import recommend


def _models(annotation: typing.Any) -> list[type[BaseModel]]:
    found = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    return found + [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _nullable(annotation: typing.Any) -> bool:
    return annotation is typing.Any or annotation is type(None) or type(None) in typing.get_args(annotation)


def test_every_field_that_may_be_none_has_a_default_so_the_rendered_text_reads_back():
    seen: set[type[BaseModel]] = set()
    required_but_nullable = []
    todo = [t.output_model for t in REGISTRY.load().all()]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.is_required() and _nullable(field.annotation):
                required_but_nullable.append(f"{model.__module__}.{model.__name__}.{name}")
            todo += _models(field.annotation)
    assert len(seen) > 30  # every tool's output and the models inside it were walked
    assert not required_but_nullable, "give these `= None`: the text a brain sees leaves None out"


def test_the_planner_reads_a_rendered_result_with_none_fields_as_the_tool_returned_it():
    advice = recommend("gemma-3-270m", None, None)  # no dataset: example_count and avg_tokens are None
    text = render_for_model("recommend_hyperparameters", advice, None)
    assert "example_count" not in text
    messages = [{"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "recommend_hyperparameters",
                                                   "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": text}]}]
    _, (seen,) = read_history(messages)
    assert seen.output == advice
