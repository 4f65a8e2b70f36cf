"""Vertex AI's preference-tuning JSONL: the per-line rules, and the conversion of other preference formats into it.

Source: "Prepare preference tuning data for Gemini models",
https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/tuning/preference-tuning/prepare-data
(and its older copy under /vertex-ai/generative-ai/docs/models/gemini-preference-tuning-prepare), read 2026-12-07:
- a line is `contents` (the supervised format, text only, ending with a user turn), an optional
  `system_instruction`, and `completions`: exactly two `{"score": 0|1, "completion": <one model turn>}`, one
  preferred (1) and one dispreferred (0); the score's value beyond that changes nothing;
- only the completions are trained on;
- the largest input plus the largest completion must fit 131,072 tokens ("About preference tuning for Gemini
  models", same date: 1 GB training file, 5,000 validation examples, adapter sizes 1-16).

The formats converted here: `{prompt, chosen, rejected}` (strings, or TRL's conversational message lists) and
OpenAI's preference fine-tuning format (`{"input": {"messages": [...]}, "preferred_output": [...],
"non_preferred_output": [...]}`)."""

from __future__ import annotations

import re
from typing import Any

from tools.dataset.gemini_format import SYSTEM_KEYS, check_example
from tools.dataset.openai_chat import MODEL_ROLES, from_messages
from tools.dataset.problems import Problem

MAX_TOKENS = 131_072  # input + the longer completion, per the page above
TOP_KEYS = frozenset({"contents", "completions", *SYSTEM_KEYS})
COMPLETION_KEYS = frozenset({"score", "completion"})
PREFERRED, DISPREFERRED = 1, 0

# (problems or None, prompt texts, preferred texts, dispreferred texts, has a system instruction, media parts)
PreferenceCheck = tuple[list[Problem] | None, list[str], list[str], list[str], bool, int]


def is_preference(obj: Any) -> bool:
    """Whether a parsed line looks like preference data, in Vertex's format or one convert_preference_dataset reads."""
    return isinstance(obj, dict) and ("completions" in obj or other_format(obj) is not None)


def other_format(obj: dict[str, Any]) -> str | None:
    if {"prompt", "chosen", "rejected"} <= obj.keys():
        return "{prompt, chosen, rejected}"
    if "preferred_output" in obj or "non_preferred_output" in obj:
        return "OpenAI preference"
    return None


def check_preference(obj: Any) -> PreferenceCheck:
    """Every per-line rule of Vertex's preference format on one parsed line."""
    if type(obj) is not dict:
        kind = "list" if isinstance(obj, list) else type(obj).__name__
        return [Problem("not_an_object", f"a JSON {kind}, not an object")], [], [], [], False, 0
    if "completions" not in obj:
        found = other_format(obj)
        if found:
            return [Problem("other_preference_format", f"a {found} example, not Vertex's format")], [], [], [], \
                False, 0
        return [Problem("missing_completions", "no 'completions' pair")], [], [], [], False, 0
    problems = [Problem("unknown_key", f"unknown top-level key {k!r}") for k in sorted(obj.keys() - TOP_KEYS)]
    completions = obj["completions"]
    if type(completions) is not list or len(completions) != 2 or any(type(c) is not dict for c in completions):
        problems.append(Problem("invalid_completions", "'completions' is not a list of two objects"))
        return problems, [], [], [], False, 0
    scores = [c.get("score") for c in completions]
    if any(isinstance(s, bool) or s not in (0, 1) for s in scores) or sorted(scores) != [0, 1]:
        problems.append(Problem("invalid_score", f"scores are {scores!r}; one must be 1 and the other 0"))
    prompt = {k: obj[k] for k in ("contents", *SYSTEM_KEYS) if k in obj}
    contents = obj.get("contents")
    seen: set[Problem] = set(problems)
    texts: list[list[str]] = [[], []]
    prompt_texts: list[str] = []
    has_system, media = False, 0
    for k, pair in enumerate(completions):
        problems += [Problem("unknown_key", f"completions[{k}] has an unknown key {key!r}")
                     for key in sorted(pair.keys() - COMPLETION_KEYS)]
        completion = pair.get("completion")
        if type(completion) is not dict or completion.get("role") != "model":
            problems.append(Problem("invalid_completion", f"completions[{k}].completion is not a model turn"))
            continue
        # The prompt followed by this completion is a supervised example: the SFT rules check both at once.
        example = dict(prompt)
        if type(contents) is list and contents:
            example["contents"] = [*contents, completion]
        found, all_texts, output_start, has_system, parts_media, _, _ = check_example(example)
        media = max(media, parts_media)
        prompt_texts, texts[k] = all_texts[:output_start], all_texts[output_start:]
        for problem in _as_preference(found or [], len(contents) if type(contents) is list else -1, k):
            if problem not in seen:
                seen.add(problem)
                problems.append(problem)
    if media:
        problems.append(Problem("preference_not_text", f"{media} media parts; preference tuning takes text only"))
    if not problems and completions[0].get("completion") == completions[1].get("completion"):
        problems.append(Problem("identical_completions", "both completions are the same"))
    preferred = 0 if scores[0] == PREFERRED else 1
    return problems or None, prompt_texts, texts[preferred], texts[1 - preferred], has_system, media


def _as_preference(problems: list[Problem], completion_index: int, k: int) -> list[Problem]:
    """SFT problems of prompt + completion k, said in preference terms (where the completion is, what is wrong)."""
    where = f"contents[{completion_index}]"
    out = []
    for kind, message in problems:
        if kind == "last_turn_not_model":
            continue  # the completion is checked to be a model turn above
        if kind == "consecutive_roles" and message.startswith(where):
            out.append(Problem("prompt_not_ending_with_user", "the contents end with a model turn"))
            continue
        out.append(Problem(kind, message.replace(where, f"completions[{k}].completion")))
    return out


def to_vertex(obj: Any, changes: list[str]) -> dict[str, Any] | str:
    """One line in Vertex's preference format, from any format this module reads; a string says why not.

    Vertex-format lines get only the safe repairs: numeric scores from strings or booleans, a missing or
    'assistant' completion role, a plain-string completion or system instruction, 'system' -> system_instruction."""
    if type(obj) is not dict:
        return "not_an_object: the line is not a JSON object"
    if "completions" in obj:
        return _repair(obj, changes)
    if {"prompt", "chosen", "rejected"} <= obj.keys():
        return _from_pairs(obj, changes)
    if "preferred_output" in obj or "non_preferred_output" in obj:
        return _from_openai(obj, changes)
    return "missing_completions: neither Vertex's preference format nor one that can be converted"


def _turn(value: Any, where: str) -> dict[str, Any] | str:
    """One model turn from a string, a message, a list of one message or a Gemini content."""
    if isinstance(value, list):
        if len(value) != 1:
            return f"invalid_completion: {where} holds {len(value)} messages, not one"
        value = value[0]
    if isinstance(value, str):
        return {"role": "model", "parts": [{"text": value}]}
    if isinstance(value, dict) and "parts" in value:
        return {"role": "model", "parts": value["parts"]}
    if isinstance(value, dict) and str(value.get("role", "assistant")).lower() in MODEL_ROLES:
        content = value.get("content")
        if isinstance(content, str):
            return {"role": "model", "parts": [{"text": content}]}
        if isinstance(content, list) and all(isinstance(c, dict) and isinstance(c.get("text"), str) for c in content):
            return {"role": "model", "parts": [{"text": c["text"]} for c in content]}
    return f"invalid_completion: {where} is not one text answer"


def _example(prompt: dict[str, Any], preferred: dict[str, Any], dispreferred: dict[str, Any]) -> dict[str, Any]:
    out = {}
    if "systemInstruction" in prompt:
        out["system_instruction"] = prompt["systemInstruction"]
    out["contents"] = prompt["contents"]
    out["completions"] = [{"score": PREFERRED, "completion": preferred},
                          {"score": DISPREFERRED, "completion": dispreferred}]
    return out


def _prompt(messages: Any, system: Any, changes: list[str]) -> dict[str, Any] | str:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if isinstance(system, str) and system.strip():
        messages = [{"role": "system", "content": system}, *(messages if isinstance(messages, list) else [])]
    converted = from_messages({"messages": messages}, [])
    if isinstance(converted, str):
        return converted
    if not converted["contents"] or converted["contents"][-1]["role"] != "user":
        return "prompt_not_ending_with_user: the prompt does not end with a user message"
    return converted


def _from_pairs(obj: dict[str, Any], changes: list[str]) -> dict[str, Any] | str:
    prompt = _prompt(obj["prompt"], obj.get("system"), changes)
    if isinstance(prompt, str):
        return prompt
    chosen, rejected = _turn(obj["chosen"], "chosen"), _turn(obj["rejected"], "rejected")
    for turn in (chosen, rejected):
        if isinstance(turn, str):
            return turn
    changes.append("converted_prompt_chosen_rejected")
    changes += [f"dropped_unknown_key: {k}" for k in sorted(obj.keys() - {"prompt", "chosen", "rejected", "system"})]
    return _example(prompt, chosen, rejected)  # type: ignore[arg-type]


def _from_openai(obj: dict[str, Any], changes: list[str]) -> dict[str, Any] | str:
    given = obj.get("input")
    if not isinstance(given, dict):
        return "invalid_contents: 'input' is not an object with 'messages'"
    prompt = _prompt(given.get("messages"), None, changes)
    if isinstance(prompt, str):
        return prompt
    preferred = _turn(obj.get("preferred_output"), "preferred_output")
    dispreferred = _turn(obj.get("non_preferred_output"), "non_preferred_output")
    for turn in (preferred, dispreferred):
        if isinstance(turn, str):
            return turn
    changes.append("converted_openai_preference")
    if "tools" in given:
        changes.append("dropped_tools: preference tuning takes text only")
    return _example(prompt, preferred, dispreferred)  # type: ignore[arg-type]


def _repair(obj: dict[str, Any], changes: list[str]) -> dict[str, Any] | str:
    out = dict(obj)
    if "system" in out and not any(k in out for k in SYSTEM_KEYS):
        out["system_instruction"] = out.pop("system")
        changes.append("renamed_key: system -> system_instruction")
    for key in SYSTEM_KEYS:
        if isinstance(out.get(key), str):
            out[key] = {"parts": [{"text": out[key]}]}
            changes.append(f"wrapped_system_instruction: {key} string -> parts")
    completions = out.get("completions")
    if not isinstance(completions, list) or len(completions) != 2 or not all(isinstance(c, dict) for c in completions):
        return "invalid_completions: 'completions' is not a list of two objects"
    fixed = []
    for k, pair in enumerate(completions):
        pair = dict(pair)
        score = pair.get("score")
        number = _score(score)
        if number is None:
            return f"invalid_score: completions[{k}].score {score!r} is neither 0 nor 1"
        if type(score) is not int:
            pair["score"] = number
            changes.append(f"fixed_score: completions[{k}] {score!r} -> {number}")
        completion = pair.get("completion")
        role = completion.get("role") if isinstance(completion, dict) else None
        if isinstance(completion, dict) and "parts" in completion and role != "model" and \
                (role is None or str(role).lower() in MODEL_ROLES):
            pair["completion"] = {**completion, "role": "model"}
            changes.append(f"fixed_role: completions[{k}].completion role {role!r} -> 'model'")
        elif not isinstance(completion, dict) or "parts" not in completion:
            turn = _turn(completion, f"completions[{k}].completion")
            if isinstance(turn, str):
                return turn
            pair["completion"] = turn
            changes.append(f"wrapped_completion: completions[{k}] -> a model turn")
        fixed.append(pair)
    out["completions"] = fixed
    return out


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[01](\.0*)?\s*", value):
        return int(float(value))
    return None
