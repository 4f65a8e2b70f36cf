"""write_report, render_summary and compare_jobs from a scripted job whose facts came through the real tools: the
sections exist, the numbers are the inputs', the PNGs are real images, and the code examples actually run."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from monitor_fake_backend import FakeBackend, checkpoints, decay, noisy, points
from PIL import Image

from tools.backends.base import (
    EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, DataStats, JobState, PreflightCheck, PreflightReport,
)
from tools.catalog import catalog
from tools.dataset.validation import FileReport, TokenStats, ValidationReport
from tools.registry import dispatch
from tools.training.cost import CostEstimate
from tools.training.jobs import CreateTuningJobOutput
from tools.training.hyperparams import FloatChoice, HyperparameterAdvice, IntChoice
from tools.reporting.report import render_summary
from tools.reporting.summary import jobs_overview, rows_table

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
TRAIN_LAST = 0.4242
PROMPTS = [("Peru", "Lima"), ("Chile", "Santiago"), ("Kenya", "Nairobi"), ("Japan", "Tokyo")]


def metrics(seed: int = 1, overfit: bool = False) -> dict:
    train = noisy(decay(90), 0.05, seed)
    train[-1] = TRAIN_LAST
    evals = [1.05, 0.83, 0.95] if overfit else [1.05, 0.83, 0.71]
    return {TRAIN_LOSS: points(train, 30), TRAIN_ACCURACY: points([0.4 + 0.5 * i / 90 for i in range(90)], 30),
            EVAL_LOSS: points(evals, 30, start=30, every=30), EVAL_ACCURACY: points([0.61, 0.7, 0.74], 30, start=30,
                                                                                   every=30)}


def scripted_job(ctx, fake, tmp_path, job_id="local-rep", overfit=False, **extra):
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"systemInstruction": {"parts": [{"text": "Name the capital."}]}, "contents": [
        {"role": "user", "parts": [{"text": f"Capital of {c}?"}]},
        {"role": "model", "parts": [{"text": city}]}]}) + "\n" for c, city in PROMPTS))
    ctx.workspace.record_dataset("local://train.jsonl", {"examples": 57, "valid_examples": 57, "tokens": 4321,
                                                         "billable_tokens_per_epoch": 2100, "tokens_estimated": False,
                                                         "avg_input_tokens": 12.0, "avg_output_tokens": 25.0,
                                                         "max_tokens": 88})
    ctx.workspace.record_dataset(str(val), {"examples": 4, "valid_examples": 4, "tokens": 120})
    info = {"epochs": 3, "adapter_size": 4, "learning_rate_multiplier": 1.0, "total_steps": 90,
            "training_dataset_uri": "local://train.jsonl", "validation_dataset_uri": str(val),
            "started_at": START, "ended_at": START + timedelta(hours=1, minutes=5),
            "checkpoints": checkpoints(job_id, [30, 60, 90]), "endpoint": f"{job_id}/checkpoint-3",
            "display_name": extra.pop("display_name", None)}
    fake.add_job(job_id, [JobState.RUNNING, JobState.SUCCEEDED], metrics(overfit=overfit), **{**info, **extra})
    fake.answers[f"{job_id}/checkpoint-2"] = fake.answers[f"{job_id}/checkpoint-3"] = {
        f"Capital of {c}?": city for c, city in PROMPTS}
    fake.answers["base:gemma-3-270m"] = {f"Capital of {c}?": f"Capital of {c}? Capital of" for c, _ in PROMPTS}
    return val


def validated(path: str, summary: str, examples: int = 57, validation: str | None = None) -> dict:
    """validate_dataset's result, in its own output model."""
    def report(p: str, n: int) -> FileReport:
        return FileReport(path=p, bytes=100 * n, lines=n, examples=n, valid_examples=n, errors=0, warnings=0,
                          tokens=TokenStats(total=75 * n))

    return ValidationReport(ok=True, base_model="gemma-3-270m", max_tokens_per_example=131072,
                            train=report(path, examples), validation=report(validation, 4) if validation else None,
                            report_path="/workspace/reports/validate.jsonl", tokens_estimated=False,
                            summary=summary).model_dump(mode="json")


def advised(model: str, epochs: int, reason: str, notes: tuple[str, ...] = ()) -> dict:
    """recommend_hyperparameters' result, in its own output model."""
    return HyperparameterAdvice(base_model=model, example_count=57, avg_tokens=75.0,
                                epochs=IntChoice(value=epochs, reason=reason),
                                adapter_size=IntChoice(value=4, reason="small data"),
                                learning_rate_multiplier=FloatChoice(value=1.0, reason="the default"),
                                notes=list(notes)).model_dump(mode="json")


def pre_job_events(ctx):
    """What check_environment, validate_dataset and recommend_hyperparameters left before the job was created."""
    report = PreflightReport(backend="local", ok=True, checks=[
        PreflightCheck(name="packages", ok=True, detail="torch 2.13.0, transformers 5.24.0"),
        PreflightCheck(name="disk", ok=True, detail="31 GiB free")])
    ctx.workspace.log_event(None, "tool:check_environment", "ok", report.model_dump(mode="json"))
    ctx.workspace.log_event(None, "tool:validate_dataset", "ok", validated(
        "/data/train.jsonl", "Ready to tune. train.jsonl: 57 examples, 0 errors, 0 warnings, 4,321 tokens.",
        validation="/data/val.jsonl"))
    ctx.workspace.log_event(None, "tool:recommend_hyperparameters", "ok", advised(
        "gemma-3-270m", 3, "57 short examples: 3 passes learn the format",
        ("Fewer than 100 examples: expect a modest gain.",)))


def created(job, estimate: CostEstimate | None = None) -> dict:
    """create_tuning_job's result as dispatch logs it: the tool's own output model."""
    estimate = estimate or CostEstimate(base_model=job.base_model, summary="not estimated")
    return CreateTuningJobOutput(job=job, estimated_cost=estimate, reused=False).model_dump(mode="json")


def run_workflow(ctx, fake, job_id="local-rep"):
    ctx.workspace.log_event(job_id, "tool:create_tuning_job", "ok", created(fake.get_job(job_id), CostEstimate(
        base_model="gemma-3-270m", tokens_per_epoch=2100, epochs=3, training_cost_usd=0.0, per_request_usd=0.0,
        summary="free: runs locally", price_source="runs on this machine", price_as_of="2026-11-26")))
    for name, args in (("poll_metrics", {"job_id": job_id, "poll_interval_s": 0.001}),
                       ("choose_checkpoint", {"job_id": job_id}), ("compare_models", {"job_id": job_id}),
                       ("test_endpoint", {"job_id": job_id, "n": 2})):
        result = dispatch(name, args, ctx)
        assert not result.is_error, result.content


@pytest.fixture
def reported(ctx, fake, tmp_path):
    scripted_job(ctx, fake, tmp_path)
    pre_job_events(ctx)
    run_workflow(ctx, fake)
    result = dispatch("write_report", {"job_ids": ["local-rep"]}, ctx)
    assert not result.is_error, result.content
    return result.data


def code_block(markdown: str, language: str, after: str) -> str:
    tail = markdown[markdown.index(after):]
    return re.search(rf"```{language}\n(.*?)```", tail, re.DOTALL).group(1)


def test_report_has_every_section_with_the_inputs_numbers(ctx, fake, reported):
    text = open(reported["path"]).read()
    assert reported["path"].endswith("reports/local-rep/report.md") and reported["missing"] == []
    for heading in ("Pre-flight", "Dataset statistics", "Hyperparameters and why", "Training summary and health",
                    "Checkpoints", "Evaluation", "Endpoint and code examples", "Cost",
                    "Recommendations and next steps"):
        assert f"\n## {heading}\n" in text
    assert reported["sections"][0] == "summary" and "cost" in reported["sections"]
    assert "| packages | ✓ | torch 2.13.0, transformers 5.24.0 |" in text
    assert "| training | `local://train.jsonl` | 57 | 57 | 4,321 | 12 + 25 | 88 |" in text
    assert "| epochs | 3 | 3 | 57 short examples: 3 passes learn the format |" in text
    assert f"| `/train_total_loss` | " in text and f"| {TRAIN_LAST:.3g} |" in text
    assert "| `/eval_total_loss` | 1.05 | 0.71 | 0.71 |" in text
    assert "duration 1h 5m; steps 90 of 90; 3 epochs configured." in text and "Health: Healthy convergence" in text
    assert "| 3 | 3 | 90 | 0.71 | 74.0% |" in text and "lowest eval loss (0.71, eval accuracy 74.0%)" in text
    assert "4 held-out prompts" in text and "| exact_match | 0.000 | 1.000 | +1.000 |" in text
    assert "2/2 requests answered" in text and "free: runs locally" in text
    assert "Deploy checkpoint 3 (epoch 3)" in text and "Next steps:" in text
    assert "- Fewer than 100 examples: expect a modest gain." in text
    assert "Prices: runs on this machine, as of 2026-11-26." in text


def test_report_plots_are_real_pngs(reported):
    assert [p.rsplit("/", 1)[1] for p in reported["plots"]] == ["loss.png", "accuracy.png"]
    for path in reported["plots"]:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (800, 420)
            image.verify()
    text = open(reported["path"]).read()
    assert "![loss curves](loss.png)" in text and "![accuracy curves](accuracy.png)" in text


def test_report_code_examples_work_against_a_served_endpoint(ctx, fake, reported):
    text = open(reported["path"]).read()
    assert "gto serve local-rep/checkpoint-3" in text
    python = code_block(text, "python", "## Endpoint and code examples")
    curl = code_block(text, "bash", "or with curl")
    with fake.serve_endpoint("local-rep/checkpoint-3") as url:
        printed = []
        exec(python.replace("http://127.0.0.1:8765", url), {"print": printed.append})  # noqa: S102 - our snippet
        assert printed == ["Lima"]
        body = re.search(r"-d '(.*)'", curl).group(1)
        # both examples send the system instruction the model was tuned with
        assert "system_instruction': \"Name the capital.\"" in python
        assert json.loads(body)["systemInstruction"] == {"parts": [{"text": "Name the capital."}]}
        route = re.search(r"http://127.0.0.1:8765(\S+)", curl).group(1)
        request = urllib.request.Request(url + route, data=body.encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            answer = json.load(response)
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Lima"


def test_missing_facts_are_said_plainly(ctx, fake):
    leaked = "AIzaSyA-1234567890abcdefghijk"
    fake.add_job("local-bare", [JobState.FAILED], {}, error=f"out of memory (key {leaked})")
    out = dispatch("write_report", {"job_ids": ["local-bare"]}, ctx).data
    text = open(out["path"]).read()
    assert leaked not in text and leaked not in render_summary(ctx, "local-bare")  # secrets never reach a report
    assert out["plots"] == [] and len(out["missing"]) >= 5
    assert "_Not available: no check_environment result was recorded" in text
    assert "_Not available: no training metrics were recorded" in text
    assert "_Not available: compare_models was not run" in text
    assert "State **FAILED** (out of memory (key [REDACTED]))" in text
    assert "fix its cause, and create a new job" in text


def test_vertex_examples_use_the_endpoint_and_thinking_off(ctx, tmp_path):
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    job_id = "projects/123/locations/europe-west4/tuningJobs/456"
    endpoint = "projects/123/locations/europe-west4/endpoints/789"
    vertex.add_job(job_id, [JobState.SUCCEEDED], metrics(), base_model="gemini-2.5-flash", endpoint=endpoint,
                   tuned_model="projects/123/locations/europe-west4/models/1011@1", epochs=3,
                   data_stats=DataStats(total_billable_token_count=125_000, example_count=523))
    out = dispatch("write_report", {"job_ids": [job_id], "output_dir": str(tmp_path / "r")}, ctx).data
    text = open(out["path"]).read()
    python = code_block(text, "python", "## Endpoint and code examples")
    compile(python, "example.py", "exec")
    assert 'genai.Client(enterprise=True, project="123", location="europe-west4")' in python
    assert f'model="{endpoint}"' in python and "ThinkingConfig(thinking_budget=0)" in python
    assert f"https://europe-west4-aiplatform.googleapis.com/v1/{endpoint}:generateContent" in text
    assert '"thinkingConfig": {"thinkingBudget": 0}' in text
    assert "The service counted 523 examples, 125,000 billable tokens per epoch" in text
    price = catalog().get("gemini-2.5-flash").tuning_per_m
    assert f"| actual | ${125_000 * 3 * price / 1e6:,.2f} |" in text  # billable tokens x epochs x catalog price
    assert "Compare the tuned and base models: compare_models" in text
    assert out["path"] == str(tmp_path / "r" / "report.md")


def test_sweep_report_and_compare_jobs(ctx, fake, tmp_path):
    scripted_job(ctx, fake, tmp_path, "local-e3", display_name="epochs-3")
    scripted_job(ctx, fake, tmp_path, "local-e3o", overfit=True, display_name="epochs-3-overfit")
    for job_id in ("local-e3", "local-e3o"):
        ctx.workspace.save_job(fake.get_job(job_id))
    out = dispatch("compare_jobs", {"job_ids": ["local-e3", "local-e3o"]}, ctx).data
    assert out["best_job_id"] == "local-e3" and "lowest eval loss 0.71" in out["reason"]
    assert [(r["job_id"], r["best_eval_loss"], r["final_train_loss"]) for r in out["rows"]] == [
        ("local-e3", 0.71, TRAIN_LAST), ("local-e3o", 0.83, TRAIN_LAST)]
    assert "overfitting from epoch 2" in out["rows"][1]["health"]
    report = dispatch("write_report", {"job_ids": ["local-e3", "local-e3o"]}, ctx).data
    text = open(report["path"]).read()
    assert "## Comparison" in text and "## Job 2: epochs-3-overfit" in text and "\n### Checkpoints\n" in text
    assert "| epochs-3 | SUCCEEDED | 3 | 4 | 1.0 | 0.4242 | 0.71 (3) | 74.0% |" in text
    names = [p.rsplit("/", 1)[1] for p in report["plots"]]
    assert names[:2] == ["sweep-eval-loss.png", "sweep-train-loss.png"] and "job2-loss.png" in names


def test_a_choice_made_before_the_last_checkpoints_is_redone(ctx, fake, tmp_path):
    scripted_job(ctx, fake, tmp_path, "local-early")
    fake.jobs["local-early"].states, fake.jobs["local-early"].reveal = [JobState.SUCCEEDED], [90]
    ctx.workspace.log_event("local-early", "tool:choose_checkpoint", "ok", {
        "job_id": "local-early", "checkpoint": {"checkpoint_id": "2"}, "reason": "chosen mid-run", "is_default": False})
    text = open(dispatch("write_report", {"job_ids": ["local-early"]}, ctx).data["path"]).read()
    assert "Chosen (computed for this report): lowest eval loss (0.71" in text
    assert "choose_checkpoint had picked checkpoint 2 before the later checkpoints existed" in text


def test_terminal_summary_has_the_seed_shape_with_real_numbers(ctx, fake, reported):
    text = render_summary(ctx, "local-rep")
    lines = text.splitlines()
    assert lines[0] == "=== Gemini Tuning Orchestrator - Summary ==="
    assert "✓ Phase 1: Pre-Flight Checks Complete" in lines
    assert "  - Dataset: local://train.jsonl (57 examples)" in lines
    assert "✓ Phase 2: Tuning Job Created" in lines and "  - Adapter Size: 4 (LoRA rank)" in lines
    assert "✓ Phase 3: Training Complete (Duration: 1h 5m)" in lines
    assert f"  - Final train_loss: {TRAIN_LAST:.3g}" in lines and "  - Final eval_accuracy: 74.0%" in lines
    assert "  - Best checkpoint: Epoch 3 (eval_loss: 0.71, eval_accuracy: 74.0%)" in lines
    assert any(line.startswith("  - Tuned vs base on 4 held-out prompts: token_f1 ") for line in lines)
    assert "  - Quality: tuned better than base on exact_match, token_f1, rouge_l, embedding_similarity (95% " \
           "intervals)" in lines
    assert "✓ Phase 5: Deployment Ready" in lines and "  - Endpoint: local-rep/checkpoint-3" in lines
    assert any(line.startswith("  - Test inference successful (2/2 requests") for line in lines)
    assert "  - Training cost: ~$0.00 (2.1K tokens × 3 epochs)" in lines
    assert lines.index("Cost Analysis:") < lines.index("Recommendations:") < lines.index("Next Steps:")
    assert "  1. Test the endpoint with production-like queries" in lines
    improvement = next(line for line in lines if "Tuned vs base" in line)
    assert "95% CI" in improvement and "4 held-out prompts" in improvement  # never a bare percentage


def test_summary_shows_phases_not_reached(ctx, fake, tmp_path):
    scripted_job(ctx, fake, tmp_path, "local-run", ended_at=None)
    fake.jobs["local-run"].states, fake.jobs["local-run"].reveal = [JobState.RUNNING], [45]
    text = render_summary(ctx, "local-run")
    assert "○ Phase 1: Pre-Flight Checks Not Done" in text
    assert "○ Phase 3: Training Not Complete (RUNNING, step 45/90)" in text
    assert "  - Final eval_loss: 1.05" in text  # the one eval point so far
    assert "○ Phase 4: Evaluation Not Done" in text and "○ Phase 5: Deployment Not Done" in text
    assert "Training cost: unknown" in text and "Wait for the job to finish" in text
    empty = render_summary(ctx, None)
    assert "○ Phase 2: Tuning Job Not Done" in empty and "○ Phase 5: Deployment Not Done" in empty


def test_jobs_overview_reads_the_workspace_alone(ctx, tmp_path):
    job = FakeBackend().add_job("local-ws", [JobState.SUCCEEDED], epochs=3, display_name="from-disk")
    ctx.workspace.save_job(job)
    for name, pts in metrics().items():
        ctx.workspace.add_metrics("local-ws", name, pts)
    rows = jobs_overview(ctx)  # no backend registered: nothing but the workspace is read
    assert [(r.job_id, r.state, r.best_eval_loss, r.final_train_loss) for r in rows] == [
        ("local-ws", "SUCCEEDED", 0.71, TRAIN_LAST)]
    assert rows_table(rows)[2].startswith("| from-disk | SUCCEEDED | 3 | auto | auto | 0.4242 | 0.71 (3) | 74.0% |")


def test_a_diverged_run_known_only_to_the_workspace_still_gets_its_report_and_summary(ctx, fake):
    # SQLite keeps NaN as NULL and the workspace turns it back into NaN: the report must take that, not crash.
    job = FakeBackend().add_job("local-gone", [JobState.FAILED], epochs=3, total_steps=90,
                                checkpoints=checkpoints("local-gone", [30, 60, 90]), error="loss became NaN")
    ctx.workspace.save_job(job)  # the fake backend no longer knows the job: only the workspace answers
    nan = float("nan")
    ctx.workspace.add_metrics("local-gone", EVAL_LOSS, points([nan, nan, nan], 30, start=30, every=30))
    ctx.workspace.add_metrics("local-gone", TRAIN_LOSS, points([2.0] * 30 + [nan] * 60, 30))
    assert all(p.value != p.value for p in ctx.workspace.get_metrics("local-gone")[EVAL_LOSS])  # NaN came back
    out = dispatch("write_report", {"job_ids": ["local-gone"]}, ctx)
    assert not out.is_error, out.content
    assert "run diverged" in open(out.data["path"]).read()
    assert "Best checkpoint" in render_summary(ctx, "local-gone")


def test_local_code_example_ignores_a_vertex_setting_in_the_environment(ctx, fake, reported, monkeypatch):
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")  # common in a shell set up for Vertex AI
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    python = code_block(open(reported["path"]).read(), "python", "## Endpoint and code examples")
    assert "vertexai=False" in python
    with fake.serve_endpoint("local-rep/checkpoint-3") as url:
        printed = []
        exec(python.replace("http://127.0.0.1:8765", url), {"print": printed.append})  # noqa: S102 - our snippet
    assert printed == ["Lima"]


@pytest.mark.parametrize(("region", "serving"), [("europe-west4", "eu"), ("us-central1", "us")])
def test_gemini_3_examples_call_the_multi_region_that_serves_them(ctx, tmp_path, region, serving):
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    job_id, endpoint = f"projects/123/locations/{region}/tuningJobs/456", f"projects/123/locations/{region}/endpoints/7"
    vertex.add_job(job_id, [JobState.SUCCEEDED], metrics(), base_model="gemini-3.5-flash", endpoint=endpoint, epochs=3)
    out = dispatch("write_report", {"job_ids": [job_id], "output_dir": str(tmp_path / "r")}, ctx).data
    text = open(out["path"]).read()
    python = code_block(text, "python", "## Endpoint and code examples")
    assert f'genai.Client(enterprise=True, project="123", location="{serving}")' in python
    assert 'ThinkingConfig(thinking_level="MINIMAL")' in python
    assert f"https://aiplatform.{serving}.rep.googleapis.com/v1/{endpoint}:generateContent" in text


def test_pre_job_results_are_the_ones_about_this_jobs_dataset_model_and_project(ctx, tmp_path):
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    mine, other = tmp_path / "mine.jsonl", tmp_path / "other.jsonl"
    ctx.workspace.record_dataset(str(mine), {"examples": 10, "valid_examples": 10, "tokens": 900})
    ctx.workspace.record_dataset("gs://bkt/mine.jsonl", {"source": str(mine)})  # what upload_to_gcs records
    for path, model, project, label in ((mine, "gemini-2.5-flash", "my-proj", "MINE"),
                                        (other, "gemini-2.5-pro", "other-proj", "OTHER")):
        ctx.workspace.log_event(None, "tool:check_environment", "ok", PreflightReport(
            backend="vertex", ok=True, project=project, region="us-central1", checks=[]).model_dump(mode="json"))
        ctx.workspace.log_event(None, "tool:validate_dataset", "ok", validated(str(path), f"Ready to tune. {label}"))
        ctx.workspace.log_event(None, "tool:recommend_hyperparameters", "ok", advised(
            model, 7 if label == "MINE" else 99, label))
    job_id = "projects/my-proj/locations/us-central1/tuningJobs/31"
    vertex.add_job(job_id, [JobState.SUCCEEDED], metrics(), base_model="gemini-2.5-flash", epochs=7,
                   training_dataset_uri="gs://bkt/mine.jsonl")
    ctx.workspace.log_event(job_id, "tool:create_tuning_job", "ok", created(vertex.get_job(job_id)))
    out = dispatch("write_report", {"job_ids": [job_id], "output_dir": str(tmp_path / "r")}, ctx).data
    text = open(out["path"]).read()
    assert "Validation: Ready to tune. MINE" in text and "OTHER" not in text
    assert "| epochs | 7 | 7 | MINE |" in text
    assert "project `my-proj`" in text and "other-proj" not in text
