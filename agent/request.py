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

from agent.goal import Goal, from_user, parse_goal
from tools.backends.base import JobInfo
from tools.evaluation.targets import target_in_words

# The parts of the workflow a message can ask for, in the order the workflow runs them.
PARTS = ("thanks", "help", "delete", "models", "spent", "budget", "environment", "validate", "fix", "split",
         "recommend", "estimate", "upload", "start_job", "status", "watch", "health", "cancel", "resume", "retune",
         "checkpoints", "compare", "endpoint", "preference", "report", "compare_jobs", "list_jobs", "serve")
WORKFLOW = "workflow"
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
    '"Recommend hyperparameters for data.jsonl"',
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


# Constraint phrases: matched first, then cut out of the text so "don't train" never reads as "train".
_NEG = r"(?:don'?t|do not|dont|no|never|without|not|w/o|skip(?:ping)?|avoid|no need to)"
_CONSTRAINTS = (
    ("no_train", re.compile(rf"\b{_NEG}\s+(?:\w+\s+){{0,2}}?(?:train(?:ing)?|tun(?:e|ing)|fine[- ]?tun(?:e|ing)|dpo|"
                            r"preference[- ]?tun(?:e|ing)|"
                            r"start(?:ing)?\s+(?:a\s+)?(?:tuning\s+)?job|creat(?:e|ing)\s+(?:a\s+)?job)\b(?:\s+(?:it|yet|"
                            r"anything|now))*|\bjust\s+(?:check|validate|look|verify|lint)\b|\bonly\s+(?:check|validate)\b"
                            r"|\bcheck[- ]only\b|\bdry[- ]run\b", re.I),
     frozenset({"create_tuning_job", "run_preference_job", "retune_job"})),
    ("no_upload", re.compile(rf"\b{_NEG}\s+(?:\w+\s+){{0,2}}?upload(?:ing)?\b(?:\s+(?:it|anything|yet))*|\bkeep (?:it|"
                             r"everything|the data) (?:local|on this machine)\b|\bnothing leaves\b", re.I),
     frozenset({"upload_to_gcs", "create_tuning_job", "run_preference_job", "retune_job"})),
    ("no_spend", re.compile(rf"\b{_NEG}\s+(?:\w+\s+){{0,2}}?(?:spend(?:ing)?|pay(?:ing)?|cost anything|bill(?:ing)?)\b"
                            r"(?:\s+(?:any(?:thing)?|money|a cent))*|\bfor free\b|\bfree only\b", re.I),
     frozenset({"create_tuning_job", "run_preference_job", "retune_job"})),
    ("stop_after_create", re.compile(r"\bstop (?:right )?(?:after|once|when) (?:the )?job (?:is )?(?:created|started|"
                                     rf"submitted)\b|\b{_NEG}\s+(?:wait|watch|monitor)(?:ing)?\b(?:\s+(?:for )?"
                                     r"(?:it|the job))?|\bwithout waiting\b|\bjust start\b", re.I),
     frozenset({"poll_metrics", "choose_checkpoint", "compare_models", "test_endpoint"})),
    ("no_compare", re.compile(rf"\b{_NEG}\s+(?:\w+\s+){{0,1}}?compar(?:e|ing|ison)\b(?:\s+(?:it|with the base))?|"
                              r"\bno comparison\b|\bskip the comparison\b", re.I),
     frozenset({"compare_models"})),
)

# What each part is called in plain words. Matched on the text with file paths and constraints cut out.
_PART_WORDS: dict[str, re.Pattern[str]] = {k: re.compile(v, re.I) for k, v in {
    "help": r"^\W*(?:help|usage|hi|hello|hey|good (?:morning|afternoon|evening)|what can you do|"
            r"how do (?:i|you) use (?:this|you|gto|it)|what (?:can|do) i ask)\W*$",
    "thanks": r"^\W*(?:(?:thanks?|thank you|thx|ty|cheers)(?: (?:a lot|very much|so much))?|bye|goodbye|great,? thanks?)"
              r"\W*$",
    "delete": r"\b(?:delete|remove|purge|erase|clean up|get rid of)\b.{0,30}\b(?:jobs?|models?|endpoints?|runs?|"
              r"checkpoints?|workspace|history)\b",
    "spent": r"\b(?:(?:how much|what) (?:have|has|did) (?:i|we|it|this|that|my|the)\b.{0,25}?\b(?:spen[dt]|cost)|"
             r"spen[dt] so far|my (?:spend\w*|bill)|(?:show|see|list) (?:me )?(?:the |my )?(?:spend\w*|ledger|costs so "
             r"far)|total spend\w*|spending|ledger)\b",
    "budget": r"\b(?:(?:set|change|raise|lower|increase|decrease|put)\b.{0,15}\b(?:budget|spending limit)|(?:budget|"
              r"spending limit) (?:of|to|at)\b|max(?:imum)? spend|what(?:'s| is) (?:my|the) budget)",
    "models": r"\b(?:(?:what|which) (?:base |gemini |tunable |tuned )?models|(?:list|show|see)(?: me)? (?:the |all |my )?"
              r"(?:base |tunable |available |supported |tuned |gemini )?models|models (?:can|could|do) i|(?:available|"
              r"tunable|supported|tuned) models|models? (?:are|is) (?:retir\w+|deprecated|available|tunable))\b",
    "environment": r"\b(?:set ?up|environment|env|pre-?flight|credentials|permissions|iam|quota|am i ready|"
                   r"ready to tune|can i tune)\b",
    "validate": r"\b(?:validat\w*|check\w*|verif\w*|lint|inspect|look (?:at|over)|problems?|errors?|issues|valid|"
                r"ready|well[- ]formed|sane|ok\b|okay)\b",
    "fix": r"\b(?:fix(?!ed)\w*|repair(?!ed)\w*|clean(?:\s*up)?|convert\w*|(?:remove|drop) (?:the )?duplicates|"
           r"dedup\w*)\b",
    "split": r"\b(?:split\w*|hold(?:ing)?[- ]?out|holdout)\b",
    "recommend": r"\b(?:recommend\w*|hyper-?param\w*|suggest\w*|which settings|what settings|how many epochs|"
                 r"learning rate should)\b",
    "estimate": r"\b(?:cost\w*|price\w*|pricing|estimat\w*|how much|expensive|cheap\w*|budget|how long (?:will|would|"
                r"does|might|could|should)|how much time)\b",
    "upload": r"\b(?:upload\w*|stage|staging|copy (?:it )?to (?:the )?bucket)\b",
    "start_job": r"\b(?:start|launch|kick(?:ing)? off|submit|create)\w*\b.{0,40}\b(?:job|tuning|run)\b",
    "status": r"\b(?:status|how(?:'s| is) (?:it|that|the job|my job|job)|progress|doing|where (?:is|are) we|state of|"
              r"how(?:'s| is| are)\b.{0,30}\b(?:going|coming along)|how long (?:did|has|have)\b|"
              r"what (?:base )?model (?:did|does|is)\b.{0,20}\b(?:it|job|use|using)|"
              r"(?:tell me (?:more )?about|details (?:of|about|on)) (?:it|that job|the job|my job|JOB)|"
              r"why did (?:it|that job|the job|my job|JOB) fail|what went wrong|what happened|"
              r"(?:has|have|is|did) (?:it|that job|the job|my job|JOB|(?:the |my )?(?:training|tuning)(?: job)?) "
              r"(?:finished|finish|done|completed?|ended|over)|finished (?:training|tuning) yet)\b",
    "watch": r"\b(?:watch\w*|monitor\w*|wait (?:for|until)|follow|keep an eye)\b",
    "health": r"\b(?:loss(?:es)?|(?:loss|learning|training) curves?|overfit\w*|anomal\w*|metrics|converg\w*|diverg\w*|"
              r"healthy|health)\b",
    "cancel": r"\b(?:cancel\w*|abort\w*|kill|stop\s+(?:it|that|the job|this job|job|my job)\b)",
    "resume": r"\b(?:resume|restart|pick up|continue)\s+(?:it|that|the|this|my)?\s*(?:killed |failed |stopped |crashed )?"
              r"(?:job|training|run)\b|\b(?:resume|restart) (?:job|it)\b",
    "retune": r"\b(?:re-?tun\w*|tune (?:it|that(?: job| one)?|this(?: job)?|JOB|my (?:old )?(?:job|model)) again|"
              r"(?:move|migrate|port) (?:it|that job|this job|JOB|my (?:old )?(?:job|tuned model)) (?:on)?to)\b",
    "checkpoints": r"\b(?:checkpoints?|best epoch|(?:which|what) epoch)\b",
    "compare": r"\b(?:compar\w* (?:it |the tuned model |them )?(?:with|to|against) (?:the )?base|tuned (?:vs\.?|versus|"
               r"against) base|base (?:vs\.?|versus) tuned|evaluat\w*|how good is|better than the base)\b",
    "endpoint": r"\b(?:endpoint|(?:test|try|ask|query|prompt) (?:it|(?:the|my) (?:(?:fine-?)?tuned |new )?model)|ping|"
                r"inference request)\b",
    "report": r"\b(?:report|write[- ]?up|document\w*|summary)\b",
    "compare_jobs": r"\b(?:compare (?:all )?(?:the |my |these |both )?(?:(?:last|latest|recent|newest) )?"
                    r"(?:two |three |four |five |\d+ )?(?:tuning )?(?:jobs|runs)|"
                    r"which (?:job|run) (?:was|is) (?:better|best)|"
                    r"which of (?:my|the|these|all) (?:tuning )?(?:jobs|runs)|"
                    r"compare\s+job\s+(?:and|with|to|vs\.?)\s+job)\b",
    "list_jobs": r"\b(?:(?:what|which) jobs|jobs (?:do i have|are there|are running)|(?:show|list|what are|see|which are)\s+(?:me\s+)?(?:all\s+)?(?:my\s+|the\s+)?(?:tuning\s+)?"
                 r"jobs|my jobs|jobs list|list jobs)\b",
    "serve": r"\b(?:serve|serving|host it|run (?:it|the model) locally|deploy\w*|"
             r"how (?:do|can) i (?:use|call|query) (?:it|my (?:tuned )?model|the (?:tuned )?model)|"
             r"call (?:it|my (?:tuned )?model|the (?:tuned )?model) from)\b",
    "preference": r"\b(?:preference[- ]?(?:tun\w*|optimi[sz]\w*|train\w*|job)|dpo)\b",
    WORKFLOW: r"\b(?:tune|tuning|fine[- ]?tun\w*|train|training|finetun\w*|whole (?:workflow|thing)|end[- ]to[- ]end|"
              r"full (?:run|workflow|pipeline)|"
              r"retrain|re-?tune)\b",
}.items()}
# Words close to these (typos such as "cancle", "valdiate") are read as them.
_VOCABULARY = ("cancel", "validate", "estimate", "report", "status", "checkpoints", "compare", "upload",
               "recommend", "repair", "monitor", "endpoint", "environment", "preflight", "hyperparameters", "tune",
               "train", "split", "check", "watch", "retune", "retrain")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_JOB_ID = re.compile(r"\b(local-\d{8}-\d{6}-[0-9a-f]{6}|projects/[\w-]+/locations/[\w-]+/tuningJobs/\d+|\d{9,20})\b")
_PRONOUN = re.compile(r"\b(?:it|that job|this job|the job|my job|that one|the last job|the latest job|that run|"
                      r"the run)\b", re.I)
_PATH = re.compile(r"(?:gs://|[\w~./\\-]*/)?[\w~.\-]+\.jsonl\b|\"[^\"]+\.jsonl\"|'[^']+\.jsonl'", re.I)
# "train and validation", "the training set": names of data, not a request to train.
_DATA_NOUNS = re.compile(r"\btrain(?:ing)?\s*(?:and|/|&)\s*(?:validation|val|test|eval)\b|\b(?:training|validation|"
                         r"train|val) (?:set|split|file|data|examples?|half)\b|\binto train\b", re.I)
_BARE_BUCKET = re.compile(r"\b(?:bucket\s+(?:called\s+|named\s+)?|use\s+)(?:gs://)?([a-z0-9][a-z0-9._-]*[a-z0-9])"
                          r"(?=\s+(?:instead|bucket|from now)|\s*$|\s*[.,;!])", re.I)
# "what would tuning gemini-3.5-flash on data.jsonl cost?", "how long will training take?": a question, not a request.
_COST_QUESTION = re.compile(r"\bhow much|\bwhat (?:would|will|does|did)\b[^?!]{0,80}?\bcost\b|\bcost of\b|"
                            r"\bprice of\b|\bestimat|\bhow long\b", re.I)
# "can I tune gemini-2.5-flash?", "is X still tunable?": a question about a model, not a request to tune it.
_MODEL_QUESTION = re.compile(r"\b(?:can|could) (?:i|we) (?:still )?(?:tune|use)\b|\bis \S+ (?:still )?"
                             r"(?:tunable|retired|available)\b", re.I)
# "go on", "continue", "yes, do it": the previous request, again (after a stop, a question or --resume).
_GO_ON = re.compile(r"\b(?:continue|go on|carry on|keep going|resume|proceed|go ahead|try again|again|retry|"
                    r"fixed|do it|yes|yep|sure)\b", re.I)
# The file a preference request names: "preference-tune on prefs.jsonl", "DPO with pairs.jsonl".
_PREFERENCE_FILE = re.compile(r"\b(?:preference|dpo|prefs?)\b[\w\s-]{0,40}?(?P<path>(?:gs://)?[\w~./\\-]*[\w-]\.jsonl)\b",
                              re.I)
# A quoted prompt after "with", "ask it" or a colon: 'test it with "What is 2+2?"', "ask the model: 'Hi'".
_PROMPT = re.compile(r"""(?:\bwith|\bask(?:ing)?(?: it| the(?: tuned)? model)?|:)\s*(?:the )?(?:prompt |question )?"""
                     r"""(?:"([^"]+)"|“([^”]+)”|'(.+)'(?=\W*$))""", re.I)
# "is data.jsonl ready for tuning?", "does it look ok for training?", "can I use data.jsonl to fine-tune?": a question
# about the file, answered by checking it. ("Can you tune ...?" and "do a tuning run" are requests.)
_CHECK_QUESTION = re.compile(r"^\W*(?:is|are|does|should|do(?!\s+(?:a|an|the|it|my|some|one)\b)|(?:can|could) (?:i|we)"
                             r" use|(?:will|would)\b(?!\s+you\b))", re.I)
_PLACE_ONLY = re.compile(r"^\s*(?:please\s+)?(?:use|switch to|change to|set|go with|try)\b.*\b(?:instead|bucket|"
                         r"project|region|gs://)", re.I)


def read_request(text: str, earlier: Iterable[Request] = (), latest_job: str | None = None) -> Request:
    """Read one message. `earlier` are the conversation's previous requests (their names fill in what this one
    leaves out: "now tune it with 2 epochs"); `latest_job` is what "it" / "that job" refers to."""
    prompt, said = _prompt_in(text)  # the prompt's own words ask for nothing
    names = parse_goal(said)
    job_ids = tuple(dict.fromkeys(m.group(1) for m in _JOB_ID.finditer(said)))
    rest, constraints = _constraints(_PATH.sub(" ", _JOB_ID.sub(" JOB ", said)))
    rest = _DATA_NOUNS.sub(" ", _correct_typos(rest))
    if not names.bucket and (m := _BARE_BUCKET.search(text)) and _PLACE_ONLY.search(text):
        names.bucket = f"gs://{m.group(1)}"
    parts = {part for part, pattern in _PART_WORDS.items() if pattern.search(rest)}
    if len(job_ids) > 1 and "compare" in rest.lower():
        parts.add("compare_jobs")
    parts = _settle(parts, names, bool(job_ids) or bool(latest_job and _PRONOUN.search(rest)), constraints, rest)
    if not job_ids and latest_job and (parts & JOB_PARTS or "spent" in parts and _PRONOUN.search(rest)):
        job_ids = (latest_job,)
    preference = None
    if "preference" in parts and (m := _PREFERENCE_FILE.search(text)):
        preference = m.group("path")
        # parse_goal reads a second file as the validation set; here it is the preference data.
        if names.validation == preference:
            names.validation = None
        if names.training == preference:
            names.training = None
    if "preference" in parts and not names.training:
        parts = {"preference"} | (parts & {"report"})  # preference tuning alone: "DPO on prefs.jsonl from it"
        if latest_job and not job_ids and _PRONOUN.search(rest):
            job_ids = (latest_job,)
    if names.validation and not names.training and not parts & {WORKFLOW, "start_job"}:
        names.training, names.validation = names.validation, None  # "hold out a validation set from data.jsonl"
    for before in earlier:
        names = before.names.merge(names)
    settings_only = not parts and bool(_PLACE_ONLY.search(text)) and any(
        (names.project, names.region, names.bucket))
    understood = bool(parts) or settings_only
    implied = not any(p.search(rest) for p in _PART_WORDS.values())
    return Request(text=text, parts=frozenset(parts), names=names, job_ids=job_ids,
                   constraints=tuple(constraints), understood=understood, settings_only=settings_only,
                   implied=implied, preference=preference, prompt=prompt if "endpoint" in parts else None,
                   target=str(target) if (target := target_in_words(text)) is not None else None)


def _prompt_in(text: str) -> tuple[str | None, str]:
    """The quoted prompt of "test it with \"What is the capital of France?\"" and the message without it."""
    for m in _PROMPT.finditer(text):
        quoted = next(g for g in m.groups() if g is not None)
        if not quoted.strip().lower().endswith(".jsonl"):  # a quoted file name is a file, not a prompt
            return quoted.strip(), text[:m.start(m.lastindex)] + text[m.end(m.lastindex):]
    return None, text


def _constraints(text: str) -> tuple[str, list[Constraint]]:
    found: list[Constraint] = []
    for key, pattern, tools in _CONSTRAINTS:
        for m in pattern.finditer(text):
            if not any(c.key == key for c in found):
                found.append(Constraint(key, m.group(0).strip(), tools, key in ("no_upload", "no_spend")))
        text = pattern.sub(" ", text)
    return text, found


def _correct_typos(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        lower = word.lower()
        if len(lower) < 5 or any(lower.startswith(v) for v in _VOCABULARY):
            return word  # a word of the vocabulary or its inflection ("tuned", "trained", "checks")
        close = difflib.get_close_matches(lower, _VOCABULARY, n=1, cutoff=0.8)
        return close[0] if close else word

    return _WORD.sub(fix, text)


def _settle(parts: set[str], names: Goal, about_job: bool, constraints: list[Constraint], text: str) -> set[str]:
    """Resolve overlaps between the parts' words into what was meant."""
    ruled_out_training = any(c.key == "no_train" for c in constraints)
    if names.base_model and not names.training and _MODEL_QUESTION.search(text):
        parts = {"models"}  # "can I tune gemini-2.5-flash?": a question about the model, answered from the catalog
    if "models" in parts and not names.training:
        parts -= {"environment", "validate", "status", WORKFLOW}  # "which models can I tune?": not a setup check
    if "help" in parts or "thanks" in parts:
        parts &= {"help", "thanks"}
    if "delete" in parts:
        parts &= {"delete"}  # "delete my jobs": answered in words, never by listing or cancelling them
    if "budget" in parts:
        parts &= {"budget"}  # "set a budget of $5": a flag or GTO_BUDGET, answered in words
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
    if "estimate" in parts and _COST_QUESTION.search(text):
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
    if WORKFLOW in parts and names.training and _CHECK_QUESTION.search(text):
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
        if self.latest_job is None and jobs:
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
                _GO_ON.search(text) or (changes and not request.settings_only))):
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


_COUNT = re.compile(r"\b(?:last|latest|recent|newest)\s+(\d+|two|three|four|five)\b|\b(all)\b", re.I)
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5}


def _count(text: str) -> int:
    """How many jobs "compare my last three jobs" means: 2 unless said, every one for "all" or "the best"."""
    m = _COUNT.search(text)
    if m is None:
        return 1_000 if re.search(r"\bbest\b", text, re.I) else 2
    if m.group(2):
        return 1_000
    word = m.group(1).lower()
    return max(2, int(word) if word.isdigit() else _NUMBERS[word])


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
