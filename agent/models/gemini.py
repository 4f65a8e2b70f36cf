"""Gemini through google-genai function calling (Gemini API key, or Vertex AI with a project)."""

from __future__ import annotations

import base64
import importlib
import json
import os
import secrets
from collections.abc import Callable
from typing import Any

from agent.models import Message, ModelError, ModelUnavailable, Turn, Usage
from agent.models.pricing import call_cost
from tools.catalog import catalog, default_brain_model
from tools.registry import Tool


class GeminiModel:
    def __init__(self, model_id: str | None = None, client: Any = None, **_: Any):
        from google import genai
        from google.genai import types

        self.types = types
        self.model_id = model_id or os.environ.get("GTO_GEMINI_MODEL") or default_brain_model()
        self.name = f"gemini:{self.model_id}"
        if client is None:
            # A turn that hangs must end (5 minutes, in milliseconds): the loop then reports it instead of waiting.
            retry = types.HttpOptions(timeout=300_000, retry_options=types.HttpRetryOptions(attempts=5))
            key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
            project = os.environ.get("GOOGLE_CLOUD_PROJECT")
            if key:
                client = genai.Client(api_key=key, http_options=retry)
            elif project:
                client = genai.Client(enterprise=True, project=project, location=self._location(),
                                      http_options=retry)
            else:
                raise ModelUnavailable("Gemini needs GEMINI_API_KEY, or GOOGLE_CLOUD_PROJECT with application-default "
                                       "credentials (or use --model planner).")
        self.client = client

    def _location(self) -> str:
        """GOOGLE_CLOUD_LOCATION where the model answers there; Gemini 3.x answers only from global, us or eu."""
        asked = os.environ.get("GOOGLE_CLOUD_LOCATION") or "global"
        model = catalog().find(self.model_id)
        return model.serving_location(asked) if model else asked

    def _thinking(self) -> Any:
        """Quick agent turns: the catalog's brain thinking level where the model has it, else its lowest one."""
        model = catalog().find(self.model_id)
        if model is None or model.thinking != "level":
            return None
        wanted = catalog().defaults.brain_model_thinking_level
        level = wanted if wanted in model.thinking_levels else model.thinking_min_level
        return self.types.ThinkingConfig(thinking_level=level) if level else None

    def complete(self, system: str, messages: list[Message], tools: list[Tool],
                 on_text: Callable[[str], None] | None = None) -> Turn:
        t = self.types
        config = t.GenerateContentConfig(
            system_instruction=system,
            tools=[t.Tool(function_declarations=[t.FunctionDeclaration(**x.gemini_declaration()) for x in tools])],
            automatic_function_calling=t.AutomaticFunctionCallingConfig(disable=True),
            thinking_config=self._thinking(),
        )
        from google.genai import errors

        try:
            response = self.client.models.generate_content(model=self.model_id, contents=to_contents(messages, t),
                                                           config=config)
        except errors.APIError as exc:
            raise ModelError(explain(exc, self.model_id)) from exc
        except _transport_errors() as exc:
            raise ModelError(f"Could not reach Gemini ({type(exc).__name__}: {exc}). Check the network connection, "
                             "proxy and Google credentials, or use --model planner to work offline.") from exc
        content = from_response(response)
        text = "".join(b["text"] for b in content if b["type"] == "text")
        if on_text and text:
            on_text(text)
        meta = response.usage_metadata
        prompt = (meta.prompt_token_count or 0) if meta else 0
        output = ((meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)) if meta else 0
        usage = Usage(input_tokens=prompt, output_tokens=output, cost_usd=call_cost(self.model_id, prompt, output))
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        return Turn(message={"role": "assistant", "content": content}, usage=usage, stop_reason=stop)


def explain(exc: Any, model_id: str) -> str:
    """What a Gemini API failure (google.genai.errors.APIError) means for the user, and what to do about it."""
    code, detail = getattr(exc, "code", None), getattr(exc, "message", None) or str(exc)
    if code in (401, 403):
        return (f"Gemini refused the credentials ({code}: {detail}). Check GEMINI_API_KEY, or the project and "
                "application-default credentials (gcloud auth application-default login), or use --model planner.")
    if code == 404:
        return (f"Gemini has no model {model_id!r} ({detail}). Name another with --model gemini:MODEL or "
                "GTO_GEMINI_MODEL.")
    if code == 429:
        return f"Gemini is rate-limiting these credentials and retries did not help ({detail}). Wait and try again."
    if code == 400:
        return (f"Gemini rejected the request (400: {detail}). If the conversation is the cause, start a new run "
                "instead of resuming this one.")
    return f"The Gemini API failed ({code}: {detail}) after retries. Try again in a few minutes."


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network and credential failures below google-genai: it may use httpx or httpx2, and google-auth."""
    found: list[type[BaseException]] = []
    for module, name in (("httpx", "TransportError"), ("httpx2", "TransportError"),
                         ("google.auth.exceptions", "GoogleAuthError")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def to_contents(messages: list[Message], t: Any) -> list[Any]:
    """Anthropic-shaped messages to Gemini Contents (tool_use -> functionCall, tool_result -> functionResponse)."""
    names: dict[str, str] = {}
    contents = []
    for m in messages:
        role = "model" if m["role"] == "assistant" else "user"
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        parts = []
        for b in blocks:
            if b["type"] == "text" and b["text"]:
                parts.append(t.Part(text=b["text"]))
            elif b["type"] == "tool_use":
                names[b["id"]] = b["name"]
                signature = b.get("gemini_thought_signature")
                parts.append(t.Part(function_call=t.FunctionCall(id=b["id"], name=b["name"], args=b.get("input") or {}),
                                    thought_signature=base64.b64decode(signature) if signature else None))
            elif b["type"] == "tool_result":
                payload = _result_payload(b)
                parts.append(t.Part(function_response=t.FunctionResponse(
                    id=b["tool_use_id"], name=names.get(b["tool_use_id"], "unknown"), response=payload)))
        if parts:
            contents.append(t.Content(role=role, parts=parts))
    return contents


def new_call_id() -> str:
    """Random, so a resumed run (a new process) never reuses an id already in its transcript."""
    return f"toolu_gemini_{secrets.token_hex(12)}"


def from_response(response: Any) -> list[dict[str, Any]]:
    candidate = (response.candidates or [None])[0]
    blocks: list[dict[str, Any]] = []
    for part in (candidate.content.parts or []) if candidate and candidate.content else []:
        if part.text and not part.thought:
            blocks.append({"type": "text", "text": part.text})
        elif part.function_call:
            block = {"type": "tool_use", "id": part.function_call.id or new_call_id(),
                     "name": part.function_call.name, "input": dict(part.function_call.args or {})}
            if part.thought_signature:
                # Gemini 3 requires the signature back with the call; it rides along in the transcript.
                block["gemini_thought_signature"] = base64.b64encode(part.thought_signature).decode()
            blocks.append(block)
    if not blocks:
        reason = getattr(candidate, "finish_reason", None) if candidate else "no candidates"
        blocks.append({"type": "text", "text": f"(Gemini returned no content: {reason})"})
    return blocks


def _result_payload(block: dict[str, Any]) -> dict[str, Any]:
    text = block["content"] if isinstance(block["content"], str) else json.dumps(block["content"])
    if block.get("is_error"):
        return {"error": text}
    try:
        value = json.loads(text)
    except ValueError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}
