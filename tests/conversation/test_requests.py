"""Requests as people write them, each run one-shot through the real loop, registry and tools with the offline
planner, on a fast scripted local backend: the tools each must call and must not call, and the exit code `gto run`
would give. Short and long, with typos, negations and pronouns ("it" is the workspace's latest job)."""

from __future__ import annotations

import importlib.util
import io
import shutil
import sys
from pathlib import Path

import pytest

from agent.console import Console
from agent.runs import drive, open_agent
from tools.backends.base import JobState

_spec = importlib.util.spec_from_file_location(
    "requests_fake_backend", Path(__file__).parents[1] / "monitor" / "fake_backend.py")
fake_backend = importlib.util.module_from_spec(_spec)
sys.modules["requests_fake_backend"] = fake_backend
_spec.loader.exec_module(fake_backend)

EXAMPLES = Path(__file__).parents[2] / "examples" / "data"
JOB = "local-20261201-101500-a1b2c3"
JOB2 = "local-20261202-111500-d4e5f6"
CREATE = "create_tuning_job"

# (request, tools it must call, tools it must not call, exit code)
CORPUS = [
    # Checking data only
    ("{messy}, but just check it, don't train yet", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("Is {train} ready? Don't train yet.", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("check {train}", {"validate_dataset"}, {CREATE, "upload_to_gcs", "fix_dataset"}, 0),
    ("valdiate {train} pls", {"validate_dataset"}, {CREATE}, 0),
    ("please validate my dataset {train} and tell me what's wrong with it", {"validate_dataset"}, {CREATE}, 0),
    ("{train}", {"validate_dataset"}, {CREATE}, 0),
    ("is {messy} ok?", {"validate_dataset"}, {CREATE, "fix_dataset"}, 0),
    ("Validate {train} with {val} as the validation set, no training", {"validate_dataset"}, {CREATE}, 0),
    ("dry run on {train}", {"validate_dataset"}, {CREATE}, 0),
    ("is {train} ready for tuning?", {"validate_dataset"}, {CREATE, "upload_to_gcs", "split_dataset"}, 0),
    ("is {train} good for fine-tuning?", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("does {train} look ok for training?", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("can I use {train} to tune gemma-3-270m?", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("will {train} work for tuning?", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    # Repair, split, settings, cost
    ("fix {messy}", {"fix_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("repair {messy} please, it's in openai format", {"fix_dataset"}, {CREATE}, 0),
    ("split {train} into train and validation", {"split_dataset"}, {CREATE}, 0),
    ("remove duplicates from {train}", {"fix_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("hold out a validation set from {train}", {"split_dataset"}, {CREATE}, 0),
    ("recommend hyperparameters for {train}", {"recommend_hyperparameters"}, {CREATE}, 0),
    ("what settings should I use for {train}?", {"recommend_hyperparameters"}, {CREATE}, 0),
    ("estimate the price of 5 epochs on {train}", {"estimate_cost"}, {CREATE, "upload_to_gcs"}, 0),
    ("how much would it cost to tune gemma-3-270m on {train} for 3 epochs", {"estimate_cost"}, {CREATE}, 0),
    ("Estimate cost: {train}, 4 epochs", {"estimate_cost"}, {CREATE}, 0),
    ("what will this cost? {train}", {"estimate_cost"}, {CREATE}, 0),
    ("estimte the cost of {train}", {"estimate_cost"}, {CREATE}, 0),
    ("what would tuning gemma-3-270m on {train} cost?", {"estimate_cost"}, {CREATE, "upload_to_gcs"}, 0),
    ("how long will training take on {train}?", {"estimate_cost"}, {CREATE, "upload_to_gcs", "split_dataset"}, 0),
    # Environment and jobs
    ("is my setup OK for tuning?", {"check_environment"}, {CREATE, "validate_dataset"}, 0),
    ("check my environment", {"check_environment"}, {CREATE}, 0),
    ("am I ready to tune?", {"check_environment"}, {CREATE}, 0),
    ("show my jobs", {"list_jobs"}, {CREATE}, 0),
    ("list jobs", {"list_jobs"}, {CREATE}, 0),
    ("what jobs do I have", {"list_jobs"}, {CREATE}, 0),
    # Models and help: answered, nothing checked or run
    ("what models can I tune?", {"list_models"}, {CREATE, "check_environment"}, 0),
    ("which gemini models are retired?", {"list_models"}, {CREATE, "validate_dataset"}, 0),
    ("show my tuned models", {"list_models"}, {CREATE, "validate_dataset"}, 0),
    ("help", set(), {CREATE, "check_environment", "validate_dataset"}, 0),
    ("thanks!", set(), {CREATE, "check_environment"}, 0),
    ("delete my old jobs", set(), {"list_jobs", "cancel_job", CREATE}, 0),
    ("clean up the tuned models", set(), {"fix_dataset", "list_models"}, 0),
    # Money already spent is the ledger, not a new estimate
    ("how much have I spent so far?", {"spend_summary"}, {"estimate_cost", CREATE}, 0),
    ("what did that job cost?", {"spend_summary"}, {"estimate_cost", "get_job"}, 0),
    (f"how is {JOB} doing?", {"get_job"}, {CREATE, "cancel_job"}, 0),
    ("what's the status?", {"get_job"}, {CREATE, "cancel_job"}, 0),
    ("whats teh status of my job", {"get_job"}, {CREATE}, 0),
    ("how's the training going?", {"get_job"}, {CREATE}, 0),
    (f"stop {JOB}", {"cancel_job"}, {CREATE, "poll_metrics"}, 0),
    ("cancel that job", {"cancel_job"}, {CREATE, "poll_metrics"}, 0),
    ("cancle it", {"cancel_job"}, {CREATE}, 0),
    (f"abort {JOB} please", {"cancel_job"}, {CREATE}, 0),
    (f"give me the report of {JOB}", {"write_report"}, {CREATE}, 0),
    ("resume that job", {"resume_job"}, {CREATE}, 1),  # it is still running: nothing to resume, said so
    ("write the report", {"write_report"}, {CREATE}, 0),
    ("list the checkpoints of it", {"list_checkpoints"}, {CREATE}, 0),
    ("show me the loss curve", {"poll_metrics"}, {CREATE, "get_job"}, 0),
    ("what base model did it use?", {"get_job"}, {CREATE, "list_models"}, 0),
    ("why did my job fail?", {"get_job"}, {CREATE}, 0),
    ("deploy it", {"get_job"}, {CREATE, "test_endpoint"}, 0),
    ("how do I use my tuned model?", {"get_job"}, {CREATE, "test_endpoint"}, 0),
    ("has it finished training?", {"get_job"}, {CREATE, "validate_dataset"}, 0),
    ("what went wrong?", {"get_job"}, {CREATE}, 0),
    ("which epoch was best?", {"choose_checkpoint"}, {CREATE, "list_checkpoints"}, None),  # running: none yet
    ("set a budget of $5", set(), {"estimate_cost", CREATE}, 0),
    ("what format should my data be in?", set(), {"validate_dataset", CREATE}, 0),
    ("how many examples do I need?", set(), {"validate_dataset", "recommend_hyperparameters", CREATE}, 0),
    ("is {train} in the right format?", {"validate_dataset"}, {CREATE, "upload_to_gcs"}, 0),
    ("are there any anomalies or overfitting in it?", {"poll_metrics"}, {CREATE, "validate_dataset"}, 0),
    ("how long did the job take?", {"get_job"}, {CREATE, "estimate_cost"}, 0),
    (f"compare {JOB} and {JOB2}", {"compare_jobs"}, {CREATE}, 0),
    ("serve it", set(), {CREATE}, 0),
    # Starting a job without waiting, and the whole workflow with limits
    ("start a tuning job on {train} and stop after the job is created", {CREATE}, {"poll_metrics"}, 0),
    ("start tuning {train}, don't wait for it", {CREATE}, {"poll_metrics", "compare_models"}, 0),
    ("Tune gemma-3-270m on {train}, validate with {val}, 1 epoch, no comparison",
     {"validate_dataset", CREATE, "poll_metrics", "test_endpoint", "write_report"}, {"compare_models"}, None),
    ("can you tune gemma-3-270m on {train} with {val} for 1 epoch?", {CREATE, "poll_metrics"}, set(), None),
    ("run the whole thing on {train} with {val} for 1 epoch", {CREATE, "poll_metrics"}, set(), None),
    ("tune on {train} with {val} for 1 epoch", {"validate_dataset", "upload_to_gcs", CREATE, "poll_metrics",
                                                "compare_models", "test_endpoint", "write_report"}, set(), None),
    # "it" is the latest job, still running: preference tuning cannot continue from it yet, and says so
    ("preference-tune it on {prefs}", {"run_preference_job"}, {"create_tuning_job", "validate_dataset"}, 1),
    ("tune on {train} with {val} for 1 epoch, then preference-tune on {prefs} from the best checkpoint",
     {CREATE, "choose_checkpoint", "run_preference_job", "write_report"}, set(), 0),
    ("just check {train}, and no DPO either", {"validate_dataset"}, {CREATE, "run_preference_job"}, 0),
    # Not understood, or missing something: nothing runs that spends
    ("make me a sandwich", set(), {CREATE, "upload_to_gcs", "validate_dataset"}, 1),
    ("Tune gemma-3-270m for me", set(), {CREATE, "upload_to_gcs"}, 1),
    ("what's up", set(), {CREATE, "upload_to_gcs"}, 1),
]


class TuningFake(fake_backend.ServingFakeBackend):
    """Jobs that train at once, with loss curves, two checkpoints and an endpoint that answers."""

    states_after_create = [JobState.SUCCEEDED]

    def create_job(self, spec):  # noqa: ANN001, ANN201
        job_id = f"local-20261207-00000{len(self.jobs)}-abcdef"
        metrics = {"/train_total_loss": fake_backend.points(fake_backend.decay(20)),
                   "/eval_total_loss": fake_backend.points(fake_backend.decay(2, end=0.5), start=10, every=10)}
        job = self.add_job(job_id, list(self.states_after_create), metrics, base_model=spec.base_model,
                           checkpoints=fake_backend.checkpoints(job_id, [10, 20]), endpoint=f"{job_id}/checkpoint-2",
                           training_dataset_uri=spec.training_dataset_uri, epochs=spec.epochs or 1,
                           validation_dataset_uri=spec.validation_dataset_uri, completed_epochs=spec.epochs or 1,
                           method=spec.method, source_model=spec.source_model,
                           source_checkpoint_id=spec.source_checkpoint_id)
        for target in (f"{job_id}/checkpoint-1", f"{job_id}/checkpoint-2", f"base:{spec.base_model}"):
            self.answers[target] = {"*": "an answer"}
        return job


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Copies of the example data: fix_dataset and split_dataset write beside their input."""
    for name in ("train.jsonl", "val.jsonl", "messy_openai.jsonl", "preferences.jsonl"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return {"train": str(tmp_path / "train.jsonl"), "val": str(tmp_path / "val.jsonl"),
            "messy": str(tmp_path / "messy_openai.jsonl"), "prefs": str(tmp_path / "preferences.jsonl")}


def run(text: str, workspace, tmp_path: Path) -> tuple[list[str], int, str]:  # noqa: ANN001
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace, goal=text)
    fake = TuningFake()
    for job_id in (JOB2, JOB):  # JOB is the latest: what "it" and "that job" mean
        fake.add_job(job_id, [JobState.RUNNING, JobState.RUNNING])
        workspace.record_job(fake.jobs[job_id].info)
        agent.conversation.latest_job = job_id
    agent.ctx._backends["local"] = fake
    result = drive(agent, text, console)
    called = [b["name"] for m in agent.messages if m["role"] == "assistant" for b in m["content"]
              if b["type"] == "tool_use"]
    return called, 0 if result.ok else 1, out.getvalue()


def chat(workspace, fake: TuningFake) -> tuple[object, io.StringIO]:  # noqa: ANN001
    """A `gto chat` agent (the offline planner, --yes) on the scripted backend, and what it prints."""
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace,
                       interactive=True, goal="(chat)")
    agent.ctx._backends["local"] = fake
    return agent, out


def test_the_corpus_is_large_and_varied():
    assert len(CORPUS) >= 40
    assert sum(1 for text, *_ in CORPUS if any(w in text.lower() for w in ("don't", " no ", "not "))) >= 5


@pytest.mark.parametrize("text, must, must_not, code", CORPUS, ids=[c[0][:50] for c in CORPUS])
def test_request_does_what_it_says(text, must, must_not, code, files, workspace, tmp_path):
    called, exit_code, out = run(text.format(**files), workspace, tmp_path)
    assert must <= set(called), (called, out[-2000:])
    assert not (must_not & set(called)), (called, out[-2000:])
    if code is not None:
        assert exit_code == code, out[-2000:]


def test_a_request_that_is_not_understood_says_so_with_examples(workspace, tmp_path):
    _, code, out = run("make me a sandwich", workspace, tmp_path)
    assert code == 1 and "did not understand" in out and out.count("examples/data/train.jsonl") >= 2


def test_models_spending_and_help_answer_in_words(workspace, tmp_path):
    called, code, out = run("which models can I tune?", workspace, tmp_path)
    assert called == ["list_models"] and code == 0
    assert "No longer tunable: gemini-2.5-pro (retired 2026-10-20, use gemini-3.8-flash)" in out
    done = TuningFake().add_job("local-20261101-090000-0a0b0c", [JobState.SUCCEEDED], base_model="gemma-3-270m",
                                endpoint="local-20261101-090000-0a0b0c/checkpoint-1")
    workspace.record_job(done)
    called, code, out = run("show my tuned models", workspace, tmp_path)
    assert called == ["list_models"] and code == 0 and "1 tuned model(s) in this workspace" in out
    assert "- local-20261101-090000-0a0b0c: gemma-3-270m (current)" in out
    called, code, out = run("can I tune gemini-2.5-flash?", workspace, tmp_path)
    assert called == ["list_models"] and code == 0  # a question about the model, not a refused tuning request
    assert ("gemini-2.5-flash is retired (2026-10-20) and can no longer be tuned; use gemini-3.5-flash-lite "
            "instead.") in out
    called, code, out = run("is gemini-3.5-flash-lite still tunable?", workspace, tmp_path)
    assert called == ["list_models"] and "gemini-3.5-flash-lite can be tuned today (current)." in out
    called, code, out = run("what did that job cost?", workspace, tmp_path)
    assert called == ["spend_summary"] and f"Job {JOB}: $0.00 recorded." in out
    called, code, out = run("what format should my data be in?", workspace, tmp_path)
    assert called == [] and code == 0 and '"contents": [{"role": "user"' in out and "100 to 500" in out
    called, code, out = run("help", workspace, tmp_path)
    assert called == [] and code == 0 and '"Cancel that job"' in out and "Success criteria" not in out


def test_a_chat_starts_a_job_asks_its_status_cancels_it_and_changes_bucket(files, workspace):
    """Follow-ups in `gto chat`, typed as a person types them: "it" and "that job" are the job just started."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from agent.repl import Repl

    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace,
                       interactive=True, goal="(chat)")
    fake = TuningFake()
    fake.states_after_create = [JobState.RUNNING]
    agent.ctx._backends["local"] = fake
    typed = (f"start tuning {files['train']} for 1 epoch, don't wait for it\r"
             "what's the status?\r"
             "cancel that job\r"
             "use my-other-bucket instead\r"
             "make me a sandwich\r/exit\r")
    with create_pipe_input() as pipe:
        pipe.send_text(typed)
        assert Repl(agent, console, prompt=PromptSession(input=pipe, output=DummyOutput())).loop() == 0
    called = [b["name"] for m in agent.messages if m["role"] == "assistant" for b in m["content"]
              if b["type"] == "tool_use"]
    job_id = next(iter(fake.jobs))
    assert called.count("create_tuning_job") == 1 and "poll_metrics" not in called
    assert called[-2:] == ["get_job", "cancel_job"]
    asked = [m["content"] for m in agent.messages if m["role"] == "user" and isinstance(m["content"], str)]
    assert not any(a.startswith("Some success criteria") for a in asked)  # a chat is never nudged
    text = out.getvalue()
    assert f"Job {job_id} (gemma-3-270m): CANCELLED" in text
    assert "Using bucket my-other-bucket from now on." in text and agent.ctx.settings.bucket == "my-other-bucket"
    assert "did not understand" in text


def test_a_chat_checks_first_then_tunes_it_then_asks_for_parts(files, workspace):
    """"Now tune it" after a check-only message tunes the file checked before; later parts are about that job."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from agent.repl import Repl

    console = Console(out=io.StringIO(), color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace,
                       interactive=True, goal="(chat)")
    fake = TuningFake()
    agent.ctx._backends["local"] = fake
    typed = (f"check {files['train']}, don't train yet\r"
             "ok now tune it with 2 epochs\r"
             "compare it with the base model\r"
             "write the report\r/exit\r")
    with create_pipe_input() as pipe:
        pipe.send_text(typed)
        assert Repl(agent, console, prompt=PromptSession(input=pipe, output=DummyOutput())).loop() == 0
    calls = [(b["name"], b["input"]) for m in agent.messages if m["role"] == "assistant" for b in m["content"]
             if b["type"] == "tool_use"]
    names = [n for n, _ in calls]
    assert names[0] == "validate_dataset" and names.index("create_tuning_job") > 1
    created = next(i for n, i in calls if n == "create_tuning_job")
    assert created["epochs"] == 2
    job_id = next(iter(fake.jobs))
    assert names[-2:] == ["compare_models", "write_report"] and calls[-1][1] == {"job_ids": [job_id]}
    assert [r.parts for r in agent.conversation.requests][-2:] == [frozenset({"compare"}), frozenset({"report"})]


def test_tuning_then_preference_tuning_from_the_chosen_checkpoint_is_one_chain_and_one_report(files, workspace,
                                                                                               tmp_path):
    text = (f"tune on {files['train']} with {files['val']} for 1 epoch, then preference-tune on {files['prefs']} "
            "from the best checkpoint")
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace, goal=text)
    fake = TuningFake()
    agent.ctx._backends["local"] = fake
    result = drive(agent, text, console)
    calls = [(b["name"], b["input"]) for m in agent.messages if m["role"] == "assistant" for b in m["content"]
             if b["type"] == "tool_use"]
    sft, preferred = list(fake.jobs)
    chosen = next(i for n, i in calls if n == "run_preference_job")
    assert chosen["source_model"] == sft and chosen["source_checkpoint_id"] and chosen["wait"] is True
    assert fake.jobs[preferred].info.method == "preference"
    compared = [i["job_id"] for n, i in calls if n == "compare_models"]
    assert compared == [sft, preferred]  # the same held-out prompts, base vs each
    assert calls[-1] == ("write_report", {"job_ids": [sft, preferred]})
    assert result.ok, [(c.label, c.detail) for c in result.criteria if not c.holds]
    assert "preference" in {c.key for c in result.criteria}


def test_retune_that_job_watches_compares_three_ways_and_reports_both(files, workspace):
    """'re-tune it' on a finished job: the same data on the base model again (gemma-3-270m is its own successor
    here), watched to the end, compared with the old tuned model and the base, and one report of both jobs."""
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace,
                       interactive=True, goal="(chat)")
    fake = TuningFake()
    old = "local-20261101-090000-0a0b0c"
    fake.add_job(old, [JobState.SUCCEEDED], training_dataset_uri=files["train"], validation_dataset_uri=files["val"],
                 epochs=1, endpoint=f"{old}/checkpoint-1")
    fake.answers[f"{old}/checkpoint-1"] = {"*": "an old answer"}
    workspace.record_job(fake.jobs[old].info)
    agent.ctx._backends["local"] = fake
    agent.conversation.latest_job = old
    from agent.runs import attempt

    assert attempt(agent, "re-tune it", "again").status == "succeeded", out.getvalue()[-2000:]
    called = [b["name"] for m in agent.messages if m["role"] == "assistant" for b in m["content"]
              if b["type"] == "tool_use"]
    assert called == ["retune_job", "poll_metrics", "compare_retuned", "write_report"], called
    reports = [b for m in agent.messages if m["role"] == "assistant" for b in m["content"]
               if b["type"] == "tool_use" and b["name"] == "write_report"]
    new = next(j for j in fake.jobs if j != old)
    assert reports[0]["input"] == {"job_ids": [old, new]}
    assert f"Re-tuned {old} (gemma-3-270m) as {new}" in out.getvalue()
    # asked again in the same conversation: the re-tune already made is the answer, not a second paid job
    again = attempt(agent, f"re-tune {old}, don't wait for it", "again")
    assert again.status == "succeeded" and "I am not waiting" in out.getvalue()
    assert sorted(fake.jobs) == sorted([old, new])


@pytest.mark.parametrize("text, parts, job", [
    ("retune local-20261201-101500-a1b2c3 on gemini-3.5-flash-lite", {"retune"}, JOB),
    ("re-tune my gemini-2.5-flash job", {"retune"}, JOB2),  # "my job": the latest one
    ("tune it again on gemini-3.5-flash", {"retune"}, JOB2),
    ("migrate that job to gemini-3.5-flash-lite, don't wait", {"retune"}, JOB2),
    ("retrain on data.jsonl", {"workflow"}, None),  # a file: a new tuning, not a re-tune
])
def test_retune_requests_are_read_as_retune(text, parts, job):
    from agent.request import read_request

    request = read_request(text, latest_job=JOB2)
    assert set(request.parts) == parts and request.job_id == job


def test_a_retired_model_asked_about_does_not_stop_the_next_request(workspace):
    """In chat the names of earlier messages carry over: asking about gemini-2.5-flash must not turn "thanks" (or
    any request that tunes nothing) into the retired-model refusal; tuning with it still is refused."""
    from agent.runs import attempt

    agent, out = chat(workspace, TuningFake())
    assert attempt(agent, "can I tune gemini-2.5-flash?", "again").status == "succeeded"
    assert attempt(agent, "thanks", "again").status == "succeeded"
    assert out.getvalue().rstrip().endswith('Glad to help. Ask me anything else, or "help" for what I can do.')
    attempt(agent, f"what would 2 epochs on {EXAMPLES / 'train.jsonl'} cost?", "again")
    assert 'Say "use gemini-3.5-flash-lite"' in out.getvalue()  # a request that uses the model: the successor proposed


def test_a_new_conversation_takes_the_workspace_s_latest_job_and_says_so(workspace):
    """`gto run "write a report"` in a workspace with jobs: the latest one, a running one before any newer that ended
    ("stop the job" is about what runs), named to the person before anything runs. An empty workspace still asks."""
    from datetime import UTC, datetime

    from agent.runs import attempt

    fake = TuningFake()
    running, ended = "local-20261205-090000-0a0a0a", "local-20261206-090000-0b0b0b"
    # noon UTC: the 5th in every time zone the notice may print it in
    fake.add_job(running, [JobState.RUNNING], created_at=datetime(2026, 12, 5, 12, tzinfo=UTC))
    fake.add_job(ended, [JobState.SUCCEEDED], created_at=datetime(2026, 12, 6, 9, tzinfo=UTC),
                 endpoint=f"{ended}/checkpoint-1")
    for text, tool in (("what's the status of my latest job?", "get_job"), ("write a report", "write_report"),
                       ("stop the job", "cancel_job")):
        for job_id in (running, ended):
            workspace.record_job(fake.jobs[job_id].info)
        agent, out = chat(workspace, fake)
        assert running in agent.system  # an LLM brain is told which job "it" is, as the planner is
        assert attempt(agent, text, "again").status == "succeeded", out.getvalue()[-2000:]
        calls = [b for m in agent.messages if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
        assert [c["name"] for c in calls] == [tool]
        assert running in str(calls[0]["input"]) and ended not in str(calls[0]["input"])
        assert (f"No job named, so I take the latest in this workspace: {running} (gemma-3-270m, RUNNING, created "
                "2026-12-05") in out.getvalue()
        attempt(agent, "how is it doing?", "again")  # the conversation's job now: said once, not again
        assert out.getvalue().count("No job named") == 1


def test_in_an_empty_workspace_a_job_request_asks_which_job(workspace):
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace,
                       goal="write a report")
    agent.ctx._backends["local"] = TuningFake()
    assert not drive(agent, "write a report", console).ok
    assert "which job?" in out.getvalue().lower() and "No job named" not in out.getvalue()


@pytest.mark.parametrize("text, parts, prompt", [
    ('test my tuned model with "What is the capital of France?"', {"endpoint"}, "What is the capital of France?"),
    ('ask it: "How do I train a dog for 3 epochs?"', {"endpoint"}, "How do I train a dog for 3 epochs?"),
    ("try the tuned model with 'What's up?'", {"endpoint"}, "What's up?"),
    ("test it", {"endpoint"}, None),
    ('validate with "data.jsonl"', {"validate"}, None),  # a quoted file is a file
])
def test_a_quoted_prompt_is_what_the_endpoint_is_asked_and_asks_nothing_itself(text, parts, prompt):
    from agent.request import read_request

    request = read_request(text, latest_job=JOB)
    assert set(request.parts) == parts and request.prompt == prompt
    assert request.names.epochs is None and request.names.training in (None, "data.jsonl")


def test_testing_the_tuned_model_with_a_prompt_shows_its_answer(workspace):
    fake = TuningFake()
    done = "local-20261206-090000-0b0b0b"
    fake.add_job(done, [JobState.SUCCEEDED], endpoint=f"{done}/checkpoint-1")
    fake.answers[f"{done}/checkpoint-1"] = {"What is the capital of France?": '{"capital": "Paris"}'}
    workspace.record_job(fake.jobs[done].info)
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    text = 'test my tuned model with "What is the capital of France?"'
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=workspace, goal=text)
    agent.ctx._backends["local"] = fake
    assert drive(agent, text, console).ok, out.getvalue()[-2000:]
    calls = [b["input"] for m in agent.messages if m["role"] == "assistant" for b in m["content"]
             if b["type"] == "tool_use"]
    assert calls == [{"job_id": done, "prompts": ["What is the capital of France?"], "n": 1}]
    assert """- 'What is the capital of France?' → '{"capital": "Paris"}'""" in out.getvalue()


def test_every_help_line_is_itself_understood():
    """What "help" shows as examples is read as the request it shows, never as "not understood"."""
    import re

    from agent.request import HELP, read_request

    quoted = [q for line in HELP for q in re.findall(r'"([^"]+)"', line)]
    assert len(quoted) >= 15
    for text in quoted:
        request = read_request(text, latest_job=JOB)
        assert request.understood and "workflow" not in request.parts, text
    assert read_request("Test it with 'What is 2+2?'", latest_job=JOB).prompt == "What is 2+2?"


def test_latest_jobs_are_compared_and_the_best_checkpoint_asked_about_or_chosen(workspace):
    """"compare my last two jobs" with none named: the workspace's newest two, said first. "Which checkpoint is
    best?" only asks; "use the best checkpoint" makes it the default."""
    from datetime import UTC, datetime

    from agent.runs import attempt

    fake = TuningFake()
    oldest, older, newer = (f"local-2026120{day}-120000-0a0a0{day}" for day in (1, 5, 6))
    for day, job_id in ((1, oldest), (5, older), (6, newer)):
        fake.add_job(job_id, [JobState.SUCCEEDED], created_at=datetime(2026, 12, day, 12, tzinfo=UTC),
                     checkpoints=fake_backend.checkpoints(job_id, [10, 20]), endpoint=f"{job_id}/checkpoint-2")
        workspace.record_job(fake.jobs[job_id].info)
    agent, out = chat(workspace, fake)
    for text in ("compare my last two jobs", "which checkpoint is best?", "use the best checkpoint"):
        assert attempt(agent, text, "again").status == "succeeded", out.getvalue()[-2000:]
    calls = [(b["name"], b["input"]) for m in agent.messages if m["role"] == "assistant" for b in m["content"]
             if b["type"] == "tool_use"]
    assert calls == [("compare_jobs", {"job_ids": [newer, older]}),
                     ("choose_checkpoint", {"job_id": newer, "set_default": False}),
                     ("choose_checkpoint", {"job_id": newer, "set_default": True})]
    assert f"No jobs named, so I compare the latest 2 in this workspace: {newer}, {older}." in out.getvalue()
