"""The local backend: real LoRA tuning of Gemma 3 270M on this machine, served like a Vertex endpoint.

Importing this package loads no torch; the trainer process, generation and the weights converter do, when used."""

from __future__ import annotations

from tools.backends.local.backend import LocalBackend

__all__ = ["LocalBackend", "serve"]


def serve(target: str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """`gto serve MODEL[@CHECKPOINT]`: answer generateContent for `target` until Ctrl-C (workspace: $GTO_HOME).

    Every failure the caller can fix is a ToolError (message + hint): an unknown target, a missing weights package,
    a port in use. The server answers only for the target's base model and the workspace's jobs tuned from it."""
    from tools.backends.local.server import serve_forever
    from tools.workspace import Workspace

    backend = LocalBackend(Workspace.default())
    default = backend.resolve(target)
    serve_forever(default, backend.served_resolver(default), host, port)
