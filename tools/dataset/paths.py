"""The local dataset files tools read: a readable file, or a ToolError that says what to do."""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolError


def local_file(path: str, what: str) -> Path:
    """A readable local file, or a ToolError that says what to do."""
    if path.startswith("gs://"):
        raise ToolError(f"The {what} {path} is in Cloud Storage; validation reads local files.",
                        "Validate the local copy before uploading it (or download it first).")
    p = Path(path).expanduser()
    if not p.exists():
        raise ToolError(f"No {what} at {path}.", "Check the path (relative paths start at the current folder).")
    if not p.is_file():
        raise ToolError(f"The {what} {path} is not a file.", "Pass the path of a .jsonl file.")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise ToolError(f"Cannot read the {what} {path}: {exc.strerror}.", "Check its permissions.") from exc
    return p
