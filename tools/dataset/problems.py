"""Every kind of dataset problem, its severity and what to do about it; and the log that counts them, keeps the
first few of each kind and streams all of them to a JSONL report on disk, so memory stays flat."""

from __future__ import annotations

import json
from typing import IO, Any, NamedTuple

ERROR, WARNING = "error", "warning"
SAMPLES_PER_KIND = 3

# kind -> (severity, what to do about it). Line kinds first, then kinds about a whole file.
KINDS: dict[str, tuple[str, str]] = {
    "invalid_utf8": (ERROR, "re-save the file as UTF-8"),
    "invalid_json": (ERROR, "each line must be one complete JSON object; fix_dataset moves such lines aside"),
    "nesting_too_deep": (ERROR, "flatten the structure; no tuning example needs that depth"),
    "line_too_long": (ERROR, "split or drop the example; it cannot fit the token limit"),
    "not_an_object": (ERROR, "each line must be a JSON object with a 'contents' list"),
    "legacy_messages_format": (ERROR, "convert it with fix_dataset (OpenAI/messages chat format to 'contents')"),
    "missing_contents": (ERROR, "add a 'contents' list of user/model turns"),
    "invalid_contents": (ERROR, "'contents' must be a non-empty list of turns"),
    "invalid_turn": (ERROR, "each turn must be an object with 'role' and 'parts'"),
    "missing_role": (ERROR, "give each turn a role: 'user' or 'model'"),
    "invalid_role": (ERROR, "roles are 'user' and 'model'; system text goes in 'systemInstruction'"),
    "first_turn_not_user": (ERROR, "start each conversation with a user turn"),
    "consecutive_roles": (ERROR, "alternate user and model turns; fix_dataset merges consecutive turns"),
    "last_turn_not_model": (ERROR, "end each example with the model turn to learn from"),
    "invalid_parts": (ERROR, "'parts' must be a non-empty list of part objects"),
    "invalid_part": (ERROR, "each part holds exactly one of text, fileData, inlineData, functionCall, ..."),
    "empty_text": (ERROR, "remove empty text parts (fix_dataset does)"),
    "text_not_string": (ERROR, "'text' must be a string"),
    "invalid_file_data": (ERROR, "fileData needs a mimeType and a gs:// fileUri"),
    "file_uri_not_gcs": (ERROR, "upload the file to Cloud Storage and use its gs:// URI"),
    "file_uri_http": (WARNING, "Vertex reads public HTTP(S) URLs, but a gs:// copy is safer"),
    "invalid_inline_data": (ERROR, "inlineData needs a mimeType and base64 data"),
    "invalid_function_call": (ERROR, "functionCall needs a 'name' and an object 'args'"),
    "invalid_function_response": (ERROR, "functionResponse needs a 'name' and an object 'response'"),
    "invalid_system_instruction": (ERROR, "systemInstruction is {'parts': [{'text': '...'}]} with text parts only"),
    "invalid_tools": (ERROR, "'tools' must be a list of objects such as {'functionDeclarations': [...]}"),
    "unknown_key": (ERROR, "remove the key (fix_dataset does); Vertex rejects fields it does not know"),
    "tokens_over_limit": (ERROR, "shorten or split the example; Vertex truncates or drops it otherwise"),
    # Preference tuning (tools/dataset/preference_format.py)
    "missing_completions": (ERROR, "add 'completions': [{'score': 1, 'completion': <model turn>}, {'score': 0, ...}]"),
    "other_preference_format": (ERROR, "convert it with convert_preference_dataset into Vertex's format"),
    "invalid_completions": (ERROR, "'completions' is exactly two {'score', 'completion'} objects"),
    "invalid_score": (ERROR, "score 1 marks the preferred completion, 0 the dispreferred; one of each"),
    "invalid_completion": (ERROR, "'completion' is one model turn: {'role': 'model', 'parts': [{'text': ...}]}"),
    "prompt_not_ending_with_user": (ERROR, "end 'contents' with a user turn: the completions answer it"),
    "preference_not_text": (ERROR, "preference tuning takes text only: drop the media parts"),
    "identical_completions": (WARNING, "the two completions are the same, so the pair teaches nothing"),
    "empty_file": (ERROR, "the file holds no examples"),
    "file_too_large": (ERROR, "split the file; Vertex takes at most 1 GB per JSONL file"),
    "too_many_validation_rows": (ERROR, "keep at most 5,000 validation examples"),
    "few_examples": (WARNING, "Google recommends at least 100 examples (100-500 for best results)"),
    "duplicate": (WARNING, "fix_dataset drops exact duplicates"),
    "leakage": (WARNING, "remove validation examples that are also in the training file"),
    "validation_share": (WARNING, "Google caps a validation set over 1,000 rows at 30% of the training rows"),
    "system_instruction_mixed": (WARNING, "use the same systemInstruction in every example, as at inference"),
    "media_tokens_not_counted": (WARNING, "media parts (images, audio, files) add tokens this count omits"),
}


class Problem(NamedTuple):
    kind: str
    message: str  # where in the line, without the line number (the log prefixes "line N: ")


class ProblemLog:
    """Counts problems by kind, keeps the first few of each, and streams every one to a JSONL report.

    With `raw=True` (a worker process) it writes compact [line, kind, message] records that the parent replays
    with the right line offset."""

    def __init__(self, out: IO[bytes] | None, file_role: str, raw: bool = False):
        self.out = out
        self.role = file_role
        self.raw = raw
        self.counts: dict[str, int] = {}
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self.errors = 0
        self.warnings = 0

    def add(self, line: int | None, kind: str, message: str) -> None:
        if self.raw:
            self.out.write(json.dumps([line, kind, message]).encode() + b"\n")  # type: ignore[union-attr]
            return
        severity, hint = KINDS[kind]
        text = f"line {line}: {message}" if line is not None else message
        if severity == ERROR:
            self.errors += 1
        else:
            self.warnings += 1
        seen = self.counts.get(kind, 0)
        self.counts[kind] = seen + 1
        if seen < SAMPLES_PER_KIND:
            self.samples.setdefault(kind, []).append({"line": line or 0, "message": text})
        if self.out is not None:
            record = {"file": self.role, "line": line, "severity": severity, "kind": kind, "message": text,
                      "hint": hint}
            self.out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")

    def replay(self, raw_report: IO[bytes], line_offset: int) -> None:
        """Add the problems a worker wrote in raw form, shifting its line numbers to the whole file's."""
        for record in raw_report:
            line, kind, message = json.loads(record)
            self.add(line + line_offset if line is not None else None, kind, message)

    def by_kind(self, severity: str) -> dict[str, dict[str, Any]]:
        return {
            kind: {"count": n, "hint": KINDS[kind][1], "examples": self.samples.get(kind, [])}
            for kind, n in sorted(self.counts.items(), key=lambda kv: -kv[1])
            if KINDS[kind][0] == severity
        }
