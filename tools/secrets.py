"""Keep secrets out of everything we write: transcripts, logs, reports and error messages."""

from __future__ import annotations

import os
import re
from typing import Any

SECRET_ENV_VARS = (
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)

# Shapes of credentials that may turn up in text even when they never passed through our environment.
_PATTERNS = [
    # A key block cut before its END line (a truncated log, a pasted half) is masked to the end of the text.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"1//0[0-9A-Za-z_\-]{10,}"),  # Google OAuth refresh token
    re.compile(r"GOCSPX-[0-9A-Za-z_\-]{8,}"),  # Google OAuth client secret
    re.compile(r"(?<=://)[^/\s:@]+:[^@\s/]+(?=@)"),  # https://user:password@host
    re.compile(r"(?i)([?&](?:token|access_token|id_token|key|sig|signature|x-goog-signature|x-goog-credential)=)"
               r"[^&\s#\"'<>]+"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"ya29\.[0-9A-Za-z_\-\.]{10,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]{8,}"),
    re.compile(r'("private_key"\s*:\s*")[^"]+'),
    re.compile(r"(?i)((?:api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret)[\"']?\s*[:=]\s*[\"']?)"
               r"[A-Za-z0-9_\-\.]{8,}"),
]
MASK = "[REDACTED]"


def redact(text: str) -> str:
    """Mask secret values from the environment and anything shaped like a credential."""
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
    return text


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like structure."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_obj(v) for v in value]
    return value
