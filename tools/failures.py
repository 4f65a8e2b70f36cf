"""What a caller reads when a tool raised something other than ToolError: a failure of the world (a path, a
permission, the network) with a hint, or an internal error of gto whose traceback goes to the workspace log, never
to the model or the terminal (a traceback shows paths, arguments and sometimes secrets, and helps nobody there)."""

from __future__ import annotations

import errno
import os
import socket
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from tools.secrets import redact

if TYPE_CHECKING:
    from tools.workspace import Workspace

LOG_NAME = "gto.log"
# Set by tests (tests/conftest.py): an internal error is re-raised there, so no bug hides behind an is_error result.
RAISE_INTERNAL_ERRORS = False

_WORLD_HINTS = {
    errno.ENOENT: "Check the path: it does not exist.",
    errno.EACCES: "Check the permissions of the file or folder (gto must be able to read or write it).",
    errno.EPERM: "Check the permissions of the file or folder (gto must be able to read or write it).",
    errno.ENOSPC: "Free some disk space and try again.",
    errno.EROFS: "The file system is read-only: choose a writable folder.",
    errno.EISDIR: "A folder was given where a file is needed: pass a file path.",
    errno.ENOTDIR: "A part of the path is a file, not a folder: check the path.",
}


def log_path(workspace: Workspace) -> Path:
    return workspace.dir("logs") / LOG_NAME


def record(workspace: Workspace, tool: str, exc: BaseException) -> Path:
    """Append the redacted traceback to the workspace log; returns the log's path."""
    path = log_path(workspace)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    entry = f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} pid {os.getpid()} tool {tool}\n{redact(text)}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as log:
        log.write(entry)
    return path


def explain(tool: str, exc: Exception, workspace: Workspace) -> str:
    """The is_error text for an exception that is not a ToolError (the traceback is logged either way)."""
    try:
        where = str(record(workspace, tool, exc))
    except OSError:  # the workspace itself may be what failed: still answer, without a log
        where = "the log (which could not be written)"
    if isinstance(exc, OSError):
        return f"{tool} failed: {world(exc)} (details in {where})"
    return (f"{tool} failed: internal error in gto ({type(exc).__name__}). This is a bug in gto, not in the "
            f"arguments; the traceback is in {where}. Try another way to reach the goal, or tell the user.")


def world(exc: OSError) -> str:
    """One line about a failure outside gto: what failed, on which path or host, and what to check."""
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return (f"a network error ({type(exc).__name__}: {exc.strerror or exc}). Check the connection and try "
                "again; the service may be briefly unavailable.")
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p)
    hint = _WORLD_HINTS.get(exc.errno or -1, "Check the path, its permissions and the free disk space.")
    return f"{reason}" + (f" ({paths})" if paths else "") + f". {hint}"
