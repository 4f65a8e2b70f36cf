"""The per-line rules of Gemini supervised-tuning JSONL (shared/reference/vertex-tuning.md §1), written for speed.

`check_detailed` applies every rule to one raw line and returns the problems plus the texts whose tokens count.
The common shape (text turns, an optional system instruction) is accepted first by tools/common_shape.py in a few
steps; only an odd line pays for the detailed rules here, which name each problem and where in the line it is.
"""

from __future__ import annotations

import json
from typing import Any

from tools.dataset.common_shape import dict_fast, typed_decode  # noqa: F401 - typed_decode: tests switch it off
from tools.dataset.problems import Problem
from tools.tokens import estimate_weight

try:
    import orjson
except ImportError:  # a dependency; without it the standard library decodes, more slowly
    orjson = None  # type: ignore[assignment]


def stdlib_loads(raw: bytes) -> Any:
    """The standard library decoder, as strict as orjson about NaN and Infinity."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


loads: Any = orjson.loads if orjson is not None else stdlib_loads
# The stdlib decoder recurses: 100,000 nested brackets raise RecursionError there, which is that line's problem.
DECODE_ERRORS: tuple[type[BaseException], ...] = (ValueError, RecursionError)

BOM = b"\xef\xbb\xbf"
ROLES = ("user", "model")
SYSTEM_KEYS = ("systemInstruction", "system_instruction")
TOP_KEYS = frozenset({"contents", "tools", "toolConfig", "tool_config", *SYSTEM_KEYS})
CONTENT_KEYS = frozenset({"role", "parts"})
# Proto-JSON accepts both spellings of each Part field.
DATA_KEYS = frozenset({
    "text", "inlineData", "inline_data", "fileData", "file_data", "functionCall", "function_call",
    "functionResponse", "function_response", "executableCode", "executable_code", "codeExecutionResult",
    "code_execution_result",
})
META_KEYS = frozenset({
    "thought", "thoughtSignature", "thought_signature", "videoMetadata", "video_metadata", "mediaResolution",
    "media_resolution",
})
FILE_DATA_KEYS = frozenset({"mimeType", "mime_type", "fileUri", "file_uri", "displayName", "display_name"})
INLINE_DATA_KEYS = frozenset({"mimeType", "mime_type", "data", "displayName", "display_name"})

# What check_example returns, a plain tuple for speed: the problems (None when clean), the texts whose tokens count,
# output_start (texts[output_start:] are the last model turn: what an inference request returns), whether there is a
# systemInstruction, the number of media parts, and the character-estimate weights of all texts and of the output.
Checked = tuple[list[Problem] | None, list[str], int, bool, int, int, int]


def parse_line(raw: bytes) -> tuple[Any, Problem | None]:
    """Decode one line; a line that is not valid JSON becomes a Problem, never an exception."""
    try:
        return loads(raw), None
    except DECODE_ERRORS as exc:
        return None, diagnose(raw, exc)


def diagnose(raw: bytes, exc: BaseException) -> Problem:
    """Name why a line failed to decode: bad bytes, excessive depth, or plain invalid JSON."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Problem("invalid_utf8", f"byte 0x{raw[bad.start]:02x} at column {bad.start + 1} is not valid UTF-8")
    text = str(exc)
    if isinstance(exc, RecursionError) or "depth limit" in text or "ecursion" in text:
        return Problem("nesting_too_deep", "JSON nested too deep to parse")
    return Problem("invalid_json", f"not valid JSON ({text[:120]})")


def dumps_text(value: Any) -> str | None:
    """Serialise a structured part (function args) for token counting; None when it is too deep to serialise."""
    try:
        if orjson is not None:
            return orjson.dumps(value).decode()
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def check_detailed(raw: bytes) -> Checked | None:
    """Every per-line rule on one raw line (without its newline), parsed with orjson; None for a blank line."""
    try:
        obj = loads(raw)
    except DECODE_ERRORS as exc:
        if not raw.strip():
            return None
        return [diagnose(raw, exc)], [], 0, False, 0, 0, 0
    return check_example(obj)


def check_example(obj: Any) -> Checked:
    """Apply every per-line rule to one parsed line."""
    return dict_fast(obj) or _check_slowly(obj)


def _check_slowly(obj: Any) -> Checked:
    if type(obj) is not dict:
        return [Problem("not_an_object", f"a JSON {_json_type(obj)}, not an object")], [], 0, False, 0, 0, 0
    problems: list[Problem] = []
    texts: list[str] = []
    contents = obj.get("contents")
    has_system = False
    if len(obj) != 1 or contents is None:
        has_system = _check_top(obj, problems, texts)
    if contents is None:
        return _finish(problems, texts, len(texts), has_system, 0)
    if type(contents) is not list or not contents:
        what = "an empty list" if contents == [] else f"a JSON {_json_type(contents)}"
        problems.append(Problem("invalid_contents", f"'contents' is {what}"))
        return _finish(problems, texts, len(texts), has_system, 0)

    media = 0
    previous = None
    output_start = len(texts)
    for i, turn in enumerate(contents):
        if type(turn) is not dict:
            problems.append(Problem("invalid_turn", f"contents[{i}] is a JSON {_json_type(turn)}, not an object"))
            previous = None
            continue
        role = turn.get("role")
        parts = turn.get("parts")
        if len(turn) != 2 or role is None or role == "" or parts is None:
            role = _check_turn_keys(turn, i, role, parts, problems)
        if role == "model":
            output_start = len(texts)
        if type(parts) is not list or not parts:
            what = "missing" if parts is None else ("empty" if parts == [] else f"a JSON {_json_type(parts)}")
            problems.append(Problem("invalid_parts", f"contents[{i}].parts is {what}"))
        else:
            for j, part in enumerate(parts):
                # The common part: {"text": "..."} with real text in it.
                if type(part) is dict and len(part) == 1:
                    text = part.get("text")
                    if type(text) is str and text and not text.isspace():
                        texts.append(text)
                        continue
                media += _check_part(part, f"contents[{i}].parts[{j}]", problems, texts)
        if role is not None:
            if role != "user" and role != "model":
                problems.append(Problem("invalid_role", f"contents[{i}].role is {_short(role)}"))
            elif role == previous:
                problems.append(Problem("consecutive_roles", f"contents[{i}] is a second {role} turn in a row"))
            elif i == 0 and role != "user":
                problems.append(Problem("first_turn_not_user", f"contents[0] is a {role} turn"))
        previous = role
    # Any turn but a model turn fails this rule, a role-less or misnamed one too: there is no answer to learn from.
    if previous != "model" and type(contents[-1]) is dict:
        what = "no role" if previous is None else f"role {previous if previous in ROLES else _short(previous)}"
        problems.append(Problem("last_turn_not_model",
                                f"the last turn, contents[{len(contents) - 1}], is not a model turn ({what})"))
    return _finish(problems, texts, output_start, has_system, media)


def _finish(problems: list[Problem], texts: list[str], output_start: int, has_system: bool,
            media: int) -> Checked:
    weight = sum(map(estimate_weight, texts))
    output_weight = sum(map(estimate_weight, texts[output_start:]))
    return problems or None, texts, output_start, has_system, media, weight, output_weight


def _check_top(obj: dict[str, Any], problems: list[Problem], texts: list[str]) -> bool:
    if "contents" not in obj:
        if "messages" in obj:
            problems.append(Problem("legacy_messages_format", "uses 'messages' (chat format), not 'contents'"))
        else:
            problems.append(Problem("missing_contents", "has no 'contents' key"))
    for key in obj.keys() - TOP_KEYS:
        if key != "messages" or "contents" in obj:
            problems.append(Problem("unknown_key", f"unknown top-level key {_short(key)}"))
    present = [k for k in SYSTEM_KEYS if k in obj]
    if len(present) == 2:
        problems.append(Problem("invalid_system_instruction", "has both systemInstruction and system_instruction"))
    if present:
        _check_system(obj[present[0]], problems, texts)
    tools = obj.get("tools")
    if tools is not None:
        if type(tools) is not list or any(type(t) is not dict for t in tools):
            problems.append(Problem("invalid_tools", f"'tools' is a JSON {_json_type(tools)} or holds non-objects"))
        else:
            dumped = dumps_text(tools)
            if dumped is None:
                problems.append(Problem("nesting_too_deep", "'tools' is nested too deep"))
            else:
                texts.append(dumped)
    return bool(present)


def _check_system(system: Any, problems: list[Problem], texts: list[str]) -> None:
    if type(system) is not dict:
        problems.append(Problem("invalid_system_instruction", f"systemInstruction is a JSON {_json_type(system)}"))
        return
    for key in system.keys() - CONTENT_KEYS:
        problems.append(Problem("unknown_key", f"unknown key {_short(key)} in systemInstruction"))
    parts = system.get("parts")
    if type(parts) is not list or not parts:
        problems.append(Problem("invalid_system_instruction", "systemInstruction.parts is missing or empty"))
        return
    for j, part in enumerate(parts):
        text = part.get("text") if type(part) is dict else None
        if type(part) is not dict or len(part) != 1 or type(text) is not str:
            problems.append(
                Problem("invalid_system_instruction", f"systemInstruction.parts[{j}] is not a text part")
            )
        elif not text or text.isspace():
            problems.append(Problem("empty_text", f"systemInstruction.parts[{j}].text is empty"))
        else:
            texts.append(text)


def _check_turn_keys(turn: dict[str, Any], i: int, role: Any, parts: Any, problems: list[Problem]) -> Any:
    """Unknown keys and a missing role; returns the role to use for the order checks."""
    for key in turn.keys() - CONTENT_KEYS:
        problems.append(Problem("unknown_key", f"unknown key {_short(key)} in contents[{i}]"))
    if role is None or role == "":
        # Google's own function-calling example leaves the role off the functionResponse turn: it is a user turn.
        if type(parts) is list and parts and all(
            type(p) is dict and ("functionResponse" in p or "function_response" in p) for p in parts
        ):
            return "user"
        problems.append(Problem("missing_role", f"contents[{i}] has {'no' if role is None else 'an empty'} role"))
        return None
    if type(role) is not str:
        problems.append(Problem("invalid_role", f"contents[{i}].role is a JSON {_json_type(role)}"))
        return None
    return role


def _check_part(part: Any, where: str, problems: list[Problem], texts: list[str]) -> int:
    """Check one part that is not a plain non-empty text; returns 1 for a media part (its tokens are not counted)."""
    if type(part) is not dict:
        problems.append(Problem("invalid_part", f"{where} is a JSON {_json_type(part)}, not an object"))
        return 0
    data = [k for k in part if k in DATA_KEYS]
    for key in part.keys() - DATA_KEYS - META_KEYS:
        problems.append(Problem("unknown_key", f"unknown key {_short(key)} in {where}"))
    if len(data) != 1:
        which = "none" if not data else ", ".join(data)
        problems.append(Problem("invalid_part", f"{where} must hold exactly one kind of data (has {which})"))
        return 0
    key = data[0]
    value = part[key]
    if key == "text":
        if type(value) is not str:
            problems.append(Problem("text_not_string", f"{where}.text is a JSON {_json_type(value)}"))
        elif not value or value.isspace():
            problems.append(Problem("empty_text", f"{where}.text is empty"))
        else:
            texts.append(value)
        return 0
    if key in ("fileData", "file_data"):
        _check_file_data(value, f"{where}.{key}", problems)
        return 1
    if key in ("inlineData", "inline_data"):
        ok = type(value) is dict and not value.keys() - INLINE_DATA_KEYS
        ok = ok and type(value.get("data")) is str and type(value.get("mimeType", value.get("mime_type"))) is str
        if not ok:
            problems.append(Problem("invalid_inline_data", f"{where}.{key} needs mimeType and data strings only"))
        return 1
    if key in ("functionCall", "function_call", "functionResponse", "function_response"):
        call = key.startswith("functionC") or key == "function_call"
        body_key = "args" if call else "response"
        kind = "invalid_function_call" if call else "invalid_function_response"
        ok = type(value) is dict and type(value.get("name")) is str and value.get("name")
        body = value.get(body_key, {}) if type(value) is dict else None
        if not ok or type(body) is not dict:
            problems.append(Problem(kind, f"{where}.{key} needs a 'name' string and an object '{body_key}'"))
            return 0
        dumped = dumps_text(body)
        if dumped is None:
            problems.append(Problem("nesting_too_deep", f"{where}.{key}.{body_key} is nested too deep"))
        else:
            texts.append(value["name"])
            texts.append(dumped)
    return 0


def _check_file_data(value: Any, where: str, problems: list[Problem]) -> None:
    if type(value) is not dict or value.keys() - FILE_DATA_KEYS:
        problems.append(Problem("invalid_file_data", f"{where} must be an object with mimeType and fileUri"))
        return
    uri = value.get("fileUri", value.get("file_uri"))
    mime = value.get("mimeType", value.get("mime_type"))
    if type(mime) is not str or not mime:
        problems.append(Problem("invalid_file_data", f"{where} has no mimeType"))
    if type(uri) is not str or not uri:
        problems.append(Problem("invalid_file_data", f"{where} has no fileUri"))
    elif uri.startswith(("http://", "https://")):
        problems.append(Problem("file_uri_http", f"{where}.fileUri is an HTTP URL ({_short(uri)})"))
    elif not uri.startswith("gs://") or len(uri) < 8 or "/" not in uri[5:]:
        problems.append(Problem("file_uri_not_gcs", f"{where}.fileUri {_short(uri)} is not a gs://bucket/object URI"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
