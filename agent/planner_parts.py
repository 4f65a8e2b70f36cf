"""The offline planner's answer to a request for some parts of the workflow ("just check it", "cancel that job",
"what will this cost?"): the tool each part needs, once, in the workflow's order; then a short closing text.
The whole workflow is the planner's own phases (agent/models/planner.py)."""

from __future__ import annotations

import re
from datetime import UTC
from typing import TYPE_CHECKING, Any

import agent.request_words as words
from agent.goal import MODEL_NAME
from agent.models.planner_history import Seen, recommended
from agent.request import EXAMPLES, HELP, JOB_PARTS, PARTS, Request
from tools.backends.base import JobInfo
from tools.results import job_of

if TYPE_CHECKING:
    from agent.models.planner import Plan

# The tool that answers each part, and what it needs: "file" (a training dataset) or "job" (a job id).
_TOOLS: dict[str, tuple[str, str | None]] = {
    "models": ("list_models", None),
    "spent": ("spend_summary", None),
    "environment": ("check_environment", None),
    "validate": ("validate_dataset", "file"),
    "fix": ("fix_dataset", "file"),
    "split": ("split_dataset", "file"),
    "recommend": ("recommend_hyperparameters", "file"),
    "estimate": ("estimate_cost", "file"),
    "upload": ("upload_to_gcs", "file"),
    "status": ("get_job", "job"),
    "watch": ("poll_metrics", "job"),
    "health": ("poll_metrics", "job"),
    "cancel": ("cancel_job", "job"),
    "resume": ("resume_job", "job"),
    "checkpoints": ("list_checkpoints", "job"),
    "serve": ("get_job", "job"),  # what serves it depends on its backend and state
    "compare": ("compare_models", "job"),
    "endpoint": ("test_endpoint", "job"),
    "report": ("write_report", "job"),
    "preference": ("run_preference_job", "preference"),
    "compare_jobs": ("compare_jobs", None),
    "list_jobs": ("list_jobs", None),
}


_TUNED = re.compile(r"\b(?:tuned|my) models?\b", re.I)


def answer_parts(plan: Plan, request: Request) -> list[dict[str, Any]]:
    """The next call for the first part not yet answered since the user spoke, or the closing text."""
    last = plan.history[-1] if plan.history else None
    if last is not None and last.at > plan.said_at and (failed := plan.failure_stop(last)) is not None:
        return failed
    if "start_job" in request.parts:
        return _start_job(plan)
    if "retune" in request.parts:
        return _retune(plan, request)
    for part in sorted(request.parts, key=_order):
        if part in ("help", "thanks", "delete", "budget", "data_help"):  # answered in words, by the closing text
            continue
        tool, needs = _TOOLS[part]
        if part == "checkpoints" and words.BEST.search(request.text):
            tool = "choose_checkpoint"  # "use the best checkpoint", "which checkpoint is best?"
        if _answered(plan, tool):
            continue
        if needs == "file" and not plan.goal.training:
            return plan.ask("Which dataset file? Give the path of a JSONL file.")
        if needs == "preference" and not request.preference:
            return plan.ask("Which preference dataset? Give the path of a JSONL file of prompts with a preferred and "
                            "a dispreferred answer.")
        if needs == "job" and not request.job_id:
            return plan.ask("Which job? `gto jobs` lists them; give its id.")
        if part == "compare_jobs" and len(request.job_ids) < 2:
            return plan.ask("Which jobs should I compare? Give two or more job ids (`gto jobs` lists them).")
        return plan.call(tool, _arguments(plan, request, part, tool))
    return plan.stop(_closing(plan, request))


def _order(part: str) -> int:
    return PARTS.index(part) if part in PARTS else len(PARTS)


def _answered(plan: Plan, tool: str) -> bool:
    """Whether the tool already answered this message (a result after the user's latest words)."""
    return any(s.name == tool and s.at > plan.said_at for s in plan.history)


def _arguments(plan: Plan, request: Request, part: str, tool: str) -> dict[str, Any]:
    train, val = plan.datasets()
    job = request.job_id
    # A price or a limit is about the model the user named, even when training would be rehearsed locally.
    model = plan.goal.base_model or plan.base_model
    by_part: dict[str, dict[str, Any]] = {
        "environment": {"backend": plan.backend, "project": plan.goal.project, "region": plan.goal.region,
                        "bucket": plan.bucket},
        "validate": {**plan.validate_args(), "base_model": model},
        "fix": {"path": train},
        "split": {"path": train},
        "recommend": {"base_model": model, "training_path": train},
        "estimate": {"base_model": model, "training_path": train, "epochs": plan.goal.epochs},
        "upload": {"path": train, "bucket": plan.bucket, "backend": plan.backend},
        "compare_jobs": {"job_ids": list(request.job_ids)},
        "list_jobs": {},
        "models": {"tuned": bool(_TUNED.search(request.text))},
        "spent": {},
        "report": {"job_ids": [job]},
        "endpoint": {"job_id": job, **({"prompts": [request.prompt], "n": 1} if request.prompt else {})},
        "health": {"job_id": job, "timeout_s": 1},  # the curves so far, without waiting for the end
        # "use the best checkpoint" makes it the default; "which checkpoint is best?" only asks
        "checkpoints": {"job_id": job, **({"set_default": bool(words.MAKE_DEFAULT.search(request.text))}
                                          if tool == "choose_checkpoint" else {})},
        # Continuing from the job the message names ("from it"), else from the base model.
        "preference": {"path": request.preference, "base_model": plan.base_model, "source_model": job,
                       "backend": plan.backend, "wait": True},
    }
    args = by_part.get(part, {"job_id": job})
    return plan._drop_none(args)


def _start_job(plan: Plan) -> list[dict[str, Any]]:
    """Everything up to a created job (checks, data, settings, upload, job), and no waiting for it."""
    if not plan.goal.training:
        return plan.ask("Which training dataset should I tune on? Give the path of a JSONL file.")
    last = plan.history[-1] if plan.history else None
    failed = plan.failure_stop(last)
    if failed is not None:
        return failed
    for phase in (plan.preflight, plan.dataset, plan.job):
        action = phase()
        if action is not None:
            return action
    job = plan.job_info()
    return plan.stop(f"Job {job.job_id} is created and runs on its own. Ask me \"how is it doing?\" or run "
                     f"`gto watch {job.job_id}`.")


# The model a re-tune goes to is the one named after "on", "to" or "with"; a model named otherwise ("my
# gemini-2.5-flash job") describes the old job.
_NEW_MODEL = re.compile(rf"\b(?:on|to|onto|with|using)\s+(?:the\s+)?(?P<model>{MODEL_NAME})\b", re.I)


def _retune(plan: Plan, request: Request) -> list[dict[str, Any]]:
    """retune_job on the job's own data and settings, then (unless told not to wait) watch the new job, compare it
    with the old tuned model and the new base on the same prompts, and write one report of both."""
    old = request.job_id
    if not old:
        return plan.ask("Which job should I re-tune? `gto jobs` lists them; give its id.")
    made = next((s for s in reversed(plan.done("retune_job")) if s.input.get("job_id") == old), None)
    if made is None:
        named = _NEW_MODEL.search(request.text)
        return plan.call("retune_job", plan._drop_none({"job_id": old, "base_model": named and named["model"]}),
                         f"Re-tuning {old} with its own data and settings.")
    new = made.output.job
    if plan.ruled_out("stop_after_create"):
        return plan.stop(f"Job {new.job_id} re-tunes {old} on {new.base_model} and runs on its own; as you asked, "
                         f"I am not waiting. Later: `gto compare-retuned {new.job_id} --previous {old}`, or "
                         f"`gto watch {new.job_id}`.")
    polled = next((s for s in reversed(plan.done("poll_metrics")) if job_of(s.output).job_id == new.job_id), None)
    if polled is None or not job_of(polled.output).state.ended:
        return plan.call("poll_metrics", {"job_id": new.job_id}, f"Watching {new.job_id} on {new.base_model}.")
    ended = job_of(polled.output)
    if ended.state != "SUCCEEDED":
        return plan.stop(f"The re-tuned job {new.job_id} ended {ended.state}: {ended.error or 'no reason given'}.")
    if not any(s.input.get("job_id") == new.job_id for s in plan.done("compare_retuned")):
        return plan.call("compare_retuned", {"job_id": new.job_id, "previous_job_id": old},
                         "Comparing the previous tuned model, the re-tuned one and the new base on the same prompts.")
    if not any(s.input.get("job_ids") == [old, new.job_id] for s in plan.done("write_report")):
        return plan.call("write_report", {"job_ids": [old, new.job_id]}, "Writing one report of both jobs.")
    return plan.stop(_closing(plan, request))


def _asked_model(plan: Plan, out: Any) -> str:
    """The answer about the model the question named ("can I tune gemini-2.5-flash?"), first; else nothing."""
    named = (plan.goal.base_model or "").lower()
    rows = [m for m in out.base_models if named and m.id.startswith(named)]
    row = next((m for m in rows if m.id == named), rows[0] if rows else None)  # "gemini-2.5-flash", not its -lite
    if row is None:
        return ""
    # Facts, not "yes"/"no": the question may be "can I tune it?" or "is it retired?"
    if row.lifecycle.tunable:
        return f"{row.id} can be tuned today ({row.status}).\n"
    use = f"; use {row.lifecycle.successor} instead" if row.lifecycle.successor else ""
    return f"{row.id} is {row.status} ({row.lifecycle.retirement}) and can no longer be tuned{use}.\n"


# Google's Gemini SFT data pages (gemini-supervised-tuning-prepare and gemini-supervised-tuning under
# cloud.google.com/vertex-ai/generative-ai/docs/models/), via ../shared/reference/vertex-tuning.md, read 2026-12-07.
DATA_HELP = (
    'One JSON object a line (JSONL): {"systemInstruction": {"parts": [{"text": "You answer in JSON."}]}, '
    '"contents": [{"role": "user", "parts": [{"text": "the prompt"}]}, {"role": "model", "parts": [{"text": '
    '"the answer you want"}]}]}. '
    "systemInstruction is optional; the turns are user and model, and the model turns are what is learned. An "
    'OpenAI-style {"messages": [...]} file is converted by "fix data.jsonl" (a repaired copy; yours is not changed). '
    "Google recommends starting with about 100 examples (100 to 500 for best results); on Vertex AI an example holds "
    'at most 131,072 tokens and a validation file at most 5,000 examples. "Is data.jsonl ready for tuning?" checks a '
    "file against all of this.")


def _serving(job: JobInfo | None, target: str) -> str:
    """Where the tuned model answers: Vertex AI deploys it with the job; a local one is served by `gto serve`."""
    if job is not None and job.backend != "local":
        if job.state != "SUCCEEDED" or not job.endpoint:
            return f"Vertex AI deploys the tuned model when the job succeeds (it is {job.state} now)."
        return (f"Vertex AI deployed it when the job succeeded: call the endpoint {job.endpoint} (\"test it with "
                "'a prompt'\" sends it one; the report has code examples).")
    return (f"To serve it, run `gto serve {target}` in a terminal: it answers the Gemini generateContent API on this "
            "machine until Ctrl-C. The report (\"write the report\") has the code that calls it.")


def _job_line(job: JobInfo) -> str:
    """One line of a job: "Job X (M): RUNNING, step 17 of 81, started 2026-12-07 12:53 UTC." or "Job X (M): SUCCEEDED
    in 6 min."."""
    line = f"Job {job.job_id} ({job.base_model}): {job.state}"
    if not job.state.ended and job.completed_steps and job.total_steps:
        line += f", step {job.completed_steps} of {job.total_steps}"
    if job.started_at and job.ended_at:
        line += f" in {_duration((job.ended_at - job.started_at).total_seconds() / 60)}"
    elif job.started_at:  # a clock time, not "for 4 min": the line is kept in the transcript and replayed
        line += f", started {job.started_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return line + "." + (f" {'Error: ' if job.state == 'FAILED' else ''}{job.error}" if job.error else "")


def _duration(minutes: float) -> str:
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{max(minutes, 1):.0f} min"


def _closing(plan: Plan, request: Request) -> str:
    """One line a person reads after the results: what was done, and the obvious next step."""
    seen: list[Seen] = [s for s in plan.history if s.at > plan.said_at and s.ok]
    lines = []
    for s in seen:
        out = s.output
        if s.name == "check_environment":
            failed = [c for c in out.checks if not c.ok]
            lines.append(f"Your setup is ready to tune on the {out.backend} backend." if not failed else
                         "Not ready: " + "; ".join(f"{c.name}: {c.fix or c.detail}" for c in failed) + ".")
        elif s.name == "fix_dataset":
            lines.append(f"{out.summary} The original is untouched; check the copy with "
                         f"\"validate {out.output_path}\".")
        elif s.name == "split_dataset":
            lines.append(f"{out.summary}")
        elif s.name == "recommend_hyperparameters":
            picks = [f"{k.replace('_', ' ')} {v}" for k, v in recommended(out).items()]
            lines.append("Recommended: " + ", ".join(picks) + ".")
        elif s.name == "upload_to_gcs":
            lines.append(f"Uploaded to {out.uri}.")
        elif s.name == "validate_dataset":
            lines.append(out.summary or ("Ready to tune." if out.ok else "The data has errors."))
            if not out.ok and out.report_path:
                lines.append(f"Every problem with its line: {out.report_path}. Ask me to fix it for a repaired "
                             "copy (the file itself is never changed).")
        elif s.name == "estimate_cost":
            usd, tokens = out.training_cost_usd, out.billable_training_tokens or 0
            lines.append(f"Tuning cost: ${usd:,.2f}." if isinstance(usd, (int, float)) and usd >= 0 else
                         f"Tuning cost: the price of {out.base_model} is unknown ({tokens:,} billable tokens); "
                         "with your price in a GTO_PRICES file (see the README's Spending) I give dollars.")
            if out.training_minutes is not None:
                lines.append(f"Training time: about {max(out.training_minutes, 1):,.0f} min on this machine.")
            elif words.HOW_LONG.search(request.text):
                lines.append("Training time: Vertex AI publishes none for a tuning job; once it runs, \"how is it "
                             "doing?\" shows its progress.")
        elif s.name == "choose_checkpoint":
            if not out.is_default:
                then = " Say \"use the best checkpoint\" to make it the default."
            else:
                then = f" It is {'now' if s.input.get('set_default') else 'already'} the default: {out.endpoint}."
            lines.append(f"Best checkpoint of {out.job_id}: {out.reason.rstrip('.')}.{then}")
        elif s.name in ("get_job", "cancel_job", "poll_metrics", "resume_job"):
            lines.append(_job_line(job_of(out)))
            if s.name == "poll_metrics":
                lines.append(out.health.summary + "".join(f"\n- {a.message}" for a in out.anomalies[:5]))
                if "health" in request.parts:
                    lines.append("The report plots the curves: ask me to \"write the report\".")
        elif s.name == "retune_job":
            lines.append(f"Re-tuned {out.previous_job_id} ({out.previous_base_model}) as {out.job.job_id} on "
                         f"{out.base_model}: {out.why_this_model}.")
        elif s.name == "compare_retuned":
            lines.append(out.verdict)
        elif s.name == "write_report":
            lines.append(f"Report: {out.path}.")
        elif s.name == "list_checkpoints":
            points = out.checkpoints or []
            lines.append(f"{len(points)} checkpoints" + (": " + ", ".join(
                f"{c.checkpoint_id}{' (default)' if c.is_default else ''}" for c in points) if points
                else " yet.") + ("." if points else ""))
        elif s.name == "compare_models":
            lines.append(str(out.verdict or "Compared with the base model."))
        elif s.name == "test_endpoint":
            lines.append(f"The endpoint {out.endpoint} {'answered' if out.ok else 'failed'}"
                         + (f" (median {out.p50_latency_s} s):" if out.p50_latency_s is not None else ":")
                         + "".join(f"\n- {x.prompt!r} → {x.response!r}" if x.ok else f"\n- {x.prompt!r}: {x.error}"
                                   for x in out.samples))
        elif s.name == "compare_jobs":
            lines.append(str(out.reason or "Compared."))
        elif s.name == "run_preference_job":
            job = job_of(out)
            lines.append(f"Preference job {job.job_id}: {job.state}.")
        elif s.name == "list_models" and s.input.get("tuned"):
            lines.append(out.summary + "".join(
                f"\n- {m.job_id}: {m.base_model} ({m.base_status}){' ' + m.note if m.note else ''}"
                for m in out.tuned_models))
        elif s.name == "list_models":
            gone = [f"{m.id} ({m.status} {m.lifecycle.retirement}"
                    + (f", use {m.lifecycle.successor})" if m.lifecycle.successor else ")")
                    for m in out.base_models if m.status in ("retired", "blocked")]
            lines.append(_asked_model(plan, out) + out.summary + ("\nNo longer tunable: " + "; ".join(gone) + "."
                                                                  if gone else "")
                         + "\n(`gto models` shows each with its dates, limits and prices.)")
        elif s.name == "spend_summary":
            job = request.job_id
            if job:  # "what did that job cost?": its own line first
                lines.append(f"Job {job}: ${out.totals.by_job.get(job, 0.0):,.2f} recorded.")
            lines.append(f"Spent in this workspace: {out.summary} (`gto spend` breaks it down by day, run, job "
                         "and model.)")
        elif s.name == "list_jobs":
            jobs = out.jobs or []
            lines.append(f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} in this workspace" + (
                ":\n" + "\n".join(f"- {j.job_id}: {j.state}, {j.base_model}" for j in jobs[:10])
                if jobs else ".") + ("\n(`gto jobs` shows them all with their metrics.)" if len(jobs) > 10 else ""))
    if "delete" in request.parts:
        # gcloud ai models delete MODEL --region=REGION: cloud.google.com/sdk/gcloud/reference/ai/models/delete,
        # read 2026-12-07
        lines.append("I do not delete anything: jobs, tuned models and their records stay. `gto cancel JOB` stops a "
                     "running job. This workspace's records are the .gto folder (remove it to forget them all). On "
                     "Vertex AI, a tuned model is deleted in the console's Model Registry or with `gcloud ai models "
                     "delete MODEL_ID --region REGION`, after undeploying it from its endpoint.")
    if "thanks" in request.parts:
        lines.append("Glad to help. Ask me anything else, or \"help\" for what I can do.")
    if "help" in request.parts:
        lines.append("I run Gemini supervised tuning with you: checks, your data, settings, cost, the job, watching "
                     "it, the tuned-versus-base comparison and the report; anything that costs money is asked "
                     "first. Ask in plain words, for example:\n" + "\n".join(f"- {e}" for e in (*EXAMPLES, *HELP)))
    if "serve" in request.parts:
        fetched = next((job_of(s.output) for s in reversed(seen) if s.name == "get_job"), None)
        lines.append(_serving(fetched, request.job_id or "JOB"))
    if "data_help" in request.parts:
        lines.append(DATA_HELP)
    if "budget" in request.parts:
        lines.append("A budget is given per run: `gto run \"...\" --budget 5` or `gto chat --budget 5`, or "
                     "GTO_BUDGET=5 in the environment for every run; `gto spend --set-monthly 50` caps a calendar "
                     "month for this workspace. Before a billable step the projected total is checked: over it, "
                     "nothing runs. `gto spend` shows what is spent so far.")
    if request.parts & {"validate", "estimate", "recommend"} and not request.parts & JOB_PARTS:
        lines.append("Nothing was tuned. Ask me to tune when you are ready.")
    return " ".join(lines) or "Done."
