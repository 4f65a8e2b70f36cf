"""One user message, read once: what it asks for (the whole workflow or some of its parts), what it names (files,
jobs, model, hyperparameters, place) and what it rules out ("don't train", "don't upload"). The loop, the planner
and the criteria all use this reading; none of them parses the user's words again."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import agent.request_words as words
from agent.goal import Goal, from_user, parse_goal
from agent.request_words import WORKFLOW
from tools.backends.base import JobInfo
from tools.evaluation.targets import target_in_words

# The parts of the workflow a message can ask for, in the order the workflow runs them.
PARTS = ("thanks", "help", "data_help", "delete", "models", "spent", "budget", "environment", "validate", "fix",
         "split", "recommend", "estimate", "upload", "start_job", "status", "watch", "health", "cancel", "resume",
         "retune", "checkpoints", "compare", "endpoint", "preference", "report", "compare_jobs", "list_jobs", "serve")
# Parts that are about one job: "it" / "that job" means the latest job of the conversation.
JOB_PARTS = {"status", "watch", "health", "cancel", "resume", "retune", "checkpoints", "compare", "endpoint", "report",
             "serve"}

EXAMPLES = (
    '"Is examples/data/train.jsonl ready for tuning? Don\'t train yet."',
    '"Estimate the cost of 3 epochs on examples/data/train.jsonl"',
    '"Tune gemma-3-270m on examples/data/train.jsonl, validate with examples/data/val.jsonl"',
)
# More of what "help" shows: one line a part, in words that are themselves understood.
HELP = (
    '"Which models can I tune?" / "Show my tuned models"',
    '"Fix data.jsonl" (a repaired copy; the file itself is never changed), "Split data.jsonl"',
    '"What format should my data be in?", "Recommend hyperparameters for data.jsonl"',
    '"Show my jobs", "How is it doing?", "Cancel that job", "Resume that job"',
    '"Show me the loss curve", "Any overfitting?", "Test it with \'What is 2+2?\'"',
    '"Compare it with the base model", "Write the report" (with no job named: the latest in this workspace)',
    '"Re-tune that job on gemini-3.5-flash-lite" (its data and settings on a new base model, compared three ways)',
    '"How long will training take on data.jsonl?", "How much have I spent so far?", "Is my setup OK for tuning?"',
)


@dataclass(frozen=True)
class Constraint:
    """Something the user ruled out, in their own words, and the tools it forbids."""

    key: str
    words: str
    tools: frozenset[str]
    # Rules out only what leaves this machine or costs money: on the local backend an "upload" is a copy into the
    # workspace and tuning is free, so "keep it local" and "don't spend" are met by the local backend itself.
    remote_only: bool = False


@dataclass(frozen=True)
class Request:
    text: str
    parts: frozenset[str]
    names: Goal
    job_ids: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    understood: bool = True
    settings_only: bool = False  # "use my-other-bucket instead": nothing to run, the place changes
    implied: bool = False  # no part was named: a bare file reads as "check it", unless it answers a question
    preference: str | None = None  # the preference dataset of "then preference-tune on prefs.jsonl"
    target: str | None = None  # "target exact match 0.9": what makes tuning unnecessary (measure_base)
    prompt: str | None = None  # "test it with \"What is 2+2?\"": what the endpoint is asked

    @property
    def whole(self) -> bool:
        return WORKFLOW in self.parts

    @property
    def job_id(self) -> str | None:
        return self.job_ids[0] if self.job_ids else None

    def forbidding(self, tool: str, backend: str = "vertex") -> Constraint | None:
        """The constraint that rules this tool out on this backend, if any."""
        return next((c for c in self.constraints if tool in c.tools and (backend != "local" or not c.remote_only)),
                    None)


def read_request(text: str, earlier: Iterable[Request] = (), latest_job: str | None = None) -> Request:
    """Read one message. `earlier` are the conversation's previous requests (their names fill in what this one
    leaves out: "now tune it with 2 epochs"); `latest_job` is what "it" / "that job" refers to."""
    prompt, said = _prompt_in(text)  # the prompt's own words ask for nothing
    names = parse_goal(said)
    job_ids = tuple(dict.fromkeys(m.group(1) for m in words.JOB_ID.finditer(said)))
    rest, constraints = _constraints(words.PATH.sub(" ", words.JOB_ID.sub(" JOB ", said)))
    rest = words.DATA_NOUNS.sub(" ", _correct_typos(rest))
    if not names.bucket and (m := words.BARE_BUCKET.search(text)) and words.PLACE_ONLY.search(text):
        names.bucket = f"gs://{m.group(1)}"
    parts = {part for part, pattern in words.PART_WORDS.items() if pattern.search(rest)}
    if len(job_ids) > 1 and "compare" in rest.lower():
        parts.add("compare_jobs")
    parts = _settle(parts, names, bool(job_ids) or bool(latest_job and words.PRONOUN.search(rest)), constraints, rest)
    if not job_ids and latest_job and (parts & JOB_PARTS or "spent" in parts and words.PRONOUN.search(rest)):
        job_ids = (latest_job,)
    preference = None
    if "preference" in parts and (m := words.PREFERENCE_FILE.search(text)):
        preference = m.group("path")
        # parse_goal reads a second file as the validation set; here it is the preference data.
        if names.validation == preference:
            names.validation = None
        if names.training == preference:
            names.training = None
    if "preference" in parts and not names.training:
        parts = {"preference"} | (parts & {"report"})  # preference tuning alone: "DPO on prefs.jsonl from it"
        if latest_job and not job_ids and words.PRONOUN.search(rest):
            job_ids = (latest_job,)
    if names.validation and not names.training and not parts & {WORKFLOW, "start_job"}:
        names.training, names.validation = names.validation, None  # "hold out a validation set from data.jsonl"
    for before in earlier:
        names = before.names.merge(names)
    settings_only = not parts and bool(words.PLACE_ONLY.search(text)) and any(
        (names.project, names.region, names.bucket))
    understood = bool(parts) or settings_only
    implied = not any(p.search(rest) for p in words.PART_WORDS.values())
    return Request(text=text, parts=frozenset(parts), names=names, job_ids=job_ids,
                   constraints=tuple(constraints), understood=understood, settings_only=settings_only,
                   implied=implied, preference=preference, prompt=prompt if "endpoint" in parts else None,
                   target=str(target) if (target := target_in_words(text)) is not None else None)


def _prompt_in(text: str) -> tuple[str | None, str]:
    """The quoted prompt of "test it with \"What is the capital of France?\"" and the message without it."""
    for m in words.PROMPT.finditer(text):
        quoted = next(g for g in m.groups() if g is not None)
        if not quoted.strip().lower().endswith(".jsonl"):  # a quoted file name is a file, not a prompt
            return quoted.strip(), text[:m.start(m.lastindex)] + text[m.end(m.lastindex):]
    return None, text


def _constraints(text: str) -> tuple[str, list[Constraint]]:
    found: list[Constraint] = []
    for key, pattern, tools in words.CONSTRAINTS:
        for m in pattern.finditer(text):
            if not any(c.key == key for c in found):
                found.append(Constraint(key, m.group(0).strip(), tools, key in ("no_upload", "no_spend")))
        text = pattern.sub(" ", text)
    return text, found


def _correct_typos(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        lower = word.lower()
        if len(lower) < 5 or any(lower.startswith(v) for v in words.VOCABULARY):
            return word  # a word of the vocabulary or its inflection ("tuned", "trained", "checks")
        close = difflib.get_close_matches(lower, words.VOCABULARY, n=1, cutoff=0.8)
        return close[0] if close else word

    return words.WORD.sub(fix, text)


def _settle(parts: set[str], names: Goal, about_job: bool, constraints: list[Constraint], text: str) -> set[str]:
    """Resolve overlaps between the parts' words into what was meant."""
    ruled_out_training = any(c.key == "no_train" for c in constraints)
    if names.base_model and not names.training and words.MODEL_QUESTION.search(text):
        parts = {"models"}  # "can I tune gemini-2.5-flash?": a question about the model, answered from the catalog
    if "models" in parts and not names.training:
        parts -= {"environment", "validate", "status", WORKFLOW}  # "which models can I tune?": not a setup check
    if "help" in parts or "thanks" in parts:
        parts &= {"help", "thanks"}
    if "delete" in parts:
        parts &= {"delete"}  # "delete my jobs": answered in words, never by listing or cancelling them
    if "budget" in parts:
        parts &= {"budget"}  # "set a budget of $5": a flag or GTO_BUDGET, answered in words
    if "data_help" in parts:
        # "what format should my data be in?" is answered in words; about a named file it is a check of that file
        parts = {"validate"} if names.training else {"data_help"}
    if "spent" in parts:
        parts -= {"estimate", "status", WORKFLOW}  # "what did my last run cost?": the ledger, not a new estimate
    if "compare_jobs" in parts:
        parts -= {"compare", WORKFLOW, "list_jobs"}
    if "list_jobs" in parts:
        parts -= {"status", WORKFLOW}
    if "cancel" in parts:
        parts -= {"status", "watch", WORKFLOW, "start_job"}
    if "resume" in parts:
        parts -= {"status", "watch", WORKFLOW, "start_job"}
    if "retune" in parts and not names.training:
        # "re-tune that job on gemini-3.5-flash-lite": the job's own data and settings, on a new base model
        parts -= {"status", "watch", WORKFLOW, "start_job", "compare", "report"}
    if "start_job" in parts or "retune" not in parts and any(c.key == "stop_after_create" for c in constraints):
        # "start a tuning job and don't wait": the job is the request, not the whole workflow.
        parts.discard(WORKFLOW)
        parts.add("start_job")
    if "environment" in parts and not names.training:
        parts -= {WORKFLOW, "health"}  # "is my setup OK for tuning?", "is my setup healthy?"
    if "estimate" in parts and words.COST_QUESTION.search(text):
        parts.discard(WORKFLOW)  # "how much would it cost to tune ...?"
    if "status" in parts and not names.training:
        parts.discard(WORKFLOW)  # "how's the training going?"
    if about_job and not names.training and parts != {WORKFLOW}:
        # A message about an existing job: "how is it doing", "write the report of JOB". ("Tune it again" is not.)
        parts.discard(WORKFLOW)
        parts.discard("validate")
        if not parts & (JOB_PARTS | {"compare_jobs", "spent"}):
            parts.add("status")
    if "watch" in parts:
        parts -= {"status", "health"}  # watching to the end reports the state and the health
    if "health" in parts:
        parts.discard("status")
    if WORKFLOW in parts and names.training and words.CHECK_QUESTION.search(text):
        parts = (parts - {WORKFLOW}) | {"validate"}  # a question about the data, not a request to tune it
    if WORKFLOW in parts and ruled_out_training:
        parts.discard(WORKFLOW)
    if WORKFLOW in parts:
        # A tuning request asks for everything; the parts it also names ("tune and report") are in it already.
        parts.intersection_update({WORKFLOW, "compare_jobs", "preference"})
    if not parts & {WORKFLOW, "start_job"} and names.training:
        # A file and a question about it: "is data.jsonl ok?", "check data.jsonl, don't train yet".
        if not parts or parts <= {"environment"} and "ready" in text.lower():
            parts.add("validate")
    if "validate" in parts and not names.training and not about_job and parts - {"validate", "environment"}:
        parts.discard("validate")  # "check the status", "check my setup": not a dataset
    if "environment" in parts and "validate" in parts and not names.training:
        parts.discard("validate")
    if "estimate" in parts:
        parts.discard("validate")
    if "fix" in parts or "split" in parts:
        parts.discard("validate")
    return parts


@dataclass
class Conversation:
    """The requests of one conversation so far, and the latest job it made or named."""

    requests: list[Request] = field(default_factory=list)
    latest_job: str | None = None
    # Before the conversation names a job, "it" / "that job" / "write the report" mean the workspace's latest, and
    # "compare my last two jobs" its newest two: said to the person (`assumption`) the first time it is used.
    assumed: JobInfo | None = None
    recent: tuple[str, ...] = ()
    assumption: str | None = None  # what the latest message was taken to mean, for the person to read

    def assume(self, jobs: list[JobInfo]) -> None:
        """Take the workspace's latest job (newest first in `jobs`) as "it": a running one before any that ended,
        since "how is it doing?" and "stop the job" are about what runs."""
        if jobs:
            self.assumed = next((j for j in jobs if not j.state.ended), jobs[0])
            self.latest_job = self.assumed.job_id
            self.recent = tuple(j.job_id for j in jobs)

    def read(self, text: str, answering: bool = False) -> Request:
        """Read the next message; `answering`: it replies to a question the agent asked, so a reply that names no
        part of the workflow ("use data/t.jsonl", "my-proj") goes on with the request the question was about."""
        request = read_request(text, self.requests, self.latest_job)
        before = self.current
        said = parse_goal(text)
        follow_up = before is not None and request.implied and not request.job_ids
        changes = any((said.epochs, said.adapter_size, said.learning_rate_multiplier, said.base_model))
        if follow_up and (answering or not said.training and (
                words.GO_ON.search(text) or (changes and not request.settings_only))):
            # "go on", "fixed it, try again", "use 1 epoch and go ahead", or the answer to a question: the previous
            # request, with what this message adds.
            request = replace(before, text=text, names=request.names,
                              constraints=before.constraints + request.constraints)
        self.assumption = None
        if "compare_jobs" in request.parts and not request.job_ids and len(self.recent) > 1:
            n = min(_count(text), len(self.recent))
            request = replace(request, job_ids=self.recent[:n])
            which = f"all {n}" if n == len(self.recent) else f"the latest {n}"
            self.assumption = f"No jobs named, so I compare {which} in this workspace: {', '.join(request.job_ids)}."
        elif (job := self.assumed) is not None and request.job_id == job.job_id and job.job_id not in text:
            created = f", created {job.created_at.astimezone():%Y-%m-%d %H:%M}" if job.created_at else ""
            self.assumption = (f"No job named, so I take the latest in this workspace: {job.job_id} "
                               f"({job.base_model}, {job.state}{created}). Name another to change it.")
            self.assumed = None
        self.requests.append(request)
        if request.job_id:
            self.latest_job = request.job_id
        return request

    @property
    def current(self) -> Request | None:
        return self.requests[-1] if self.requests else None


def _count(text: str) -> int:
    """How many jobs "compare my last three jobs" means: 2 unless said, every one for "all" or "the best"."""
    m = words.COUNT.search(text)
    if m is None:
        return 1_000 if re.search(r"\bbest\b", text, re.I) else 2
    if m.group(2):
        return 1_000
    word = m.group(1).lower()
    return max(2, int(word) if word.isdigit() else words.NUMBERS[word])


def _job_in(content: Any) -> str | None:
    """The job a tool result was about, as the model saw it ({"job": {"job_id": ...}} in the rendered JSON)."""
    try:
        job = json.loads(content).get("job") if isinstance(content, str) else None
    except (ValueError, AttributeError):
        return None
    return job.get("job_id") if isinstance(job, dict) else None


def read_conversation(messages: Iterable[dict[str, Any]]) -> Conversation:
    """The requests of a saved conversation, read as the loop read them when they were sent."""
    conversation = Conversation()
    asked = False
    for m in messages:
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        for block in blocks:
            if block.get("type") == "tool_result" and not block.get("is_error"):
                conversation.latest_job = _job_in(block.get("content")) or conversation.latest_job
        if m["role"] == "assistant":
            asked = "?" in "".join(texts)
            continue
        for text in texts:
            if from_user(text):  # the loop's reminder is not the person speaking
                conversation.read(text, answering=asked)
                asked = False
    return conversation
