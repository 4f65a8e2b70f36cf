"""compare_models (tuned against base on held-out examples, with intervals) and test_endpoint (real HTTP with the
google-genai client where the backend serves, the backend's generate otherwise)."""

from __future__ import annotations

import json

import pytest
from monitor_fake_backend import FakeBackend, checkpoints

from tools.backends.base import JobState
from tools.registry import dispatch

CITIES = [("France", "Paris"), ("Japan", "Tokyo"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"),
          ("Egypt", "Cairo"), ("Spain", "Madrid"), ("Nepal", "Kathmandu")]


def example(country: str, city: str) -> dict:
    return {"systemInstruction": {"parts": [{"text": "Answer with JSON."}]},
            "contents": [{"role": "user", "parts": [{"text": f"Capital of {country}?"}]},
                         {"role": "model", "parts": [{"text": json.dumps({"capital": city})}]}]}


@pytest.fixture
def job(tmp_path, fake):
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(json.dumps(example(*c)) for c in CITIES) + "\n")
    info = fake.add_job("local-cmp", [JobState.SUCCEEDED], {}, validation_dataset_uri=str(val),
                        endpoint="local-cmp/checkpoint-2", checkpoints=checkpoints("local-cmp", [10, 20]))
    # the tuned model answers in the trained format (one miss), the base model rambles
    tuned = {f"Capital of {c}?": json.dumps({"capital": city}) for c, city in CITIES}
    tuned["Capital of Nepal?"] = json.dumps({"capital": "Pokhara"})
    fake.answers["local-cmp/checkpoint-2"] = tuned
    fake.answers["base:gemma-3-270m"] = {f"Capital of {c}?": f"Capital of {c}? The capital of {c} is a city."
                                         for c, _ in CITIES}
    fake.answers["local-cmp/checkpoint-1"] = {"*": "{}"}
    return info


def test_tuned_beats_base_with_sample_size_and_interval(ctx, fake, job, progress):
    result = dispatch("compare_models", {"job_id": "local-cmp"}, ctx)
    # minutes on a CPU: a person watching sees each example go by
    assert [p.message for p in progress][-1] == "Asking the base and tuned models: example 8 of 8"
    assert not result.is_error, result.content
    out = result.data
    assert out["n"] == 8 and out["failures"] == 0 and out["base_target"] == "base:gemma-3-270m"
    em = out["metrics"]["exact_match"]
    assert (em["base"], em["tuned"], em["delta"], em["n"]) == (0.0, 0.875, 0.875, 8)
    assert 0 < em["ci_low"] <= 0.875 <= em["ci_high"] <= 1.0
    assert set(out["metrics"]) == {"exact_match", "token_f1", "rouge_l", "embedding_similarity"}
    assert out["metrics"]["token_f1"]["tuned"] > out["metrics"]["token_f1"]["base"]
    assert out["verdict"].startswith("The tuned model is better than the base model: token_f1 ")
    assert "n=8)" in out["verdict"] and "95% CI" in out["verdict"]
    assert len(out["examples"]) == 3 and out["examples"][0]["prompt"] == "Capital of France?"
    assert out["examples"][0]["tuned"] == '{"capital": "Paris"}' and out["examples"][0]["tuned_token_f1"] == 1.0
    lines = open(out["details_path"]).read().splitlines()
    assert len(lines) == 8 and json.loads(lines[7])["scores"]["exact_match"] == {"base": 0.0, "tuned": 0.0}
    # both models got the held-out prompt with its system instruction, at temperature 0
    assert ("local-cmp/checkpoint-2", "Capital of Peru?") in fake.generated


def test_prompts_of_an_uploaded_validation_set_come_from_its_local_source(ctx, fake, job):
    local = job.validation_dataset_uri
    fake.jobs["local-cmp"].info = job.model_copy(update={"validation_dataset_uri": "gs://bucket/val.jsonl"})
    ctx.workspace.record_dataset("gs://bucket/val.jsonl", {"source": local})
    out = dispatch("compare_models", {"job_id": "local-cmp", "max_examples": 2}, ctx).data
    assert out["n"] == 2 and out["prompts_source"] == local


def test_a_checkpoint_and_a_judge_can_be_named(ctx, fake, job):
    ctx.judge = lambda prompt, reference, answer: float(answer == reference)
    out = dispatch("compare_models", {"job_id": "local-cmp", "checkpoint_id": "1", "max_examples": 4}, ctx).data
    assert out["tuned_target"] == "local-cmp/checkpoint-1"
    assert out["metrics"]["judge"]["tuned"] == 0.0 and out["metrics"]["judge"]["n"] == 4
    assert out["verdict"].startswith("No significant difference") or "worse" in out["verdict"]
    bad = dispatch("compare_models", {"job_id": "local-cmp", "checkpoint_id": "9"}, ctx)
    assert bad.is_error and "no checkpoint '9'" in bad.content and "Its checkpoints: 1, 2" in bad.content


def test_examples_a_model_cannot_answer_are_counted_not_hidden(ctx, fake, job):
    del fake.answers["base:gemma-3-270m"]["Capital of Peru?"]
    fake.answers["base:gemma-3-270m"]["*"] = ""
    out = dispatch("compare_models", {"job_id": "local-cmp"}, ctx).data
    assert out["n"] == 8  # an empty answer is an answer (scored 0)
    del fake.answers["base:gemma-3-270m"]
    result = dispatch("compare_models", {"job_id": "local-cmp"}, ctx)
    assert result.is_error and "No example could be answered by both models (8 failed)" in result.content


def test_bad_prompt_files_name_the_line(ctx, fake, job, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(example("Peru", "Lima")) + "\n{not json\n")
    result = dispatch("compare_models", {"job_id": "local-cmp", "prompts_path": str(bad)}, ctx)
    assert result.is_error and f"{bad} line 2 is not valid JSON" in result.content
    fake.jobs["local-cmp"].info = job.model_copy(update={"validation_dataset_uri": None})
    result = dispatch("compare_models", {"job_id": "local-cmp"}, ctx)
    assert result.is_error and "no validation set" in result.content and "prompts_path" in result.content


def test_endpoint_answers_through_real_http_with_google_genai(ctx, fake, job):
    out = dispatch("test_endpoint", {"job_id": "local-cmp"}, ctx).data
    assert out["ok"] is True and out["endpoint"] == "local-cmp/checkpoint-2"
    assert out["via"].startswith("google-genai over HTTP (http://127.0.0.1:")
    assert [s["prompt"] for s in out["samples"]] == ["Capital of France?", "Capital of Japan?", "Capital of Peru?"]
    assert out["samples"][0]["response"] == '{"capital": "Paris"}' and out["p50_latency_s"] > 0
    assert fake.requests[0]["path"] == "/v1beta/models/local-cmp/checkpoint-2:generateContent"
    assert fake.requests[0]["body"]["contents"][0]["parts"][0]["text"] == "Capital of France?"
    # the system instruction the job was trained with goes with every request, as the report's code sends it
    assert out["system_instruction"] == "Answer with JSON."
    assert all(r["body"]["systemInstruction"]["parts"][0]["text"] == "Answer with JSON." for r in fake.requests)


def test_endpoint_failures_are_reported_per_request(ctx, fake, job):
    out = dispatch("test_endpoint", {"endpoint": "local-cmp/checkpoint-9", "prompts": ["hi"], "n": 2}, ctx).data
    assert out["ok"] is False and len(out["samples"]) == 2 and out["p50_latency_s"] is None
    assert "503" in out["samples"][0]["error"] and "not serving" in out["samples"][0]["error"]


def test_endpoint_without_a_server_uses_generate(ctx, job, fake):
    plain = FakeBackend(answers=fake.answers, jobs=fake.jobs)
    ctx._backends["local"] = plain
    out = dispatch("test_endpoint", {"job_id": "local-cmp", "prompts": ["Capital of Kenya?"], "n": 1}, ctx).data
    assert out["ok"] is True and out["via"] == "local backend generate"
    assert out["samples"][0]["response"] == '{"capital": "Nairobi"}'
    assert dispatch("test_endpoint", {}, ctx).is_error


def test_local_endpoint_is_reached_even_with_vertex_set_in_the_environment(ctx, fake, job, monkeypatch):
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    out = dispatch("test_endpoint", {"job_id": "local-cmp", "n": 1}, ctx).data
    assert out["ok"] is True, out["samples"]
    assert fake.requests[0]["path"] == "/v1beta/models/local-cmp/checkpoint-2:generateContent"


def test_endpoint_sends_no_more_than_n_of_the_given_prompts(ctx, fake, job):
    prompts = [f"Capital of {c}?" for c, _ in CITIES]
    out = dispatch("test_endpoint", {"job_id": "local-cmp", "prompts": prompts, "n": 2}, ctx).data
    assert [s["prompt"] for s in out["samples"]] == prompts[:2] and len(fake.requests) == 2
    repeated = dispatch("test_endpoint", {"job_id": "local-cmp", "prompts": prompts[:1], "n": 3}, ctx).data
    assert [s["prompt"] for s in repeated["samples"]] == prompts[:1] * 3
