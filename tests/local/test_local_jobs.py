"""The job lifecycle through the real background trainer process, on the tiny model: create, poll, metrics,
checkpoints, generation, idempotency, cancel, a dead trainer, and the errors a caller can fix."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from tiny_gemma import ANSWER, record, tiny_rows, wait_for, write_jsonl

from tools.backends.base import METRIC_NAMES, GenerateRequest, JobState, TuningBackend, TuningSpec
from tools.backends.local import LocalBackend
from tools.context import ToolContext
from tools.settings import Settings
from tools.errors import ToolError
from tools.workspace import Workspace

QUESTION = [{"role": "user", "parts": [{"text": "Please send 2 vests to Oslo."}]}]


@pytest.fixture
def backend(ctx: ToolContext) -> LocalBackend:
    return LocalBackend(ctx.workspace, ctx.settings)


@pytest.fixture
def trained_backend(trained) -> LocalBackend:  # noqa: ANN001
    root, _ = trained
    return LocalBackend(Workspace(root), Settings())


def spec(tmp_path: Path, model: Path, request_id: str, rows: int = 32, **fields: object) -> TuningSpec:
    train = write_jsonl(tmp_path / f"{request_id}.jsonl", tiny_rows(rows))
    return TuningSpec(base_model=str(model), training_dataset_uri=str(train), client_request_id=request_id, **fields)


def test_backend_loads_by_name_and_implements_the_protocol(ctx: ToolContext) -> None:
    backend = ctx.backend("local")
    assert isinstance(backend, LocalBackend) and isinstance(backend, TuningBackend)


def test_trained_job_succeeds_with_stats_progress_and_checkpoints(trained) -> None:  # noqa: ANN001
    root, info = trained
    assert info.state == JobState.SUCCEEDED, info.error
    assert info.job_id.startswith("local-") and info.backend == "local"
    assert (info.epochs, info.adapter_size, info.learning_rate_multiplier) == (3, 8, 5.0)
    assert (info.completed_epochs, info.completed_steps, info.total_steps) == (3, 24, 24)
    assert info.created_at <= info.started_at <= info.ended_at
    stats = info.data_stats
    assert stats.example_count == 32 and stats.tuning_step_count == 24 and stats.truncated_example_count == 0
    assert stats.total_billable_token_count > 32 * 10 and stats.output_tokens_mean == 6.0  # '{"ok": true}' + end
    assert [(c.checkpoint_id, c.epoch, c.step) for c in info.checkpoints] == [("1", 1, 8), ("2", 2, 16), ("3", 3, 24)]
    assert [c.endpoint for c in info.checkpoints] == [f"local/jobs/{info.job_id}/checkpoints/{n}" for n in "123"]
    assert info.endpoint == info.checkpoints[-1].endpoint and info.checkpoints[-1].is_default
    for n in "123":
        assert (root / "local" / "jobs" / info.job_id / "checkpoints" / n / "adapter_model.safetensors").is_file()
    assert info.training_dataset_uri.startswith("local://datasets/")
    config = LocalBackend(Workspace(root)).store.record(info.job_id).config
    assert config["train"]["learning_rate"] == pytest.approx(5e-3) and config["train"]["rank"] == 8


def test_metrics_under_vertex_names(trained_backend: LocalBackend, trained) -> None:  # noqa: ANN001
    job_id = trained[1].job_id
    metrics = trained_backend.get_metrics(job_id)
    assert set(metrics) == set(METRIC_NAMES)
    assert [p.step for p in metrics["/eval_total_loss"]] == [8, 16, 24]
    assert metrics["/train_total_loss"][-1].step == 24
    assert metrics["/eval_total_loss"][-1].value < metrics["/eval_total_loss"][0].value
    later = trained_backend.get_metrics(job_id, since_step=16)
    assert all(p.step > 16 for series in later.values() for p in series) and later["/eval_total_loss"]


def test_generate_tuned_checkpoint_base_and_job_id(trained_backend: LocalBackend, trained,  # noqa: ANN001
                                                  tiny_model: Path) -> None:
    info = trained[1]
    request = GenerateRequest(contents=QUESTION, system_instruction="Answer with the status.", max_output_tokens=12)
    tuned = trained_backend.generate(info.endpoint, request)
    assert tuned.text == ANSWER and tuned.finish_reason == "STOP"
    assert tuned.output_tokens == 6 and tuned.input_tokens > 10 and tuned.latency_s > 0
    assert trained_backend.generate(info.job_id, request).text == ANSWER
    base = trained_backend.generate(trained_backend.base_target(str(tiny_model)), request)
    assert base.text != ANSWER
    assert trained_backend.generate(info.checkpoints[0].endpoint, request).text  # any checkpoint can be called


def test_set_default_checkpoint(trained_backend: LocalBackend, trained) -> None:  # noqa: ANN001
    job_id = trained[1].job_id
    try:
        info = trained_backend.set_default_checkpoint(job_id, "2")
        assert info.endpoint == f"local/jobs/{job_id}/checkpoints/2"
        assert [c.is_default for c in trained_backend.get_job(job_id).checkpoints] == [False, True, False]
        assert trained_backend.resolve(job_id).checkpoint_id == "2"
        with pytest.raises(ToolError, match="no checkpoint '9'"):
            trained_backend.set_default_checkpoint(job_id, "9")
    finally:
        trained_backend.set_default_checkpoint(job_id, "3")


def test_unknown_targets_are_clear_errors(trained_backend: LocalBackend, trained) -> None:  # noqa: ANN001
    request = GenerateRequest(contents=QUESTION)
    with pytest.raises(ToolError, match="Nothing local answers to 'local-nope'"):
        trained_backend.generate("local-nope", request)
    with pytest.raises(ToolError, match="no checkpoint '7'"):
        trained_backend.generate(f"{trained[1].job_id}@7", request)


def test_create_is_idempotent_and_cancel_stops_the_trainer(backend: LocalBackend, tmp_path: Path,
                                                           tiny_model: Path) -> None:
    first = backend.create_job(spec(tmp_path, tiny_model, "req-1", epochs=500))
    try:
        assert first.state in (JobState.PENDING, JobState.RUNNING)
        again = backend.create_job(spec(tmp_path, tiny_model, "req-1", epochs=500))
        assert again.job_id == first.job_id
        assert len(backend.list_jobs()) == 1
        running = wait_for(backend, first.job_id, lambda i: (i.completed_steps or 0) > 0)
        assert running.state == JobState.RUNNING
        pid = backend.store.record(first.job_id).pid
        cancelled = backend.cancel_job(first.job_id)
        assert cancelled.state == JobState.CANCELLED and cancelled.ended_at is not None
        assert not Path(f"/proc/{pid}").exists()  # stopped and collected: no zombie left in this process
        assert first.job_id not in backend._children
        assert backend.get_job(first.job_id).state == JobState.CANCELLED
        assert backend.cancel_job(first.job_id).state == JobState.CANCELLED  # cancelling twice changes nothing
        events = backend.workspace.events(first.job_id)
        assert [e["kind"] for e in events].count("job_cancelled") == 1
        assert not [e for e in events if e["kind"] in ("job_failed", "job_succeeded")]
    finally:
        backend.cancel_job(first.job_id)  # a failed assertion must not leave a 500-epoch trainer running


def test_dead_trainer_is_reported_failed_with_its_log(backend: LocalBackend, tmp_path: Path,
                                                      tiny_model: Path) -> None:
    info = backend.create_job(spec(tmp_path, tiny_model, "req-dead", epochs=500))
    try:
        wait_for(backend, info.job_id, lambda i: (i.completed_steps or 0) > 0)
        os.killpg(backend.store.record(info.job_id).pid, signal.SIGKILL)
        failed = wait_for(backend, info.job_id, lambda i: i.state.ended, timeout=10)
        assert failed.state == JobState.FAILED
        assert "stopped without reporting a result" in failed.error and "train.log" in failed.error
        assert "training" in failed.error  # the log tail: the worker's last lines
        assert len(backend.workspace.events(info.job_id, kind="job_failed")) == 1
        backend.get_job(info.job_id)
        assert len(backend.workspace.events(info.job_id, kind="job_failed")) == 1  # an ended job logs no more
    finally:
        backend.cancel_job(info.job_id)


def test_bad_dataset_fails_the_job_with_the_line(backend: LocalBackend, tmp_path: Path, tiny_model: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [record("fine"), {"contents": "oops"}])
    info = backend.create_job(TuningSpec(base_model=str(tiny_model), training_dataset_uri=str(path),
                                         client_request_id="req-bad"))
    failed = wait_for(backend, info.job_id, lambda i: i.state.ended)
    assert failed.state == JobState.FAILED
    assert failed.error.startswith("Dataset problem: bad.jsonl line 2")


@pytest.mark.parametrize(("fields", "message"), [
    ({"base_model": "gemini-2.5-flash"}, "cannot tune 'gemini-2.5-flash'"),
    ({"training_dataset_uri": "gs://bucket/train.jsonl"}, "cannot read 'gs://bucket/train.jsonl'"),
    ({"training_dataset_uri": "/nowhere/train.jsonl"}, "training dataset /nowhere/train.jsonl is not there"),
    ({"base_model": "gemma-3-270m", "adapter_size": 3}, "adapter_size 3 is not allowed"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"learning_rate_multiplier": -1.0}, "learning_rate_multiplier must be positive"),
])
def test_create_rejects_what_cannot_run(backend: LocalBackend, tmp_path: Path, tiny_model: Path,
                                        fields: dict[str, object], message: str) -> None:
    base = spec(tmp_path, tiny_model, "req-invalid", rows=4).model_dump()
    with pytest.raises(ToolError, match=message):
        backend.create_job(TuningSpec(**{**base, **fields}))
    assert backend.list_jobs() == []


def test_upload_stages_a_content_addressed_copy(backend: LocalBackend, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "train.jsonl", tiny_rows(3))
    before = source.read_bytes()
    first = backend.upload(source, None)
    assert first.uri.startswith("local://datasets/") and first.uri.endswith("/train.jsonl") and not first.skipped
    assert first.bytes == len(before) and first.md5
    assert backend.upload(source, None).skipped
    assert source.read_bytes() == before
    staged = backend.workspace.root / "local" / first.uri.removeprefix("local://")
    assert staged.read_bytes() == before
    assert backend.workspace.dataset(first.uri)["source"] == str(source.resolve())
    write_jsonl(source, tiny_rows(4))
    assert backend.upload(source, None).uri != first.uri
    with pytest.raises(ToolError, match="No file"):
        backend.upload(tmp_path / "missing.jsonl", None)


def test_check_environment_reports_each_requirement(backend: LocalBackend) -> None:
    report = backend.check_environment(None, None, None)
    names = {c.name for c in report.checks}
    assert report.backend == "local"
    assert {"package torch", "package transformers", "package peft", "memory"} <= names
    assert all(c.fix for c in report.checks if not c.ok)
    assert report.ok == all(c.ok for c in report.checks)


def test_check_environment_names_the_fix_for_a_missing_package(backend: LocalBackend,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.backends.local import environment

    real = environment.find_spec  # the module's own name for it: the rest of the process keeps the real lookup
    monkeypatch.setattr(environment, "find_spec", lambda name: None if name == "peft" else real(name))
    report = backend.check_environment(None, None, None)
    peft = next(c for c in report.checks if c.name == "package peft")
    assert not report.ok and not peft.ok
    assert peft.fix.startswith("pip install peft") and "gemini-tuning-orchestrator[local]" in peft.fix


def test_importing_the_backend_loads_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, tools.backends.local, tools.backends.local.weights as w; w.tokenizer_json_path(); "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tokenizer_json_path_is_none_without_a_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tools.backends.local.weights import tokenizer_json_path

    monkeypatch.setenv("GTO_CACHE", str(tmp_path / "empty-cache"))
    assert tokenizer_json_path() is None
    assert not (tmp_path / "empty-cache").exists()  # looking never creates anything


def test_retune_rehearses_on_this_machine(ctx: ToolContext, tiny_model: Path, tmp_path: Path) -> None:
    """retune_job on the local backend: the old job's data and settings, a real background job, no question asked."""
    from datetime import UTC, datetime

    from tools.backends.base import JobInfo
    from tools.registry import dispatch

    train = write_jsonl(tmp_path / "train.jsonl", tiny_rows(16))
    ctx.workspace.record_job(JobInfo(job_id="local-old", backend="local", state=JobState.SUCCEEDED,
                                     base_model=str(tiny_model), created_at=datetime.now(UTC),
                                     training_dataset_uri=str(train), epochs=1, adapter_size=4))
    asked: list[str] = []
    ctx.approve = lambda tool, question: asked.append(question) or True
    result = dispatch("retune_job", {"job_id": "local-old"}, ctx)
    assert not result.is_error, result.content
    out = result.data
    assert asked == [] and out["base_model"] == str(tiny_model) and "may still be tuned" in out["why_this_model"]
    assert out["estimated_cost"]["summary"].startswith("$0.00")
    backend = ctx.backend("local")
    info = wait_for(backend, out["job"]["job_id"], lambda i: i.state.ended, timeout=120)
    assert info.state == JobState.SUCCEEDED, info.error
    assert (info.epochs, info.adapter_size) == (1, 4)
