"""Fast checks of the local backend's guards, without training: what the HTTP server agrees to load, `gto serve`'s
errors, non-finite generation settings, trainer processes reaped, and job records that two processes update."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tools.backends.base import JobInfo, JobState
from tools.backends.local import LocalBackend, generation, serve
from tools.backends.local.jobs import endpoint_of, now
from tools.backends.local.server import running
from tools.backends.local.targets import Target, resolve_served
from tools.context import ToolContext
from tools.errors import ToolError

GEMMA = "gemma-3-270m"
ASK = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture
def backend(ctx: ToolContext) -> LocalBackend:
    return LocalBackend(ctx.workspace, ctx.settings)


def add_job(backend: LocalBackend, base_model: str, state: JobState = JobState.SUCCEEDED,
            checkpoints: int = 2) -> JobInfo:
    """A job record as the trainer leaves it, with adapter folders that are never loaded here."""
    job_id = f"local-test-{base_model.strip('/').replace('/', '-')}-{state.value.lower()}"
    info = JobInfo(job_id=job_id, backend="local", state=state, base_model=base_model, created_at=now(),
                   client_request_id=job_id)
    backend.store.add(info, {"base_model": base_model})
    for n in range(1, checkpoints + 1):
        backend.store.checkpoint_dir(job_id, str(n)).mkdir(parents=True)
        backend.store.add_checkpoint(job_id, n, n * 10)
    return backend.workspace.get_job(job_id)


def model_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def test_server_refuses_other_models_and_jobs_of_another_base(backend: LocalBackend, tmp_path: Path) -> None:
    other = model_folder(tmp_path, "other-model")
    foreign = add_job(backend, str(other))
    default = Target(f"local/base/{GEMMA}", GEMMA)
    refused = [str(other), f"local/base/{str(other).lstrip('/')}", foreign.job_id, f"{foreign.job_id}@1",
               endpoint_of(foreign.job_id, "2"), "gemini-2.5-flash", "local/base/etc"]
    loaded = set(generation._loaded)
    with running(default, backend.served_resolver(default)) as server:
        for name in refused:
            answer = httpx.post(f"{server.url}/v1beta/models/{name}:generateContent", json=ASK)
            error = answer.json()["error"]
            assert (answer.status_code, error["code"], error["status"]) == (404, 404, "NOT_FOUND"), name
            assert "not served here" in error["message"]
    assert set(generation._loaded) == loaded  # nothing was loaded for any of them


def test_served_resolver_allows_the_base_and_its_jobs_only(backend: LocalBackend, tmp_path: Path) -> None:
    base = model_folder(tmp_path, "base-model")
    mine, theirs = add_job(backend, str(base)), add_job(backend, GEMMA)
    allowed = resolve_served(backend.store, f"{mine.job_id}@1", str(base))
    assert allowed.base_model == str(base) and allowed.adapter == backend.store.checkpoint_dir(mine.job_id, "1")
    assert resolve_served(backend.store, f"local/base/{str(base).lstrip('/')}", str(base)).adapter is None
    with pytest.raises(ToolError, match="another base model"):
        resolve_served(backend.store, theirs.job_id, str(base))
    with pytest.raises(ToolError, match="not the base model this server was started for"):
        resolve_served(backend.store, GEMMA, str(base))


@pytest.mark.parametrize(("field", "literal"), [
    ("temperature", "Infinity"), ("topP", "NaN"), ("topK", "Infinity"), ("maxOutputTokens", "NaN"),
    ("seed", "-Infinity"),
])
def test_non_finite_generation_settings_are_invalid_arguments(backend: LocalBackend, field: str,
                                                              literal: str) -> None:
    default = Target(f"local/base/{GEMMA}", GEMMA)
    body = json.dumps(ASK)[:-1] + f', "generationConfig": {{"{field}": {literal}}}}}'
    with running(default, backend.served_resolver(default)) as server:
        answer = httpx.post(f"{server.url}/v1beta/models/default:generateContent", content=body,
                            headers={"Content-Type": "application/json"})
    error = answer.json()["error"]
    assert (answer.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert f"generationConfig.{field} must be a finite number" in error["message"]


def test_serve_on_a_port_in_use_is_a_tool_error_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ToolError) as caught:
            serve(f"local/base/{GEMMA}", port=port)
    assert caught.value.message == f"port {port} is in use" and "--port 0" in caught.value.hint


def test_serve_an_unknown_target_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="Nothing local answers to 'local-nope'"):
        serve("local-nope", port=0)


def test_finished_children_are_reaped_on_get_and_list(backend: LocalBackend) -> None:
    info = add_job(backend, GEMMA, JobState.RUNNING, checkpoints=0)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    backend._children[info.job_id] = child
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().split()[2] != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)  # exited but not collected: a zombie until its parent waits for it
    backend.list_jobs()
    assert info.job_id not in backend._children and child.returncode is not None
    assert not Path(f"/proc/{child.pid}").exists()


def test_a_trainer_death_noticed_after_the_job_ended_logs_no_failure(backend: LocalBackend) -> None:
    stale = add_job(backend, GEMMA, JobState.RUNNING, checkpoints=0)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    backend.store.set_process(stale.job_id, child.pid, 0.0)

    def succeed(job: JobInfo) -> None:
        job.state, job.ended_at = JobState.SUCCEEDED, now()

    backend.store.update(stale.job_id, succeed)  # the trainer's last write, after `stale` was read
    assert backend.store.refresh(stale).state == JobState.SUCCEEDED
    assert backend.workspace.events(stale.job_id, kind="job_failed") == []
    assert backend.store.end(stale.job_id, JobState.CANCELLED, "late")[1] is False


def test_a_default_chosen_while_a_checkpoint_is_added_is_kept(backend: LocalBackend) -> None:
    info = add_job(backend, GEMMA, JobState.RUNNING, checkpoints=1)
    backend.store.checkpoint_dir(info.job_id, "2").mkdir(parents=True)
    adder = threading.Thread(target=backend.store.add_checkpoint, args=(info.job_id, 2, 20))
    with backend.store.locked(info.job_id):  # the user's choice holds the job's lock ...
        adder.start()
        time.sleep(0.3)  # ... while the trainer's add_checkpoint is already waiting for it
        backend.store.pin_default(info.job_id)
        chosen = backend.workspace.get_job(info.job_id)
        chosen.checkpoints[0].is_default, chosen.endpoint = True, chosen.checkpoints[0].endpoint
        backend.workspace.save_job(chosen)
    adder.join(10)
    after = backend.workspace.get_job(info.job_id)
    assert [c.checkpoint_id for c in after.checkpoints] == ["1", "2"]
    assert [c.is_default for c in after.checkpoints] == [True, False]
    assert after.endpoint == endpoint_of(info.job_id, "1")


def test_set_default_checkpoint_pins_the_choice_for_later_epochs(backend: LocalBackend) -> None:
    info = add_job(backend, GEMMA, JobState.RUNNING, checkpoints=2)
    backend.set_default_checkpoint(info.job_id, "1")
    backend.store.add_checkpoint(info.job_id, 3, 30)
    after = backend.get_job(info.job_id)
    assert [c.is_default for c in after.checkpoints] == [True, False, False]
