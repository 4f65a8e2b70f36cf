"""Claude through the Anthropic Messages API with tool use: the default brain when ANTHROPIC_API_KEY is set."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from agent.models import Message, ModelError, ModelUnavailable, Turn, Usage
from agent.models.pricing import call_cost
from tools.registry import Tool

DEFAULT_MODEL = "claude-sonnet-4-6"
CACHE = {"type": "ephemeral"}


class ClaudeModel:
    def __init__(self, model_id: str | None = None, client: Any = None, max_tokens: int = 4096, **_: Any):
        self.model_id = model_id or os.environ.get("GTO_CLAUDE_MODEL") or DEFAULT_MODEL
        self.name = f"claude:{self.model_id}"
        self.max_tokens = max_tokens
        if client is None:
            if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
                raise ModelUnavailable("Claude needs ANTHROPIC_API_KEY in the environment (or use --model planner).")
            import anthropic

            # The SDK retries 408/409/429/5xx and overloaded errors with exponential backoff and Retry-After.
            client = anthropic.Anthropic(max_retries=6, timeout=300.0)  # a hung turn ends instead of blocking
        self.client = client

    def complete(self, system: str, messages: list[Message], tools: list[Tool],
                 on_text: Callable[[str], None] | None = None) -> Turn:
        definitions = [t.anthropic_schema() for t in tools]
        if definitions:
            # Tools and the system prompt never change within a run: cache them once, read them cheaply after.
            definitions[-1] = {**definitions[-1], "cache_control": CACHE}
        import anthropic

        try:
            with self.client.messages.stream(
                model=self.model_id,
                max_tokens=self.max_tokens,
                system=[{"type": "text", "text": system, "cache_control": CACHE}],
                tools=definitions,
                messages=[_wire(m) for m in messages],
            ) as stream:
                for text in stream.text_stream:
                    if on_text:
                        on_text(text)
                final = stream.get_final_message()
        except anthropic.APIError as exc:
            raise ModelError(explain(exc, self.model_id)) from exc
        content = [_block(b) for b in final.content]
        u = final.usage
        write, read = u.cache_creation_input_tokens or 0, u.cache_read_input_tokens or 0
        usage = Usage(input_tokens=u.input_tokens + write + read, output_tokens=u.output_tokens,
                      cost_usd=call_cost(self.model_id, u.input_tokens, u.output_tokens, write, read))
        if final.stop_reason == "refusal":
            content.append({"type": "text", "text": "(Claude declined to continue this request.)"})
        return Turn(message={"role": "assistant", "content": content}, usage=usage,
                    stop_reason=final.stop_reason or "end_turn")


def explain(exc: Exception, model_id: str) -> str:
    """What an Anthropic API failure means for the user, and what to do about it."""
    import anthropic

    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    detail = (error.get("message") if isinstance(error, dict) else None) or getattr(exc, "message", None) or str(exc)
    if isinstance(exc, anthropic.APIConnectionError):
        return (f"Could not reach the Anthropic API ({detail}). Check the network connection or proxy "
                "(HTTPS_PROXY), or use --model planner to work offline.")
    status = getattr(exc, "status_code", None)
    if isinstance(exc, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
        return (f"Claude refused the credentials ({status}: {detail}). Check ANTHROPIC_API_KEY (or "
                "ANTHROPIC_AUTH_TOKEN), or use --model planner.")
    if isinstance(exc, anthropic.NotFoundError):
        return (f"Claude has no model {model_id!r} ({status}: {detail}). Name another with --model claude:MODEL "
                "or GTO_CLAUDE_MODEL.")
    if isinstance(exc, anthropic.RateLimitError):
        return f"Claude is rate-limiting this key and retries did not help ({detail}). Wait a minute and try again."
    if isinstance(exc, anthropic.BadRequestError):
        return (f"Claude rejected the request (400: {detail}). If the conversation is the cause, start a new run "
                "instead of resuming this one.")
    return f"The Anthropic API failed ({status or 'no status'}: {detail}) after retries. Try again in a few minutes."


def _wire(message: Message) -> Message:
    """Drop what other providers left on blocks (e.g. Gemini's thought signatures) before sending to Claude."""
    if isinstance(message["content"], str):
        return message
    return {**message, "content": [{k: v for k, v in b.items() if not k.startswith("gemini_")}
                                   for b in message["content"]]}


def _block(block: Any) -> dict[str, Any]:
    """Keep the blocks the API gave us, minus empty fields, so they can be sent back as they were."""
    data = block.model_dump(mode="json", exclude_none=True)
    if data.get("type") == "text":
        return {"type": "text", "text": data["text"]}
    if data.get("type") == "tool_use":
        return {"type": "tool_use", "id": data["id"], "name": data["name"], "input": data.get("input") or {}}
    return data
