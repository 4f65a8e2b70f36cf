"""compare_retuned after a real retune_job call: the previous tuned model, the re-tuned model and the new base model
answer the same held-out prompts; the means and both comparisons are what the scripted answers imply, a previous
model that no longer answers leaves a two-way result, and write_report shows the three side by side."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from monitor_fake_backend import FakeBackend
from typer.testing import CliRunner

from agent.cli import app

from tools.backends.base import JobState
from tools.evaluation.retune_comparison import CompareRetunedOutput
from tools.evaluation.scoring import compare_scores, exact_match, rouge_l, token_f1
from tools.registry import dispatch

CITIES = [("France", "Paris"), ("Japan", "Tokyo"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"),
          ("Egypt", "Cairo"), ("Spain", "Madrid"), ("Nepal", "Kathmandu")]
OLD, OLD_ENDPOINT, NEW_ENDPOINT, BASE = "local-old", "local-old/checkpoint-1", "local-2/checkpoint-1", \
    "base:gemma-3-270m"
METRICS = {"exact_match": exact_match, "token_f1": token_f1, "rouge_l": rouge_l}


def capital(city: str) -> str:
    return json.dumps({"capital": city})


def example(prompt: str, answer: str) -> str:
    """One line of a Gemini SFT validation set."""
    return json.dumps({"systemInstruction": {"parts": [{"text": "Answer with JSON."}]},
                       "contents": [{"role": "user", "parts": [{"text": prompt}]},
                                    {"role": "model", "parts": [{"text": answer}]}]}) + "\n"


# The re-tuned model misses one capital, the previous tuned model three, the new base model rambles.
RETUNED = {f"Capital of {c}?": capital("Pokhara" if c == "Nepal" else city) for c, city in CITIES}
PREVIOUS = {f"Capital of {c}?": capital(city if i < 5 else "Lyon") for i, (c, city) in enumerate(CITIES)}
RAMBLING = {f"Capital of {c}?": f"The capital of {c} is a city." for c, _ in CITIES}


def expected(answers: dict[str, str]) -> dict[str, list[float]]:
    """Each metric's scores of a table of answers against the references, in the validation set's order."""
    return {m: [fn(answers[f"Capital of {c}?"], capital(city)) for c, city in CITIES] for m, fn in METRICS.items()}


@pytest.fixture
def retuned(ctx, fake, tmp_path) -> str:
    """An old tuned job on a Gemma the catalog no longer lists, re-tuned through the real retune_job."""
    val = tmp_path / "val.jsonl"
    val.write_text("".join(example(f"Capital of {c}?", capital(city)) for c, city in CITIES))
    fake.add_job(OLD, [JobState.SUCCEEDED], {}, base_model="gemma-2-2b", training_dataset_uri=str(val),
                 validation_dataset_uri=str(val), endpoint=OLD_ENDPOINT)
    result = dispatch("retune_job", {"job_id": OLD}, ctx)
    assert not result.is_error, result.content
    new = result.output.job.job_id
    assert f"compare_retuned(job_id='{new}')" in result.output.next_step
    scripted = fake.jobs[new]
    scripted.info = scripted.info.model_copy(update={"validation_dataset_uri": str(val), "endpoint": NEW_ENDPOINT})
    fake.answers.update({NEW_ENDPOINT: RETUNED, OLD_ENDPOINT: PREVIOUS, BASE: RAMBLING})
    return new


def test_three_models_on_the_same_prompts(ctx, fake, retuned):
    result = dispatch("compare_retuned", {"job_id": retuned}, ctx)  # the previous job found from retune_job
    assert not result.is_error, result.content
    out = result.output
    assert isinstance(out, CompareRetunedOutput)
    assert (out.previous_job_id, out.previous_base_model, out.base_model) == (OLD, "gemma-2-2b", "gemma-3-270m")
    assert (out.retuned_target, out.previous_target, out.base_target) == (NEW_ENDPOINT, OLD_ENDPOINT, BASE)
    assert out.n == 8 and out.previous_answered and out.failures == 0
    new, old, base = expected(RETUNED), expected(PREVIOUS), expected(RAMBLING)
    for metric in METRICS:
        means = out.means[metric]
        assert (means.retuned, means.previous, means.base) == pytest.approx(
            (sum(new[metric]) / 8, sum(old[metric]) / 8, sum(base[metric]) / 8), abs=1e-4)
        assert out.vs_previous[metric] == compare_scores(metric, old[metric], new[metric])
        assert out.vs_base[metric] == compare_scores(metric, base[metric], new[metric])
    f1 = out.vs_previous["token_f1"]
    assert out.verdict.startswith("The re-tuned model on gemma-3-270m ")
    assert f"previous tuned model ({OLD} on gemma-2-2b): {f1.sentence()}; and beats its base: token_f1" in out.verdict
    assert "n=8" in out.verdict
    # every prompt went to each of the three models once
    for target in (NEW_ENDPOINT, OLD_ENDPOINT, BASE):
        assert sorted(p for t, p in fake.generated if t == target) == sorted(RETUNED)
    lines = [json.loads(line) for line in open(out.details_path)]
    assert len(lines) == 8 and set(lines[7]["scores"]["exact_match"]) == {"base", "retuned", "previous"}


def test_a_previous_model_that_no_longer_answers_leaves_a_two_way_result(ctx, fake, retuned):
    del fake.answers[OLD_ENDPOINT]  # its base model retired: the endpoint stops serving
    out = dispatch("compare_retuned", {"job_id": retuned, "previous_job_id": OLD}, ctx).output
    assert out.n == 8 and not out.previous_answered and out.vs_previous == {}
    assert all(m.previous is None for m in out.means.values())
    new, base = expected(RETUNED), expected(RAMBLING)
    assert out.vs_base["token_f1"] == compare_scores("token_f1", base["token_f1"], new["token_f1"])
    assert any(n.startswith(f"The previous tuned model ({OLD} on gemma-2-2b) did not answer, so only the re-tuned "
                            "model and its base were compared: Endpoint local-old/checkpoint-1 is not serving")
               for n in out.notes)
    assert out.verdict.startswith(f"The previous tuned model ({OLD} on gemma-2-2b) did not answer, so the "
                                  "comparison is two-way: the re-tuned model on gemma-3-270m beats its base")
    assert [t for t, _ in fake.generated].count(OLD_ENDPOINT) == 1  # asked once, then left out


def test_without_a_retune_record_the_previous_job_must_be_named(ctx, fake, retuned):
    result = dispatch("compare_retuned", {"job_id": OLD}, ctx)
    assert result.is_error and f"No retune_job result in this workspace created {OLD}" in result.content
    assert "previous_job_id" in result.content and fake.generated == []


def test_the_report_puts_the_three_in_one_table(ctx, fake, retuned):
    out = dispatch("compare_retuned", {"job_id": retuned}, ctx).output
    report = dispatch("write_report", {"job_ids": [OLD, retuned]}, ctx).output
    assert "re-tuned comparison" in report.sections
    text = open(report.path).read()
    section = text.split("## Re-tuned on gemma-3-270m: previous vs re-tuned vs base\n", 1)[1].split("\n## ")[0]
    assert "| metric | previous tuned | re-tuned | new base | re-tuned vs previous (diff, 95% CI) |" in section
    m, means = out.vs_previous["token_f1"], out.means["token_f1"]
    row = (f"| token_f1 | {means.previous:.3f} | {means.retuned:.3f} | {means.base:.3f} | "
           f"{m.delta:+.3f} ({m.ci_low:+.3f} to {m.ci_high:+.3f}) |")
    assert row in section and f"**Verdict:** {out.verdict}" in section
    assert f"`{OLD_ENDPOINT}` ({OLD} on gemma-2-2b)" in section


def test_the_re_tuned_job_reported_alone_shows_the_three_too(ctx, fake, retuned):
    out = dispatch("compare_retuned", {"job_id": retuned}, ctx).output
    report = dispatch("write_report", {"job_ids": [retuned]}, ctx).output
    assert "re-tuned comparison" in report.sections
    text = open(report.path).read()
    assert text.count("## Re-tuned on gemma-3-270m: previous vs re-tuned vs base\n") == 1
    assert f"**Verdict:** {out.verdict}" in text
    alone = dispatch("write_report", {"job_ids": [OLD]}, ctx).output  # the previous job was not re-tuned from anything
    assert "re-tuned comparison" not in alone.sections


JOB, PREVIOUS_JOB = "projects/p/locations/l/tuningJobs/8", "projects/p/locations/l/tuningJobs/7"


def _vertex_retuned(ctx, tmp_path, rows: int, reference_chars: int) -> FakeBackend:
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    val = tmp_path / "val.jsonl"
    val.write_text("".join(example(f"Question {i}?", "r" * reference_chars) for i in range(rows)))
    vertex.add_job(PREVIOUS_JOB, [JobState.SUCCEEDED], base_model="gemini-2.5-flash", endpoint="old-endpoint")
    vertex.add_job(JOB, [JobState.SUCCEEDED], base_model="gemini-3.5-flash-lite", validation_dataset_uri=str(val),
                   endpoint="new-endpoint")
    for target in ("old-endpoint", "new-endpoint", "base:gemini-3.5-flash-lite"):
        vertex.answers[target] = {"*": "answer"}
    return vertex


def test_a_vertex_retune_comparison_over_a_cent_asks_first(ctx, tmp_path):
    vertex = _vertex_retuned(ctx, tmp_path, rows=10, reference_chars=2000)  # 10 x 3 x 1,024 output tokens
    args = {"job_id": JOB, "previous_job_id": PREVIOUS_JOB}
    declined = dispatch("compare_retuned", args, ctx)
    assert declined.is_error and declined.data["declined"] and "At most $" in declined.content
    assert "(30 Vertex AI generations)" in declined.content and vertex.generated == []  # nothing billed
    asked: list[str] = []
    approving = replace(ctx, approve=lambda tool, question: asked.append(question) or True)
    assert not dispatch("compare_retuned", args, approving).is_error
    assert len(asked) == 1 and len(vertex.generated) == 30


def test_a_cheap_vertex_retune_comparison_runs_without_asking(ctx, tmp_path):
    vertex = _vertex_retuned(ctx, tmp_path, rows=5, reference_chars=20)
    result = dispatch("compare_retuned", {"job_id": JOB, "previous_job_id": PREVIOUS_JOB}, ctx)
    assert not result.is_error, result.content  # ctx refuses every question: none is asked
    assert len(vertex.generated) == 15


def test_the_command_goes_through_the_tool():
    result = CliRunner().invoke(app, ["compare-retuned", "local-404", "--previous", "local-403", "--json"])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False and "local-404" in out["error"]
