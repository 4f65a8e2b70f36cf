"""The local backend: real LoRA tuning of Gemma 3 270M on this machine, served like a Vertex endpoint.

Importing this package loads no torch; the trainer process, generation and the weights converter do, when used."""

from __future__ import annotations

from tools.backends.local.backend import LocalBackend

__all__ = ["LocalBackend", "serve"]


def serve(target: str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """`gto serve MODEL[@CHECKPOINT]`: answer generateContent for `target` until Ctrl-C (workspace: $GTO_HOME)."""
    from tools.backends.local.server import serve_forever
    from tools.context import ToolContext

    backend = LocalBackend(ToolContext.default())
    serve_forever(backend.resolve(target), backend.resolve, host, port)
