"""What the agent counts from tool results and model usage: the endpoint criterion and the price of a model call."""

from __future__ import annotations

import pytest

from agent.criteria import Evidence, evaluate
from agent.models.pricing import call_cost
from tools.backends.base import Checkpoint, JobInfo, JobState
from tools.registry import REGISTRY


class TypedEvidence(Evidence):
    """Evidence fed the tools' own output models, as the loop feeds it."""

    def add(self, tool, arguments, data, is_error, call_id=None):  # noqa: ANN001
        model = REGISTRY.get(tool).output_model
        self.add_output(tool, arguments, model.model_construct(**data))


def endpoint(evidence: Evidence) -> bool:
    return next(c for c in evaluate(None, evidence) if c.key == "endpoint").met


def job(job_id: str, endpoint: str | None = None) -> dict:
    info = JobInfo(job_id=job_id, backend="local", state=JobState.SUCCEEDED, base_model="gemma-3-270m",
                   endpoint=endpoint, checkpoints=[Checkpoint(checkpoint_id="1", endpoint=f"{endpoint}-ckpt-1"
                                                              if endpoint else None)])
    return {"job": info}


def test_only_a_test_of_the_created_jobs_endpoint_counts():
    evidence = TypedEvidence()
    evidence.add("create_tuning_job", {}, job("job-new"), False)
    evidence.add("test_endpoint", {"job_id": "job-old"}, {"ok": True, "endpoint": "http://old"}, False)
    evidence.add("test_endpoint", {"endpoint": "http://elsewhere"}, {"ok": True, "endpoint": "http://elsewhere"}, False)
    assert not endpoint(evidence)
    evidence.add("test_endpoint", {"job_id": "job-new"}, {"ok": True, "endpoint": "http://new"}, False)
    assert endpoint(evidence)


def test_an_endpoint_named_by_the_jobs_own_results_counts():
    evidence = TypedEvidence()
    evidence.add("create_tuning_job", {}, job("job-new"), False)
    evidence.add("get_job", {"job_id": "job-new"}, job("job-new", "http://new"), False)
    evidence.add("test_endpoint", {"endpoint": "http://new-ckpt-1"}, {"ok": True, "endpoint": "http://new-ckpt-1"},
                 False)
    assert endpoint(evidence)


def test_without_a_job_no_endpoint_test_counts():
    evidence = TypedEvidence()
    evidence.add("test_endpoint", {"endpoint": "http://x"}, {"ok": True, "endpoint": "http://x"}, False)
    assert not endpoint(evidence)


@pytest.mark.parametrize("model_id, input_usd, output_usd", [
    ("claude-opus-4-0", 15, 75), ("claude-opus-4-20250514", 15, 75), ("claude-opus-4-1-20250805", 15, 75),
    ("claude-opus-4-5-20251101", 5, 25), ("claude-opus-4-6", 5, 25), ("claude-sonnet-4-6", 3, 15),
    ("claude-haiku-4-5", 1, 5), ("gemini-2.5-pro", 1.25, 10), ("gemini-2.5-flash", 0.30, 2.50),
])
def test_each_model_is_priced_by_its_own_row(model_id, input_usd, output_usd):
    assert call_cost(model_id, 1_000_000, 0) == pytest.approx(input_usd)
    assert call_cost(model_id, 0, 1_000_000) == pytest.approx(output_usd)


def test_an_unknown_model_is_priced_like_the_dearest_so_the_budget_never_under_counts():
    assert call_cost("claude-something-new", 0, 1_000_000) >= call_cost("claude-opus-4-1", 0, 1_000_000)
