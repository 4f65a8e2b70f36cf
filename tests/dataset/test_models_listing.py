"""list_models and `gto models`: every base model with its lifecycle on the pinned day, limits and prices (unknown
ones shown as unknown, never 0), and the workspace's tuned models with their base model's status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from agent.cli import app
from tools.backends.base import JobInfo, JobState
from tools.workspace import Workspace

runner = CliRunner()


def tuned(job_id: str, base_model: str, state: JobState = JobState.SUCCEEDED) -> JobInfo:
    return JobInfo(job_id=job_id, backend="vertex", state=state, base_model=base_model, created_at=datetime.now(UTC),
                   endpoint=f"projects/p/locations/us-central1/endpoints/{job_id[-1]}")


def test_list_models_gives_status_dates_successor_and_prices(call) -> None:
    out = call("list_models").output
    rows = {r.id: r for r in out.base_models}
    assert out.on == "2026-12-07"
    assert rows["gemini-2.5-flash"].status == "retired" and rows["gemini-2.5-flash"].lifecycle.successor == \
        "gemini-3.5-flash-lite"
    assert rows["gemini-3.5-flash-lite"].default_for == ["tuning"] and rows["gemini-3.8-flash"].default_for == \
        ["brain"]
    assert rows["gemini-3.8-flash"].thinking == "level LOW" and rows["gemini-2.5-pro"].thinking == "budget 128"
    assert rows["gemini-3.8-flash"].tuning_per_m is None and rows["gemini-3.8-flash"].input_per_m == 0.75
    assert "sft_support" in rows["gemini-3.8-flash"].unconfirmed
    assert "gemini-2.5" not in out.summary.split("default")[0]
    current = call("list_models", include_retired=False).output
    assert {r.status for r in current.base_models} == {"current"}


def test_tuned_models_carry_their_base_models_status(call, ctx) -> None:
    ctx.workspace.record_job(tuned("projects/p/locations/us-central1/tuningJobs/1", "gemini-2.5-flash"))
    ctx.workspace.record_job(tuned("projects/p/locations/us-central1/tuningJobs/2", "gemini-3.5-flash-lite"))
    ctx.workspace.record_job(tuned("projects/p/locations/us-central1/tuningJobs/3", "gemini-3.5-flash-lite",
                                   JobState.RUNNING))
    out = call("list_models", tuned=True).output
    rows = {r.job_id[-1]: r for r in out.tuned_models}
    assert set(rows) == {"1", "2"}  # only succeeded jobs have a tuned model
    assert rows["1"].base_status == "retired" and rows["1"].successor == "gemini-3.5-flash-lite"
    assert "no longer answers" in rows["1"].note
    assert rows["2"].base_status == "current" and rows["2"].note == ""
    assert "1 on a retiring or retired base model" in out.summary


def test_gto_models_prints_a_table_and_json(isolated) -> None:
    table = runner.invoke(app, ["models"], env={"COLUMNS": "160"})
    assert table.exit_code == 0, table.output
    assert "gemini-2.5-flash" in table.output and "retired" in table.output and "2026-10-20" in table.output
    assert "gemini-3.5-flash-lite" in table.output and "unknown" in table.output
    data = json.loads(runner.invoke(app, ["models", "--json"]).output)
    assert {r["id"]: r["status"] for r in data["base_models"]}["gemini-2.0-flash-001"] == "retired"
    Workspace(isolated).record_job(tuned("projects/p/locations/us-central1/tuningJobs/7", "gemini-2.5-pro"))
    listed = json.loads(runner.invoke(app, ["models", "--tuned", "--json"]).output)
    assert listed["tuned_models"][0]["successor"] == "gemini-3.8-flash"


def test_gto_retune_of_an_unknown_job_exits_1_with_the_reason(isolated) -> None:
    result = runner.invoke(app, ["retune", "no-such-job", "--base-model", "gemini-3.5-flash"])
    assert result.exit_code == 1 and "No job 'no-such-job' is known" in result.output
