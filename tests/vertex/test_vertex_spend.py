"""The budget and the ledger against the fake Vertex AI server with the real backend: a job the budget cannot hold
is never posted, and Vertex's billable token count settles the estimate with the actual cost."""

from __future__ import annotations

from pathlib import Path

import pytest
from vertex_fakes import FakeVertex

from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.registry import dispatch
from tools.spend import ledger

# Prices: Gemini 2.5 has published tuning prices and no Gemini 3 row has one yet, so the budget arithmetic runs
# on a day when 2.5 was still tunable (tests/spend/test_prices.py covers a current model priced by the user).
pytestmark = pytest.mark.usefixtures("before_2_5_retired")


@pytest.fixture
def train_uri(vctx: ToolContext, gcs: str, train_file: Path) -> str:
    vctx.workspace.record_dataset(str(train_file.resolve()), {"tokens": 4000, "examples": 40})
    result = dispatch("upload_to_gcs", {"path": str(train_file)}, vctx)
    assert not result.is_error, result.content
    return result.data["uri"]


def job(uri: str) -> dict:
    return {"training_dataset_uri": uri, "base_model": "gemini-2.5-flash", "epochs": 3}  # 12,000 x $5/1M = $0.06


def test_a_job_the_budget_cannot_hold_is_never_posted(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                      approvals, train_uri: str) -> None:
    vctx.spend.limit_usd = 0.05
    refused = dispatch("create_tuning_job", job(train_uri), vctx)
    assert refused.is_error and "$0.0600" in refused.content and "over the budget of $0.0500" in refused.content
    assert not fake.calls("POST", r"tuningJobs$") and not approvals.questions


def test_vertex_billable_tokens_settle_the_estimate_and_can_stop_the_run(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, approvals, train_uri: str) -> None:
    vctx.spend.limit_usd = 0.10
    created = dispatch("create_tuning_job", job(train_uri), vctx)
    assert not created.is_error, created.content
    assert "Budget: $0.0600 of $0.1000 after this job ($0.00 spent in this run so far)." in approvals.questions[0][1]
    job_id = created.data["job"]["job_id"]
    state = created.data["job"]["state"]
    while state != "SUCCEEDED":
        state = dispatch("get_job", {"job_id": job_id}, vctx).data["job"]["state"]
    [row] = ledger.for_job(vctx.workspace, job_id)
    # The fake counts 12,000 billable tokens a pass: x 3 epochs x $5/1M = $0.18, three times the estimate.
    assert (row.estimate_usd, row.actual_usd) == (0.06, 0.18)
    assert "spent $0.1800" in vctx.spend.over() and "budget of $0.1000" in vctx.spend.over()
