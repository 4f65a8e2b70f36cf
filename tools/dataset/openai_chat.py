"""The OpenAI chat format (`{"messages": [{"role", "content"}]}`, also Gemini 1.0's legacy `messages` format) turned
into a Gemini tuning example: system messages become systemInstruction, assistant turns model turns, tool calls
functionCall parts and tool results functionResponse parts."""

from __future__ import annotations

from typing import Any

import orjson

USER_ROLES = ("user", "human")
MODEL_ROLES = ("assistant", "model")
SYSTEM_ROLES = ("system", "developer")
TOOL_ROLES = ("tool", "function")


def from_messages(obj: dict[str, Any], changes: list[str]) -> dict[str, Any] | str:
    """Convert one chat-format example; a string says why it cannot be converted."""
    messages = obj.get("messages")
    if type(messages) is not list or not messages:
        return "invalid_contents: 'messages' is not a non-empty list"
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for k, message in enumerate(messages):
        if type(message) is not dict:
            return f"invalid_turn: messages[{k}] is not an object"
        role = str(message.get("role", "")).strip().lower()
        content = message.get("content")
        if role in SYSTEM_ROLES:
            parts = _parts(content, k)
            if isinstance(parts, str):
                return parts
            system += [p["text"] for p in parts if "text" in p]
        elif role in USER_ROLES:
            parts = _parts(content, k)
            if isinstance(parts, str):
                return parts
            contents.append({"role": "user", "parts": parts})
        elif role in MODEL_ROLES:
            parts = _parts(content, k) if content not in (None, "") else []
            if isinstance(parts, str):
                return parts
            calls = _calls(message, k, call_names)
            if isinstance(calls, str):
                return calls
            contents.append({"role": "model", "parts": parts + calls})
        elif role in TOOL_ROLES:
            name = message.get("name") or call_names.get(str(message.get("tool_call_id")))
            if not isinstance(name, str) or not name:
                return f"invalid_function_response: messages[{k}] is a tool result with no function name"
            contents.append({"role": "user", "parts": [{"functionResponse": {"name": name,
                                                                             "response": _response(content)}}]})
        else:
            return f"invalid_role: messages[{k}].role {message.get('role')!r} has no Gemini equivalent"
    example: dict[str, Any] = {}
    if system:
        example["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    example["contents"] = contents
    changes.append(f"converted_openai_messages: {len(messages)} messages -> {len(contents)} turns")
    if "tools" in obj:
        declarations = _declarations(obj["tools"])
        if declarations:
            example["tools"] = [{"functionDeclarations": declarations}]
            changes.append(f"converted_tools: {len(declarations)} function declarations")
    for key in obj.keys() - {"messages", "tools"}:
        changes.append(f"dropped_unknown_key: {key}")
    return example


def _parts(content: Any, k: int) -> list[dict[str, Any]] | str:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if type(content) is not list:
        return f"invalid_parts: messages[{k}].content is neither text nor a list"
    parts = []
    for item in content:
        if isinstance(item, str):
            parts.append({"text": item})
        elif type(item) is dict and item.get("type") in ("text", "input_text", "output_text", None) and isinstance(
                item.get("text"), str):
            parts.append({"text": item["text"]})
        else:
            kind = item.get("type") if type(item) is dict else type(item).__name__
            return (f"invalid_part: messages[{k}] holds a {kind!r} part that cannot be converted (upload media to "
                    "Cloud Storage and reference it with a fileData part)")
    return parts


def _calls(message: dict[str, Any], k: int, call_names: dict[str, str]) -> list[dict[str, Any]] | str:
    calls = list(message.get("tool_calls") or [])
    if message.get("function_call"):  # the pre-2024 single-call spelling
        calls.append({"function": message["function_call"]})
    parts = []
    for call in calls:
        function = call.get("function") if type(call) is dict else None
        name = function.get("name") if type(function) is dict else None
        if not isinstance(name, str) or not name:
            return f"invalid_function_call: messages[{k}] has a tool call without a function name"
        arguments = function.get("arguments", {})  # type: ignore[union-attr]
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments) if arguments.strip() else {}
            except orjson.JSONDecodeError:
                return f"invalid_function_call: messages[{k}] call to {name} has arguments that are not JSON"
        if type(arguments) is not dict:
            return f"invalid_function_call: messages[{k}] call to {name} has arguments that are not an object"
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = name
        parts.append({"functionCall": {"name": name, "args": arguments}})
    return parts


def _response(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        try:
            parsed = orjson.loads(content)
        except orjson.JSONDecodeError:
            return {"content": content}
        return parsed if type(parsed) is dict else {"content": parsed}
    return content if type(content) is dict else {"content": content}


def _declarations(tools: Any) -> list[dict[str, Any]]:
    declarations = []
    for t in tools if type(tools) is list else []:
        function = t.get("function") if type(t) is dict else None
        if type(function) is dict and isinstance(function.get("name"), str):
            declaration = {k: function[k] for k in ("name", "description", "parameters") if k in function}
            if "parameters" in declaration:
                declaration["parameters"] = _gemini_schema(declaration["parameters"])
            declarations.append(declaration)
    return declarations


def _gemini_schema(node: Any) -> Any:
    """JSON Schema types in Gemini's spelling (OBJECT, STRING, ...), as its function declarations document them."""
    if type(node) is dict:
        return {k: (v.upper() if k == "type" and isinstance(v, str) else _gemini_schema(v)) for k, v in node.items()}
    if type(node) is list:
        return [_gemini_schema(v) for v in node]
    return node
