"""The local files tools read and write: where a tool may touch the file system (ctx.allowed_roots under `gto mcp`),
which files may leave the machine (only tuning datasets, never secrets), and readable-file checks with a hint."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.context import ToolContext

# Pseudo-file systems: reading them leaks the machine's state (environ, memory) and a read may never end.
SYSTEM_TREES = (Path("/proc"), Path("/dev"), Path("/sys"))
SNIFF_LINES = 5
SNIFF_BYTES = 4 << 20  # one example line may be long (inline data), but a dataset's first lines fit in this


def confined(path: str | Path, ctx: ToolContext | None, what: str) -> Path:
    """`path` with ~ expanded and symlinks resolved, or a ToolError when ctx confines tools and it lies outside."""
    resolved = Path(path).expanduser().resolve()
    roots = ctx.allowed_roots if ctx is not None else None
    if roots is None:
        return resolved
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return resolved
    allowed = ", ".join(str(r) for r in roots)
    raise ToolError(f"The {what} {path} is outside the folders this server may use ({allowed}).",
                    "Use a file inside the project folder (copy it there first), or run the step with the gto CLI.")


def local_file(path: str, what: str, ctx: ToolContext | None = None) -> Path:
    """A readable local file (inside ctx's allowed folders), or a ToolError that says what to do."""
    if path.startswith("gs://"):
        raise ToolError(f"The {what} {path} is in Cloud Storage; validation reads local files.",
                        "Validate the local copy before uploading it (or download it first).")
    p = confined(path, ctx, what)
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


def shareable_dataset(path: str, ctx: ToolContext | None, workspace: Path | None = None) -> Path:
    """A file that may leave this machine: a regular file, not under /proc, /dev, /sys or a hidden folder of the
    home (~/.ssh, ~/.config, ...), whose first lines are tuning examples. The resolved path, or a ToolError."""
    p = local_file(path, "dataset", ctx)  # resolves symlinks first: a link named train.jsonl to ~/.ssh/id_rsa fails
    if any(p.is_relative_to(tree) for tree in SYSTEM_TREES) or _in_hidden_home_folder(p, workspace):
        raise ToolError(f"{path} is in a system or private folder ({p.parent}); it is not uploaded.",
                        "Upload only the dataset file you prepared (JSONL), from your project folder.")
    if not stat.S_ISREG(os.stat(p).st_mode):
        raise ToolError(f"{path} is not a regular file; it is not uploaded.", "Pass the path of a .jsonl dataset.")
    problem = _not_a_dataset(p)
    if problem:
        raise ToolError(f"{path} is not a tuning dataset ({problem}); it is not uploaded.",
                        "Upload a JSONL file of Gemini examples ({\"contents\": [...]}) or OpenAI chat examples "
                        "({\"messages\": [...]}); validate_dataset or fix_dataset prepare one.")
    return p


def _in_hidden_home_folder(p: Path, workspace: Path | None) -> bool:
    # The workspace may itself be hidden (~/.gto when gto runs in the home); what it holds was put there by gto.
    if workspace is not None and p.is_relative_to(workspace.resolve()):
        return False
    home = Path.home().resolve()
    if not p.is_relative_to(home):
        return False
    return any(part.startswith(".") for part in p.relative_to(home).parts[:-1])


def _not_a_dataset(p: Path) -> str | None:
    """Why the file's first non-blank lines are not tuning examples, or None when they are."""
    seen = 0
    with p.open("rb") as handle:
        while seen < SNIFF_LINES:
            raw = handle.readline(SNIFF_BYTES)
            if not raw:
                break
            if not raw.strip():
                continue
            seen += 1
            if not raw.endswith(b"\n") and len(raw) >= SNIFF_BYTES:
                # an example with inline data: judge it by how it starts, and read past the rest of it
                if not (raw.lstrip().startswith(b"{") and (b'"contents"' in raw or b'"messages"' in raw)):
                    return f"non-blank line {seen} is over {SNIFF_BYTES >> 20} MB and not an example"
                while (rest := handle.readline(SNIFF_BYTES)) and not rest.endswith(b"\n"):
                    pass
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return f"non-blank line {seen} is not JSON"
            if not isinstance(obj, dict) or not any(isinstance(obj.get(k), list) for k in ("contents", "messages")):
                return f"non-blank line {seen} has neither a contents nor a messages list"
    return None if seen else "it holds no examples"
