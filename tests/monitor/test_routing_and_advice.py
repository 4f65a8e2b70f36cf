"""Where a bare job id is sent, and what a local model folder is advised: both follow the backend, not a name."""

from __future__ import annotations

import json

from monitor_fake_backend import FakeBackend

from tools.backends.base import JobState
from tools.registry import dispatch


def test_a_vertex_job_number_not_in_the_workspace_goes_to_vertex(ctx, fake):
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    vertex.add_job("4567890123", [JobState.RUNNING], base_model="gemini-2.5-flash")
    fake.add_job("local-20261126-090000-abc123", [JobState.RUNNING])
    assert ctx.backend_for_job("4567890123") is vertex
    got = dispatch("get_job", {"job_id": "4567890123"}, ctx)
    assert not got.is_error, got.content
    assert got.data["job"]["backend"] == "vertex" and got.data["job"]["state"] == "RUNNING"
    assert ctx.backend_for_job("local-20261126-090000-abc123") is fake
    assert ctx.backend_for_job("projects/p/locations/us-central1/tuningJobs/1") is vertex


def test_a_local_model_folder_gets_the_local_advice_not_geminis(ctx, tmp_path):
    folder = tmp_path / "my-gemma"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gemma3_text", "max_position_embeddings": 8192}))
    out = dispatch("recommend_hyperparameters", {"base_model": str(folder), "example_count": 200,
                                                 "avg_tokens": 60}, ctx)
    assert not out.is_error, out.content
    advice = out.data
    assert advice["epochs"]["value"] == 3 and advice["learning_rate_multiplier"]["value"] == 1.0
    assert advice["adapter_size"]["value"] == 8 and "LoRA rank" in advice["adapter_size"]["reason"]
    assert any(note.startswith("Local backend") for note in advice["notes"])
    gemini = dispatch("recommend_hyperparameters", {"base_model": "gemini-3.5-flash-lite", "example_count": 200,
                                                    "avg_tokens": 60}, ctx).data
    assert gemini["epochs"]["value"] == 20  # the Gemini guide's value stays for Gemini
