"""The things a message names, in plain words: dataset files, base model, hyperparameters, project, region, bucket,
backend. agent/request.py reads what the message asks for around these names."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from prompts import load

_JSONL = re.compile(r"""["'`](?P<quoted>[^"'`\n]+?\.jsonl)["'`]|(?P<path>(?:gs://)?[\w~./\\:\-]*[\w\-]\.jsonl)\b""",
                    re.IGNORECASE)
_VALIDATION_CUE = re.compile(r"(validation|validate\s+(?:with|on|against)|validating\s+with|eval(?:uation)?|"
                             r"\bval\b|held[- ]?out|holdout|dev\s+set)[^.;]*$", re.IGNORECASE)
MODEL_NAME = r"gemini-[0-9][\w.\-]*[\w]|gemma-3-270m"  # what a message may call a base model
_MODEL = re.compile(rf"\b({MODEL_NAME})\b", re.IGNORECASE)
_LOCAL_MODEL = re.compile(r"base[- ]model\s*(?:=|:|is|at)?\s*(?P<p>[~./][\w~./\-]+)", re.IGNORECASE)
_EPOCHS = re.compile(r"\b(\d{1,3})\s*epochs?\b|\bepochs?\s*(?:=|:|of|to)?\s*(\d{1,3})\b", re.IGNORECASE)
_ADAPTER = re.compile(r"\b(?:adapter(?:[\s_-]*size)?|lora[\s_-]*rank|rank)\s*(?:=|:|of|to)?\s*(\d{1,2})\b"
                      r"|\b(\d{1,2})\s*(?:-|\s)?(?:adapter|rank)\b", re.IGNORECASE)
_LR = re.compile(r"\b(?:learning[\s_-]*rate(?:[\s_-]*multiplier)?|lr(?:[\s_-]*multiplier)?|lrm)\s*"
                 r"(?:=|:|of|to|x)?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
# "project my-proj", "project id: demo-123", "project called acme": the word after "project" and its cue words.
_PROJECT = re.compile(r"\bproject(?P<id>[\s_-]*id)?\b\s*(?P<sep>[:=])?\s*(?:(?P<cue>called|named|is)\s+)?"
                      r"(?P<quote>['\"`])?(?P<value>[\w-]+)", re.IGNORECASE)
# A Google Cloud project id: 6-30 lowercase letters, digits and hyphens, starting with a letter, not ending with "-".
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_REGION = re.compile(r"\b((?:us|europe|asia|australia|northamerica|southamerica|me|africa)-[a-z]+\d{1,2})\b")
_BUCKET = re.compile(r"\bgs://([a-z0-9][a-z0-9._\-]{1,221}[a-z0-9])(/[^\s,;]*)?", re.IGNORECASE)
_BACKEND = re.compile(r"\b(?:backend\s*(?:=|:)?\s*(local|vertex)|(locally|on this machine|offline)|"
                      r"(on vertex(?: ai)?|vertex ai))\b", re.IGNORECASE)


@dataclass
class Goal:
    training: str | None = None
    validation: str | None = None
    base_model: str | None = None
    epochs: int | None = None
    adapter_size: int | None = None
    learning_rate_multiplier: float | None = None
    project: str | None = None
    region: str | None = None
    bucket: str | None = None
    backend: str | None = None

    def merge(self, later: Goal) -> Goal:
        """Later messages (answers to questions) override or fill in earlier ones."""
        return Goal(**{f.name: getattr(later, f.name) or getattr(self, f.name) for f in fields(self)})


def parse_goal(text: str) -> Goal:
    goal = Goal()
    for match in _JSONL.finditer(text):
        path = match.group("quoted") or match.group("path")
        before = text[max(0, match.start() - 40):match.start()]
        # A second file with no cue is the validation set: "train on a.jsonl and b.jsonl" is rarely meant otherwise.
        is_validation = bool(_VALIDATION_CUE.search(before)) or bool(goal.training and not goal.validation)
        if is_validation and goal.validation is None:
            goal.validation = path
        elif goal.training is None:
            goal.training = path
    if m := _MODEL.search(text):
        goal.base_model = m.group(1).lower()
    elif m := _LOCAL_MODEL.search(text):
        goal.base_model = m.group("p")
    if m := _EPOCHS.search(text):
        goal.epochs = int(m.group(1) or m.group(2))
    if m := _ADAPTER.search(text):
        goal.adapter_size = int(m.group(1) or m.group(2))
    if m := _LR.search(text):
        goal.learning_rate_multiplier = float(m.group(1))
    goal.project = _project(text)
    if m := _REGION.search(text):
        goal.region = m.group(1)
    for m in _BUCKET.finditer(text):
        if not (m.group(2) or "").lower().endswith(".jsonl"):
            goal.bucket = f"gs://{m.group(1)}"
            break
    else:
        dataset_uri = next((m for m in _BUCKET.finditer(text)), None)
        if dataset_uri:
            goal.bucket = f"gs://{dataset_uri.group(1)}"
    if m := _BACKEND.search(text):
        goal.backend = (m.group(1) or ("local" if m.group(2) else "vertex")).lower()
    return goal


def _project(text: str) -> str | None:
    """The project id the text names. A plain English word after "project" ("the project described below") is not
    one: without a cue (id, ':', '=', called, named, quotes) the id must hold a digit or a hyphen."""
    for m in _PROJECT.finditer(text):
        value = m.group("value")
        if not _PROJECT_ID.fullmatch(value):
            continue
        cued = m.group("id") or m.group("sep") or m.group("quote") or (m.group("cue") or "").lower() in ("called",
                                                                                                            "named")
        if cued or re.search(r"[\d-]", value):
            return value
    return None


# The loop's reminder is not the user speaking: it neither sets the goal nor answers a question.
_REMINDER = load("nudge").split("$missing")[0]


def from_user(text: str) -> bool:
    """Whether a user-role text is the person's own words (not the loop's reminder)."""
    return not text.startswith(_REMINDER)


PLACE = ("project", "region", "bucket")


def place(goal: Goal) -> dict[str, str]:
    """Where the goal says the work goes, in the settings' terms (a bucket by name, without gs://)."""
    found = {"project": goal.project, "region": goal.region,
             "bucket": goal.bucket.removeprefix("gs://") if goal.bucket else None}
    return {k: v for k, v in found.items() if v}
