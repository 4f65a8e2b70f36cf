"""The offline planner: a deterministic policy in place of an LLM, so the whole workflow runs with no account.

It reads the conversation the way a model would (the user's words and the tool results, nothing else) and
answers with the next tool calls, walking the five phases. Because its only state is the message list, a resumed
run picks up exactly where it stopped."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.goal import Goal
from agent.models import Message, Turn, Usage, default_base_models, retired_notice
from agent.models.planner_history import Seen, read_history, recommended
from agent.planner_parts import answer_parts
from agent.request import EXAMPLES, Request, read_conversation
from tools.backends.base import JobInfo, JobState
from tools.registry import Tool
from tools.results import job_of

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tools.settings import Settings


class PlannerModel:
    def __init__(self, model_id: str | None = None, backend: str = "local", interactive: bool = False,
                 project: str | None = None, region: str | None = None, bucket: str | None = None,
                 settings: Settings | None = None, base_models: dict[str, str] | None = None, **_: Any):
        self.name = "planner"
        self.backend = backend
        self.interactive = interactive
        self.defaults = Goal(project=project, region=region, bucket=bucket)
        # The session's live settings, when given: what the tools themselves will use (the loop keeps them in step
        # with the project, region and bucket the user names).
        self.settings = settings
        self.agent: Any = None
        # The base model to tune when the request names none, per backend: data from the catalog, given by the caller.
        self.base_models = base_models or default_base_models()

    def attach(self, agent: Any) -> None:
        """Read requests through the loop's own reading of each message (agent.request), not a second one."""
        self.agent = agent

    def complete(self, system: str, messages: list[Message], tools: list[Tool],
                 on_text: Callable[[str], None] | None = None) -> Turn:
        # Run by the loop, the planner reads each result whole from the loop's typed record, not from the text the
        # model saw (which is shortened past ~2,000 tokens).
        typed = self.agent.transcript.evidence.by_call() if self.agent is not None else {}
        said, history = read_history(messages, typed)
        request = self.agent.request if self.agent is not None else None
        if request is None:  # not run by a loop (a test, a replay): read the messages the way the loop does
            request = read_conversation(messages).current
        goal = request.names if request else Goal()
        # The session's project, region and bucket are the ones create_tuning_job will use: they win over the text.
        s = self.settings
        goal = goal.merge(Goal(project=s.project, region=s.region, bucket=s.bucket) if s else self.defaults)
        content = Plan(goal, history, self.backend, self.interactive, said[-1][0] if said else -1, request,
                       self.base_models, target=s.target if s else None).next()
        text = "".join(b.get("text", "") for b in content if b["type"] == "text")
        if on_text and text:
            on_text(text)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        return Turn(message={"role": "assistant", "content": content}, usage=Usage(), stop_reason=stop)


class Plan:
    def __init__(self, goal: Goal, history: list[Seen], backend: str, interactive: bool, said_at: int = -1,
                 request: Request | None = None, base_models: dict[str, str] | None = None,
                 target: str | None = None):
        self.goal, self.history, self.interactive, self.said_at = goal, history, interactive, said_at
        self.target = target  # the user's quality target: the base model is measured against it before tuning
        self.request = request
        self.backend = goal.backend or backend
        # Tools take a bucket by name; a goal may write it as gs://NAME.
        self.bucket = goal.bucket.removeprefix("gs://") if goal.bucket else None
        bases = base_models or default_base_models()
        self.local_model = bases["local"]
        named = goal.base_model or bases[self.backend]
        self.rehearsal = self.backend == "local" and named.startswith("gemini-")
        self.base_model = self.local_model if self.rehearsal else named

    def last(self, name: str, ok: bool | None = None) -> Seen | None:
        for seen in reversed(self.history):
            if seen.name == name and (ok is None or seen.ok == ok):
                return seen
        return None

    def done(self, name: str) -> list[Seen]:
        """Every success of a tool, in order."""
        return [s for s in self.history if s.name == name and s.ok]

    def spoke_since(self, seen: Seen) -> bool:
        """Whether the user has written since this result (an answer in chat, or `--resume`)."""
        return self.said_at > seen.at

    def next(self) -> list[dict[str, Any]]:
        r = self.request
        if r is not None and not r.understood:
            examples = "\n".join(f"- {e}" for e in EXAMPLES)
            return self.stop(f"I did not understand what to do with \"{r.text.strip()}\", so I ran nothing. "
                             f"Requests I understand look like:\n{examples}")
        if r is not None and r.settings_only:
            where = ", ".join(f"{k} {v}" for k, v in (("project", self.goal.project), ("region", self.goal.region),
                                                    ("bucket", self.goal.bucket)) if v)
            return self.stop(f"Using {where} from now on.")
        # A request that would use the base model is stopped here, before any upload, with the successor proposed;
        # one that does not ("can I tune gemini-2.5-flash?", "thanks" after it, a re-tune, whose tool refuses a
        # retired new model itself) goes on.
        uses_model = r is None or r.whole or bool(r.parts & {"start_job", "validate", "recommend", "estimate",
                                                             "preference"})
        if uses_model and self.goal.base_model and (retired := retired_notice(self.goal.base_model)) is not None:
            return self.stop(retired)  # before any upload or job: the successor is proposed instead
        if r is not None and not r.whole:
            return answer_parts(self, r)
        return self.workflow()

    def workflow(self) -> list[dict[str, Any]]:
        g = self.goal
        if not g.training:
            return self.ask("Which training dataset should I tune on? Give the path of a JSONL file "
                            "(Gemini `contents` format, or OpenAI `messages` which I can convert).")
        if self.backend == "vertex" and not (g.bucket or g.training.startswith("gs://")):
            return self.ask("Which Cloud Storage bucket should the datasets go to (gs://BUCKET)? "
                            "Set it in the goal or with GTO_BUCKET.")
        last = self.history[-1] if self.history else None
        failed = self.failure_stop(last)
        if failed is not None:
            return failed
        for phase in (self.preflight, self.dataset, self.baseline, self.job, self.monitor, self.evaluate,
                      self.prefer, self.deliver):
            action = phase()
            if action is not None:
                return action
        return self.stop("Done: every phase ran. The summary below lists each success criterion.")

    def failure_stop(self, last: Seen | None) -> list[dict[str, Any]] | None:
        """A failure stops the plan until the user answers it; their next words (or --resume) let it go on."""
        if not (last and last.is_error and not self.spoke_since(last)):
            return None
        if last.name == "poll_metrics":
            if self.poll_failures() >= 2:
                return self.stop(f"poll_metrics failed twice in a row, so I stopped watching (the job itself "
                                 f"keeps running):\n{last.text}\nFix that, then ask me to continue, or run "
                                 f"`gto watch {last.input.get('job_id')}`.")
            return None
        if last.declined:
            return self.stop(f"Understood: {last.name} was not run, nothing was spent. Tell me what to change "
                             "(for example fewer epochs or a smaller model) and I will continue.")
        return self.stop(f"{last.name} failed, so I stopped here:\n{last.text}")

    def held_back(self) -> list[dict[str, Any]] | None:
        """Stop before the upload and the job when the user's words rule them out (on Vertex AI, an upload leaves
        the machine and a job costs money; locally both stay here and are free, so only "don't train" holds)."""
        for key in ("no_train", "no_upload", "no_spend"):
            said = next((c for c in self.request.constraints if c.key == key), None) if self.request else None
            if said and (key == "no_train" or self.backend == "vertex"):
                return self.stop(f"The data is checked and the settings are ready. You said \"{said.words}\", so "
                                 "I stop before uploading and tuning; ask me to go on when you are ready.")
        return None

    def ruled_out(self, key: str) -> bool:
        return self.request is not None and any(c.key == key for c in self.request.constraints)

    def preflight(self) -> list[dict[str, Any]] | None:
        seen = self.last("check_environment")
        args = {"backend": self.backend}
        args.update({k: v for k, v in (("project", self.goal.project), ("region", self.goal.region),
                                       ("bucket", self.bucket)) if v})
        if seen is None:
            intro = (f"Rehearsing on this machine with {self.local_model}: {self.goal.base_model} tunes only on "
                     "Vertex AI, which needs a Google Cloud project and credentials. " if self.rehearsal else "")
            # The data is checked in the same turn: neither depends on the other, and it saves a model call.
            return self.calls([("check_environment", args), ("validate_dataset", self.validate_args())],
                              intro + "Phase 1: pre-flight checks and the data.")
        report = seen.output
        if report is None or not report.ok:
            if self.spoke_since(seen):  # the user says it is fixed, or changed the project: look again
                return self.call("check_environment", args, "Phase 1: pre-flight checks, again.")
            failed = [c for c in (report.checks if report else []) if not c.ok]
            lines = "\n".join(f"- {c.name}: {c.detail}" + (f"\n  fix: {c.fix}" if c.fix else "") for c in failed)
            return self.stop(f"Pre-flight checks failed; fix these and run me again:\n{lines}")
        return None

    def dataset(self) -> list[dict[str, Any]] | None:
        train, val = self.datasets()
        validated = self.last("validate_dataset", ok=True)
        if validated is None or (validated.input.get("path"), validated.input.get("validation_path")) != (train, val):
            return self.call("validate_dataset", self.validate_args(), "Validating the data.")
        report = validated.output
        if not report.ok:
            broken = [p for p, file in ((train, report.train), (val, report.validation)) if p and file and file.errors]
            fixed = self.repairs()
            repaired = {*fixed, *fixed.values()}
            todo = [p for p in broken if p not in repaired]
            if todo:
                return self.call("fix_dataset", {"path": todo[0]}, f"{todo[0]} has errors; writing a repaired copy.")
            return self.stop("The data still has errors after repair, so I stopped before spending anything. "
                             f"Full list: {report.report_path}")
        split = self._split_needed(report)
        if split:
            return self.call("split_dataset", {"path": train}, split)
        if self.last("recommend_hyperparameters", ok=True) is None:
            return self.call("recommend_hyperparameters", {"base_model": self.base_model, "training_path": train})
        if self.last("estimate_cost", ok=True) is None:
            return self.call("estimate_cost", self._drop_none(
                {"base_model": self.base_model, "training_path": train, "epochs": self.hyper("epochs")}))
        uploads = self.uploads()
        missing = [p for p in (train, val) if p and p not in uploads]
        if missing and (held := self.held_back()) is not None:
            return held
        if missing:
            return self.calls([("upload_to_gcs", self._drop_none(
                {"path": p, "bucket": self.bucket, "backend": self.backend})) for p in missing],
                "Phase 2: uploading the data.")
        return None

    def baseline(self) -> list[dict[str, Any]] | None:
        """Issue 15, tune only when it pays: with a target, measure the prompted base model first, and stop when it
        already meets the target (the user's next words, such as "tune anyway", let the plan go on)."""
        if self.target is None or self.job_info() is not None:
            return None
        seen = self.last("measure_base")
        if seen is None:
            train, val = self.datasets()
            return self.call("measure_base", self._drop_none(
                {"training_path": train, "heldout_path": val, "base_model": self.base_model, "backend": self.backend,
                 "target": self.target}), "Measuring the base model with the dataset's prompt before tuning.")
        if seen.output is not None and seen.output.meets_target and not self.spoke_since(seen):
            return self.stop(f"{seen.output.verdict} Say \"tune anyway\" if you want a tuned model regardless.")
        return None

    def job(self) -> list[dict[str, Any]] | None:
        if self.job_info() is not None:
            if self.ruled_out("stop_after_create"):
                return self.stop(f"Job {self.job_info().job_id} is created; as you asked, I am not waiting for "
                                 "it. Ask me for its status, or run `gto watch JOB`.")
            return None
        held = self.held_back()
        if held is not None:
            return held
        train, val = self.datasets()
        uploads = self.uploads()
        args = {
            "training_dataset_uri": uploads[train], "validation_dataset_uri": uploads.get(val) if val else None,
            "base_model": self.base_model, "epochs": self.hyper("epochs"), "adapter_size": self.hyper("adapter_size"),
            "learning_rate_multiplier": self.hyper("learning_rate_multiplier"), "backend": self.backend,
        }
        return self.call("create_tuning_job", self._drop_none(args), "Creating the tuning job.")

    def monitor(self) -> list[dict[str, Any]] | None:
        job = self.job_info()
        polled = self.last("poll_metrics")
        watched = job_of(polled.output) if polled else None
        if watched is not None and watched.job_id == job.job_id:
            why = polled.output.returned_because
            if why == "completed" or watched.state == JobState.SUCCEEDED:
                return None
            if why in ("failed", "cancelled"):
                return self.stop(f"The tuning job ended {watched.state}: {watched.error or 'no reason given'}")
            critical = [a for a in polled.output.anomalies if a.severity == "critical"]
            if critical and self.last("cancel_job") is None:
                return self.call("cancel_job", {"job_id": job.job_id},
                                 f"{critical[0].message} Cancelling: {critical[0].recommended_action}")
            if self.last("cancel_job") is not None:
                return self.stop("I cancelled the job because training had gone wrong; see the anomalies above.")
        return self.call("poll_metrics", {"job_id": job.job_id}, "Phase 3: watching training.")

    def evaluate(self) -> list[dict[str, Any]] | None:
        job_id = self.job_info().job_id
        if self.last("choose_checkpoint", ok=True) is None:
            return self.call("choose_checkpoint", {"job_id": job_id}, "Phase 4: choosing the checkpoint.")
        # Both use the checkpoint just chosen and neither needs the other: one turn, one model call fewer.
        todo = [name for name in ("compare_models", "test_endpoint") if self.last(name, ok=True) is None
                and not (name == "compare_models" and self.ruled_out("no_compare"))]
        if todo:
            alone = {"compare_models": "Comparing the tuned model with the base model.",
                     "test_endpoint": "Phase 5: testing the endpoint."}
            text = alone[todo[0]] if len(todo) == 1 else \
                "Comparing the tuned model with the base model, and testing its endpoint (phase 5)."
            return self.calls([(name, {"job_id": job_id}) for name in todo], text)
        return None

    def prefer(self) -> list[dict[str, Any]] | None:
        """"Then preference-tune on prefs.jsonl from the best checkpoint": a second job continuing from the chosen
        checkpoint of the first (its own consent and cost), watched to its end and compared with the base."""
        r = self.request
        if r is None or "preference" not in r.parts or not r.preference:
            return None
        sft = self.job_info().job_id
        done = self.last("run_preference_job", ok=True)
        if done is None:
            chosen = self.last("choose_checkpoint", ok=True)
            checkpoint = chosen.output.checkpoint.checkpoint_id if chosen and chosen.output.checkpoint else None
            return self.call("run_preference_job", self._drop_none({
                "path": r.preference, "base_model": self.base_model, "source_model": sft,
                "source_checkpoint_id": checkpoint, "backend": self.backend, "wait": True}),
                f"Preference tuning on {r.preference}, continuing from checkpoint {checkpoint} of {sft}.")
        job = done.output.job
        if job.state != JobState.SUCCEEDED:
            return self.stop(f"The preference job {job.job_id} ended {job.state}: {job.error or 'no reason given'}.")
        if not any(s.input.get("job_id") == job.job_id for s in self.done("compare_models")):
            _, held_out = self.datasets()  # the supervised job's held-out examples: the same prompts for both
            return self.call("compare_models", self._drop_none({"job_id": job.job_id, "prompts_path": held_out}),
                             "Comparing the preference-tuned model with the base model on the same prompts.")
        return None

    def deliver(self) -> list[dict[str, Any]] | None:
        jobs = [self.job_info().job_id]
        preferred = self.last("run_preference_job", ok=True)
        if preferred is not None:
            jobs.append(preferred.output.job.job_id)
        if self.last("write_report", ok=True) is None:
            return self.call("write_report", {"job_ids": jobs}, "Writing the report.")
        return None

    def validate_args(self) -> dict[str, Any]:
        train, val = self.datasets()
        return self._drop_none({"path": train, "validation_path": val, "base_model": self.base_model})

    def datasets(self) -> tuple[str, str | None]:
        """The files to use: the repaired copies when fix_dataset made them, and the two halves when split_dataset
        held a validation set out of the training file."""
        fixed = self.repairs()
        train = fixed.get(self.goal.training, self.goal.training)
        if self.goal.validation:
            return train, fixed.get(self.goal.validation, self.goal.validation)
        for s in self.done("split_dataset"):
            if s.input.get("path") == train:
                return s.output.train_path, s.output.validation_path
        return train, None

    def repairs(self) -> dict[str | None, str | None]:
        """Each file fix_dataset repaired, and its repaired copy."""
        return {s.input.get("path"): s.output.output_path for s in self.done("fix_dataset")}

    def uploads(self) -> dict[str | None, str | None]:
        """Each file uploaded, and where it went."""
        return {s.input.get("path"): s.output.uri for s in self.done("upload_to_gcs")}

    def _split_needed(self, validated: BaseModel) -> str | None:
        """Why to hold out a validation set now, or None: only when the user gave none, once, and there are enough
        examples (split_dataset refuses fewer than 20)."""
        if self.goal.validation or any(s.name == "split_dataset" for s in self.history):
            return None
        examples = (validated.train.examples or 0) if validated.train else 0
        if examples < 20:
            return None
        return ("No validation set was given: holding 10% of the training examples out, so overfitting shows in "
                "the eval loss and the tuned model is compared with its base on prompts it never saw.")

    def poll_failures(self) -> int:
        """How many poll_metrics calls in a row have failed since the user last wrote."""
        count = 0
        for seen in reversed(self.history):
            if seen.name != "poll_metrics" or not seen.is_error or self.spoke_since(seen):
                break
            count += 1
        return count

    def hyper(self, name: str) -> Any:
        explicit = getattr(self.goal, name)
        if explicit is not None:
            return explicit
        rec = self.last("recommend_hyperparameters", ok=True)
        return recommended(rec.output)[name] if rec else None

    def job_info(self) -> JobInfo | None:
        created = self.last("create_tuning_job", ok=True)
        return job_of(created.output) if created else None

    def call(self, name: str, args: dict[str, Any], text: str | None = None) -> list[dict[str, Any]]:
        return self.calls([(name, args)], text)

    def calls(self, pairs: list[tuple[str, dict[str, Any]]], text: str | None = None) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        # Random ids: a resumed run is a new process, and a repeated id in one conversation is rejected by Claude.
        blocks += [{"type": "tool_use", "id": f"toolu_planner_{secrets.token_hex(8)}", "name": n, "input": a}
                   for n, a in pairs]
        return blocks

    def ask(self, question: str) -> list[dict[str, Any]]:
        if self.interactive:
            return [{"type": "text", "text": question}]
        return self.stop(f"I cannot start: {question[0].lower()}{question[1:]} (one-shot mode asks nothing; "
                         "put it in the goal)")

    def stop(self, text: str) -> list[dict[str, Any]]:
        return [{"type": "text", "text": text}]

    @staticmethod
    def _drop_none(args: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in args.items() if v is not None}
