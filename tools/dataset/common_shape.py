"""The common shape of a Gemini tuning example, recognised fast: alternating user/model turns of non-empty text
parts, optionally a text-only systemInstruction. Nearly every line of a real dataset has it, so it pays to accept
it in as few steps as possible; anything else (or any doubt) returns None and gets the detailed rules.

With msgspec installed, typed decoding checks keys and types in C while it parses; without it, a pure-Python
check runs on orjson's dicts. Both accept exactly the same lines (tests/dataset compare them).
"""

from __future__ import annotations

from typing import Any, Literal

from tools.tokens import estimate_weight

try:
    import msgspec
except ImportError:  # optional: only speed depends on it
    msgspec = None  # type: ignore[assignment]

# (problems, texts, output_start, has_system, media_parts, weight, output_weight): see gemini_format.Checked.
Fast = tuple[None, list[str], int, bool, int, int, int]
_SHAPE_ERRORS = (KeyError, TypeError, AttributeError, IndexError)

if msgspec is not None:
    # gc=False: decoded JSON holds no reference cycles, so these need no cyclic-GC tracking (15% faster decoding).

    class _Part(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        text: str

    class _Turn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        role: Literal["user", "model"]
        parts: list[_Part]

    class _System(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        parts: list[_Part]
        role: str | None = None  # ignored by Vertex

    class _Example(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        contents: list[_Turn]
        # UNSET, not None: an explicit null is an error the detailed rules must report.
        systemInstruction: _System | msgspec.UnsetType = msgspec.UNSET  # noqa: N815 - the JSON key

    typed_decode: Any = msgspec.json.Decoder(_Example).decode
    TYPED_ERRORS: tuple[type[BaseException], ...] = (msgspec.DecodeError, ValueError)
else:
    typed_decode = None
    TYPED_ERRORS = ()


def typed_fast(raw: bytes) -> Fast | None:
    """Decode and check one raw line with msgspec; None when it is not the common shape (or not JSON)."""
    try:
        example = typed_decode(raw)
    except TYPED_ERRORS:
        return None
    texts: list[str] = []
    append = texts.append
    weight = 0
    system = example.systemInstruction
    has_system = system is not msgspec.UNSET
    if has_system:
        if not system.parts:
            return None
        for part in system.parts:
            text = part.text
            if not text or text.isspace():
                return None
            append(text)
            weight += len(text) if text.isascii() else estimate_weight(text)
    contents = example.contents
    if not contents:
        return None
    user = True
    output_start = output_weight = 0
    for turn in contents:
        if user:
            if turn.role != "user":
                return None
        elif turn.role != "model":
            return None
        else:
            output_start = len(texts)
            output_weight = weight
        parts = turn.parts
        if not parts:
            return None
        for part in parts:
            text = part.text
            if not text or text.isspace():
                return None
            append(text)
            weight += len(text) if text.isascii() else estimate_weight(text)
        user = not user
    if user:  # ended on a model turn
        return None, texts, output_start, has_system, 0, weight, weight - output_weight
    return None


def dict_fast(obj: Any) -> Fast | None:
    """The same check on an already parsed line; a wrong type anywhere raises and means: look closer."""
    try:
        contents = obj["contents"]
        keys = len(obj)
        texts: list[str] = []
        append = texts.append
        weight = 0
        if keys == 2:
            system = obj["systemInstruction"]
            if len(system) != 1 and (len(system) != 2 or "role" not in system):
                return None
            parts = system["parts"]
            if not parts or type(parts) is not list:
                return None
            for part in parts:
                if len(part) != 1:
                    return None
                text = part["text"]
                if type(text) is not str or not text or text.isspace():
                    return None
                append(text)
                weight += len(text) if text.isascii() else estimate_weight(text)
        elif keys != 1:
            return None
        if not contents or type(contents) is not list:
            return None
        user = True
        output_start = output_weight = 0
        for turn in contents:
            if len(turn) != 2:
                return None
            if user:
                if turn["role"] != "user":
                    return None
            elif turn["role"] != "model":
                return None
            else:
                output_start = len(texts)
                output_weight = weight
            parts = turn["parts"]
            if not parts or type(parts) is not list:
                return None
            for part in parts:
                if len(part) != 1:
                    return None
                text = part["text"]
                if type(text) is not str or not text or text.isspace():
                    return None
                append(text)
                weight += len(text) if text.isascii() else estimate_weight(text)
            user = not user
    except _SHAPE_ERRORS:
        return None
    if user:
        return None, texts, output_start, keys == 2, 0, weight, weight - output_weight
    return None
