"""The offline planner: reading goals, and choosing the next step from the conversation alone."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agent.goal import parse_goal
from agent.models.planner import PlannerModel
from tools.backends.base import JobInfo, JobState, PreflightCheck, PreflightReport, UploadResult
from tools.dataset.repair import FixResult
from tools.dataset.validation import FileReport, TokenStats, ValidationReport
from tools.render import render_for_model
from tools.training.cost import CostEstimate
from tools.training.hyperparams import FloatChoice, HyperparameterAdvice, IntChoice
from tools.training.jobs import CreateTuningJobOutput

BASE = "gemma-3-270m"


def preflight(*failed: PreflightCheck) -> PreflightReport:
    """check_environment's result: ready unless a check failed."""
    return PreflightReport(backend="local", ok=not failed,
                           checks=[PreflightCheck(name="disk", ok=True, detail="31 GiB free"), *failed])


def validated(path: str = "data/t.jsonl", errors: int = 0, report_path: str = "/w/reports/validate.json",
              ) -> ValidationReport:
    """validate_dataset's result for a training file of 10 examples (too few to split off a validation set)."""
    train = FileReport(path=path, bytes=1000, lines=10, examples=10, valid_examples=10 - errors, errors=errors,
                       warnings=0, tokens=TokenStats(total=750))
    return ValidationReport(ok=not errors, base_model=BASE, max_tokens_per_example=131072, train=train,
                            report_path=report_path, tokens_estimated=False,
                            summary=f"{path}: 10 examples, {errors} errors.")


def fixed(path: str, copy: str) -> FixResult:
    """fix_dataset's result: the repaired copy of path written to copy."""
    return FixResult(output_path=copy, rejects_path=f"{copy}.rejects", changelog_path=f"{copy}.changes",
                     input_lines=10, kept=7, changed=2, dropped=0, rejected=3, source_format="gemini",
                     summary=f"Wrote {copy}: 7 kept, 3 rejected.")


def advised(epochs: int = 3) -> HyperparameterAdvice:
    """recommend_hyperparameters' result."""
    return HyperparameterAdvice(base_model=BASE, example_count=10, avg_tokens=75.0,
                                epochs=IntChoice(value=epochs, reason="few short examples"),
                                adapter_size=IntChoice(value=8, reason="the default"),
                                learning_rate_multiplier=FloatChoice(value=1.0, reason="the default"))


def estimated() -> CostEstimate:
    """estimate_cost's result on the local backend."""
    return CostEstimate(base_model=BASE, epochs=3, training_cost_usd=0.0, summary="free: runs locally")


def uploaded(uri: str = "local://t") -> UploadResult:
    """upload_to_gcs' result."""
    return UploadResult(uri=uri, bytes=1000)


def created(job_id: str = "local-1") -> CreateTuningJobOutput:
    """create_tuning_job's result: a running local job."""
    job = JobInfo(job_id=job_id, backend="local", state=JobState.RUNNING, base_model=BASE)
    return CreateTuningJobOutput(job=job, estimated_cost=estimated(), reused=False)


@pytest.mark.parametrize("text, expected", [
    ("Tune gemini-2.5-flash on data/train.jsonl, validate with data/val.jsonl, project my-proj",
     dict(training="data/train.jsonl", validation="data/val.jsonl", base_model="gemini-2.5-flash", project="my-proj")),
    ("Tune gemma-3-270m on examples/data/train.jsonl with validation examples/data/val.jsonl, 2 epochs, "
     "adapter size 4, learning rate multiplier 0.5",
     dict(training="examples/data/train.jsonl", validation="examples/data/val.jsonl", epochs=2, adapter_size=4,
          learning_rate_multiplier=0.5)),
    ('fine tune on "my data/train.jsonl" in europe-west4, bucket gs://my-bucket/tuning, lr 2',
     dict(training="my data/train.jsonl", region="europe-west4", bucket="gs://my-bucket", learning_rate_multiplier=2.0)),
    ("validate data/train.jsonl then tune locally for 3 epochs", dict(training="data/train.jsonl", validation=None,
                                                                      backend="local", epochs=3)),
    ("train.jsonl and dev.jsonl on Vertex AI with rank 8", dict(training="train.jsonl", validation="dev.jsonl",
                                                                 backend="vertex", adapter_size=8)),
    ("tune something nice", dict(training=None, base_model=None, epochs=None)),
])
def test_goal_parsing(text, expected):
    goal = parse_goal(text)
    for key, value in expected.items():
        assert getattr(goal, key) == value, key


def turn(model, messages):
    return model.complete("", messages, []).message["content"]


def tool_use(content):
    return next(b for b in content if b["type"] == "tool_use")


def answer(messages, content, result: BaseModel | str, is_error=False):
    """Append the planner's turn and a tool result for its (first) call: an error's text, or the tool's output as
    dispatch renders it for a model."""
    call = tool_use(content)
    text = result if is_error else render_for_model(call["name"], result, None)
    messages += [{"role": "assistant", "content": content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": text,
                                               "is_error": is_error}]}]


def test_one_shot_without_a_dataset_fails_naming_what_is_missing():
    content = turn(PlannerModel(), [{"role": "user", "content": "tune something"}])
    assert content[0]["type"] == "text" and "training dataset" in content[0]["text"]
    assert "one-shot" in content[0]["text"]


def test_interactive_asks_and_uses_the_answer():
    model = PlannerModel(interactive=True)
    messages = [{"role": "user", "content": "tune something"}]
    question = turn(model, messages)
    assert question == [{"type": "text", "text": question[0]["text"]}] and question[0]["text"].endswith("convert).")
    messages += [{"role": "assistant", "content": question}, {"role": "user", "content": "use data/t.jsonl"}]
    assert tool_use(turn(model, messages))["name"] == "check_environment"


def test_a_gemini_goal_on_the_local_backend_is_a_gemma_rehearsal_said_plainly():
    messages = [{"role": "user", "content": "Tune gemini-3.5-flash-lite on data/t.jsonl"}]
    content = turn(PlannerModel(backend="local"), messages)
    assert "Rehearsing on this machine with gemma-3-270m" in content[0]["text"]
    answer(messages, content, preflight())
    call = tool_use(turn(PlannerModel(backend="local"), messages))
    assert call["name"] == "validate_dataset" and call["input"]["base_model"] == "gemma-3-270m"


def test_vertex_needs_a_bucket():
    content = turn(PlannerModel(backend="vertex"), [{"role": "user", "content": "Tune gemini-3.5-flash-lite on d/t.jsonl"}])
    assert "bucket" in content[0]["text"]


def test_broken_data_is_repaired_then_revalidated_with_the_copy():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    answer(messages, turn(model, messages), preflight())
    answer(messages, turn(model, messages), validated(errors=3, report_path="/r.json"))
    fix = tool_use(turn(model, messages))
    assert fix == {**fix, "name": "fix_dataset", "input": {"path": "data/t.jsonl"}}
    answer(messages, [{"type": "tool_use", **fix}], fixed("data/t.jsonl", "data/t.fixed.jsonl"))
    again = tool_use(turn(model, messages))
    assert again["name"] == "validate_dataset" and again["input"]["path"] == "data/t.fixed.jsonl"
    answer(messages, [{"type": "tool_use", **again}], validated("data/t.fixed.jsonl", errors=1, report_path="/r2"))
    stop = turn(model, messages)
    assert stop[0]["type"] == "text" and "still has errors" in stop[0]["text"] and "/r2" in stop[0]["text"]


def test_declined_job_stops_without_retrying():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    content = turn(model, messages)
    answer(messages, content, "The user declined: Tuning costs $4.00. Nothing was done.", is_error=True)
    stop = turn(model, messages)
    assert stop[0]["type"] == "text" and "nothing was spent" in stop[0]["text"]


def test_explicit_hyperparameters_win_over_recommendations():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl, 7 epochs"}]
    answer(messages, turn(model, messages), preflight())
    answer(messages, turn(model, messages), validated())
    answer(messages, turn(model, messages), advised(epochs=3))
    estimate = tool_use(turn(model, messages))
    assert estimate["name"] == "estimate_cost" and estimate["input"]["epochs"] == 7
    answer(messages, [{"type": "tool_use", **estimate}], estimated())
    upload = tool_use(turn(model, messages))
    answer(messages, [{"type": "tool_use", **upload}], uploaded("local://t"))
    create = tool_use(turn(model, messages))
    assert create["name"] == "create_tuning_job"
    assert create["input"] == {"training_dataset_uri": "local://t", "base_model": "gemma-3-270m", "epochs": 7,
                               "adapter_size": 8, "learning_rate_multiplier": 1.0, "backend": "local"}


@pytest.mark.parametrize("text, project", [
    ("Tune on data/t.jsonl for the project described in the README", None),
    ("Tune on data/t.jsonl in my project called acme-prod", "acme-prod"),
    ("Tune on data/t.jsonl, project id: demo123", "demo123"),
    ("Tune on data/t.jsonl, project is described below; project my-proj-7", "my-proj-7"),
    ("Tune on data/t.jsonl, project called acme", None),  # 4 characters: no Google Cloud project id
    ("Tune on data/t.jsonl, project: Acme-Prod", None),  # project ids are lowercase
])
def test_only_a_plausible_project_id_is_read_from_the_goal(text, project):
    assert parse_goal(text).project == project


def steps_to_create(model, messages):
    """Walk the planner from the goal to its create_tuning_job call, answering each step as a tool would."""
    for result in (preflight(), validated(), advised(), estimated(), uploaded("local://t")):
        answer(messages, turn(model, messages), result)
    return tool_use(turn(model, messages))


def test_after_a_declined_job_the_users_answer_lets_it_go_on_with_the_change():
    model = PlannerModel(interactive=True)
    messages = [{"role": "user", "content": "Tune on data/t.jsonl, 3 epochs"}]
    create = steps_to_create(model, messages)
    assert create["name"] == "create_tuning_job" and create["input"]["epochs"] == 3
    answer(messages, [{"type": "tool_use", **create}], "The user declined: it costs $4. Nothing was done.",
           is_error=True)
    stop = turn(model, messages)
    assert "nothing was spent" in stop[0]["text"] and turn(model, messages) == stop  # asked again: still stopped
    messages += [{"role": "assistant", "content": stop}, {"role": "user", "content": "use 1 epoch and go ahead"}]
    again = tool_use(turn(model, messages))
    assert again["name"] == "create_tuning_job" and again["input"]["epochs"] == 1


def test_a_failed_preflight_is_checked_again_once_the_user_writes():
    model = PlannerModel(interactive=True)
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    answer(messages, turn(model, messages), preflight(
        PreflightCheck(name="credentials", ok=False, detail="none found", fix="gcloud auth")))
    stop = turn(model, messages)
    assert "Pre-flight checks failed" in stop[0]["text"] and "gcloud auth" in stop[0]["text"]
    messages += [{"role": "assistant", "content": stop}, {"role": "user", "content": "fixed it, try again"}]
    assert tool_use(turn(model, messages))["name"] == "check_environment"


def test_a_failed_tool_is_retried_after_resume_but_not_after_the_loops_reminder():
    from prompts import render

    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    answer(messages, turn(model, messages), preflight())
    answer(messages, turn(model, messages), "validate_dataset failed: disk full", is_error=True)
    stop = turn(model, messages)
    messages += [{"role": "assistant", "content": stop},
                 {"role": "user", "content": render("nudge", missing="Dataset validated and uploaded (not done)")}]
    assert turn(model, messages) == stop  # the reminder is not the user answering
    messages += [{"role": "assistant", "content": stop}, {"role": "user", "content": "Continue where you stopped."}]
    assert tool_use(turn(model, messages))["name"] == "validate_dataset"


def test_poll_metrics_failing_twice_in_a_row_stops_watching():
    model = PlannerModel()
    messages = [{"role": "user", "content": "Tune on data/t.jsonl"}]
    create = steps_to_create(model, messages)
    answer(messages, [{"type": "tool_use", **create}], created("local-1"))
    poll = turn(model, messages)
    assert tool_use(poll)["name"] == "poll_metrics"
    answer(messages, poll, "poll_metrics failed: the backend is unreachable", is_error=True)
    second = turn(model, messages)
    assert tool_use(second)["name"] == "poll_metrics"  # one failure may be a blip
    answer(messages, second, "poll_metrics failed: the backend is unreachable", is_error=True)
    stop = turn(model, messages)
    assert stop == [{"type": "text", "text": stop[0]["text"]}] and "failed twice in a row" in stop[0]["text"]
    assert "gto watch local-1" in stop[0]["text"]


def test_call_ids_are_unique_across_processes():
    import importlib

    import agent.models.planner as planner

    ids = []
    for _ in range(2):  # each run starts a new process, as a resumed one does
        fresh = importlib.reload(planner)
        ids.append(tool_use(turn(fresh.PlannerModel(), [{"role": "user", "content": "Tune on data/t.jsonl"}]))["id"])
    assert ids[0] != ids[1] and ids[0].startswith("toolu_planner_")


def test_a_bucket_named_as_a_gs_uri_goes_to_the_tools_by_name():
    model = PlannerModel(backend="vertex")
    messages = [{"role": "user", "content": "Tune gemini-3.5-flash-lite on d/t.jsonl, bucket gs://acme-data/tuning"}]
    assert tool_use(turn(model, messages))["input"]["bucket"] == "acme-data"


def test_the_sessions_settings_win_over_the_text():
    from tools.settings import Settings

    settings = Settings(project="flag-project", bucket="flag-bucket")
    model = PlannerModel(backend="vertex", settings=settings)
    messages = [{"role": "user", "content": "Tune gemini-3.5-flash-lite on d/t.jsonl for project text-project"}]
    assert tool_use(turn(model, messages))["input"] == {"backend": "vertex", "project": "flag-project",
                                                       "bucket": "flag-bucket"}
    settings.project = "changed-later"  # the loop follows a later message: the planner reads the live settings
    assert tool_use(turn(model, messages))["input"]["project"] == "changed-later"


def test_a_retired_model_is_refused_before_anything_runs_and_its_successor_proposed():
    model = PlannerModel(backend="vertex", interactive=True)
    messages = [{"role": "user", "content": "Tune gemini-2.5-flash on d/t.jsonl, bucket gs://acme-data"}]
    content = turn(model, messages)
    assert [b["type"] for b in content] == ["text"]  # nothing uploaded, no job
    assert "retired on 2026-10-20" in content[0]["text"] and 'Say "use gemini-3.5-flash-lite"' in content[0]["text"]
    messages += [{"role": "assistant", "content": content}, {"role": "user", "content": "use gemini-3.5-flash-lite"}]
    first = turn(model, messages)
    calls = [b for b in first if b["type"] == "tool_use"]
    assert calls[0]["name"] == "check_environment"
    assert next(c for c in calls if c["name"] == "validate_dataset")["input"]["base_model"] == "gemini-3.5-flash-lite"
