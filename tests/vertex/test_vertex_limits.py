"""Per-model limits are checked before anything is sent or asked: each refusal names the problem and the way out."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from vertex_fakes import Approvals
from vertex_fakes import FakeVertex

import tools.catalog
from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.training.jobs import CreateTuningJobInput, check_limits
from tools.errors import ToolError
from tools.registry import dispatch

TRAIN = "gs://gto-test-data/train.jsonl"


def refused(ctx: ToolContext, fake: FakeVertex, approvals: Approvals, **args: Any) -> str:
    result = dispatch("create_tuning_job", {"training_dataset_uri": TRAIN, **args}, ctx)
    assert result.is_error, result.content
    assert fake.requests == [] and approvals.questions == [], "nothing may be sent or asked before the checks"
    return result.content


def test_adapter_size_the_model_does_not_take(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                              approvals: Approvals, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.catalog, "clock", lambda: date(2026, 6, 1))  # 2.5 Pro, the one with [1..8], was live
    message = refused(vctx, fake, approvals, base_model="gemini-2.5-pro", adapter_size=16)
    assert "gemini-2.5-pro accepts adapter sizes [1, 2, 4, 8], not 16" in message


def test_gemini_3_outside_its_tuning_regions(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                             approvals: Approvals) -> None:
    vctx.settings.region = "us-east1"
    message = refused(vctx, fake, approvals, base_model="gemini-3.5-flash")
    assert "cannot be tuned in us-east1" in message and "export GOOGLE_CLOUD_LOCATION=us" in message


@pytest.mark.parametrize("model, successor", [("gemini-2.5-flash", "gemini-3.5-flash-lite"),
                                              ("gemini-2.5-pro", "gemini-3.8-flash")])
def test_a_retired_model_is_refused_before_anything_with_its_successor(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, approvals: Approvals, model: str,
        successor: str) -> None:
    message = refused(vctx, fake, approvals, base_model=model)
    assert f"{model} was retired on 2026-10-20" in message and f"base_model='{successor}'" in message


def test_a_model_blocked_for_new_tuning_is_refused(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                   approvals: Approvals, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.catalog, "clock", lambda: date(2026, 10, 1))
    message = refused(vctx, fake, approvals, base_model="gemini-2.5-flash")
    assert "blocked for new tuning since 2026-09-20 and retires on 2026-10-20" in message


def test_near_retirement_the_job_starts_with_a_warning(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                       approvals: Approvals, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.catalog, "clock", lambda: date(2026, 9, 1))
    result = dispatch("create_tuning_job", {"training_dataset_uri": TRAIN, "base_model": "gemini-2.5-flash"}, vctx)
    assert not result.is_error, result.content
    assert any("retires on 2026-10-20" in w for w in result.data["warnings"])


def test_too_many_validation_rows_names_the_file(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                 approvals: Approvals, tmp_path: Path) -> None:
    local = tmp_path / "val.jsonl"
    local.write_text("{}\n")
    vctx.workspace.record_dataset(str(local), {"examples": 6000})
    vctx.workspace.record_dataset("gs://gto-test-data/val.jsonl", {"source": str(local)})
    message = refused(vctx, fake, approvals, validation_dataset_uri="gs://gto-test-data/val.jsonl")
    assert f"The validation file {local} has 6000 examples; at most 5000" in message


def test_local_path_instead_of_cloud_storage(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                             approvals: Approvals) -> None:
    result = dispatch("create_tuning_job", {"training_dataset_uri": "data/train.jsonl"}, vctx)
    assert result.is_error and "upload_to_gcs" in result.content and fake.requests == []


def test_bad_label_and_bad_epochs(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                  approvals: Approvals) -> None:
    assert "label key 'Team'" in refused(vctx, fake, approvals, labels={"Team": "x"})
    assert "epochs" in refused(vctx, fake, approvals, epochs=0)


def test_model_and_backend_must_match(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                      approvals: Approvals) -> None:
    assert "tuned on this machine" in refused(vctx, fake, approvals, base_model="gemma-3-270m")
    args = CreateTuningJobInput(training_dataset_uri="/tmp/train.jsonl", base_model="gemini-3.5-flash-lite")
    with pytest.raises(ToolError, match="base_model='gemma-3-270m'"):
        check_limits(args, SimpleNamespace(name="local"), vctx)


def test_evaluation_only_where_the_service_offers_it(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                     approvals: Approvals) -> None:
    vctx.settings.region = "europe-west4"
    message = refused(vctx, fake, approvals, evaluation_metrics=["bleu"],
                      evaluation_output_uri="gs://gto-test-data/eval/")
    assert "only in us-central1" in message


@pytest.mark.parametrize("model, level, budget", [
    ("gemini-3.8-flash", "LOW", None),  # rejects MINIMAL with a 400 (catalog: thinking_min_level)
    ("gemini-3.5-flash-lite", "MINIMAL", None), ("gemini-2.5-pro", None, 128), ("gemini-2.5-flash", None, 0)])
def test_tuned_endpoints_think_as_little_as_each_model_allows(model: str, level: str | None,
                                                             budget: int | None) -> None:
    from tools.backends.vertex.inference import thinking_config
    from tools.catalog import catalog

    config = thinking_config(catalog().get(model))
    assert (getattr(config.thinking_level, "value", config.thinking_level), config.thinking_budget) == (level, budget)
    assert thinking_config(catalog().get("gemini-2.0-flash-001")) is None
