"""The Gemini generateContent REST shapes: request JSON -> conversation and options, output -> response JSON, and
the Google API error body. Kept apart from the HTTP plumbing so both can be read (and tested) on their own."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from tools.backends.local.chat_format import Conversation, DataError, parse_record
from tools.backends.local.generation import Options, Output

MAX_OUTPUT_TOKENS = 4096
MAX_STOP_SEQUENCES = 5
# HTTP status -> google.rpc code name, as Google's APIs put it in error.status.
STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 411: "INVALID_ARGUMENT",
          413: "INVALID_ARGUMENT", 500: "INTERNAL", 503: "UNAVAILABLE"}


class ApiError(Exception):
    """An error answered in Google's shape: {"error": {"code", "message", "status"}}."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": STATUS.get(self.code, "UNKNOWN")}}


def _number(config: dict[str, Any], key: str, low: float, high: float, integer: bool = False) -> Any:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):  # JSON's Infinity/NaN, which json.loads accepts
        raise ApiError(400, f"generationConfig.{key} must be a finite number, got {json.dumps(value)}.")
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and int(value) != value):
        kind = "an integer" if integer else "a number"
        raise ApiError(400, f"generationConfig.{key} must be {kind}, got {json.dumps(value)}.")
    if not low <= value <= high:
        raise ApiError(400, f"generationConfig.{key} must be between {low:g} and {high:g}, got {value}.")
    return int(value) if integer else float(value)


def parse_options(config: Any) -> Options:
    """generationConfig -> Options; 400 on values the API would refuse or the local model cannot honour."""
    if config is None:
        return Options()
    if not isinstance(config, dict):
        raise ApiError(400, "generationConfig must be an object.")
    count = config.get("candidateCount", 1)
    if count not in (None, 1):
        raise ApiError(400, "candidateCount must be 1: the local endpoint returns one candidate.")
    if config.get("responseSchema") is not None or config.get("responseJsonSchema") is not None:
        raise ApiError(400, "responseSchema is not supported by the local endpoint; the tuning teaches the format.")
    stops = config.get("stopSequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise ApiError(400, "generationConfig.stopSequences must be a list of non-empty strings.")
    if len(stops) > MAX_STOP_SEQUENCES:
        raise ApiError(400, f"generationConfig.stopSequences takes at most {MAX_STOP_SEQUENCES} sequences.")
    return Options(
        temperature=_number(config, "temperature", 0.0, 2.0),
        top_p=_number(config, "topP", 0.0, 1.0),
        top_k=_number(config, "topK", 1, 1_000_000, integer=True),
        max_output_tokens=_number(config, "maxOutputTokens", 1, MAX_OUTPUT_TOKENS, integer=True),
        stop_sequences=stops,
        seed=_number(config, "seed", -(2**31), 2**31 - 1, integer=True),
    )


def _system(value: Any) -> Any:
    if isinstance(value, str):
        return {"parts": [{"text": value}]}
    if isinstance(value, dict) and "parts" in value:
        return value
    raise ApiError(400, "systemInstruction must be a Content object with parts, e.g. {\"parts\": [{\"text\": ...}]}.")


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. The request body must be a JSON object.")
    return body


def parse_conversation(body: dict[str, Any]) -> Conversation:
    """contents + systemInstruction -> Conversation; 400 with the failing field otherwise."""
    if body.get("tools") or body.get("toolConfig"):
        raise ApiError(400, "Function calling (tools) is not supported by the local endpoint.")
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise ApiError(400, "contents is not specified: send at least one Content with text parts.")
    record: dict[str, Any] = {"contents": contents}
    system = body.get("systemInstruction", body.get("system_instruction"))
    if system is not None:
        record["systemInstruction"] = _system(system)
    try:
        conversation = parse_record(record, "request")
    except DataError as exc:
        raise ApiError(400, str(exc)) from None
    return conversation


def parse_request(raw: bytes) -> tuple[Conversation, Options]:
    body = parse_body(raw)
    return parse_conversation(body), parse_options(body.get("generationConfig", body.get("generation_config")))


def response(output: Output, model_version: str) -> dict[str, Any]:
    """The GenerateContentResponse JSON for one local generation."""
    return {
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": output.text}]},
            "finishReason": output.finish_reason,
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": output.prompt_tokens,
            "candidatesTokenCount": output.output_tokens,
            "totalTokenCount": output.prompt_tokens + output.output_tokens,
        },
        "modelVersion": model_version,
        "responseId": uuid.uuid4().hex[:24],
    }
