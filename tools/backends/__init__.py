"""Tuning backends, chosen by name and imported lazily: only the chosen one loads its SDKs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.backends.base import TuningBackend
    from tools.settings import Settings
    from tools.workspace import Workspace

_IMPLEMENTATIONS = {
    "local": ("tools.backends.local", "LocalBackend"),
    "vertex": ("tools.backends.vertex", "VertexBackend"),
}


def load_backend(name: str, workspace: Workspace, settings: Settings) -> TuningBackend:
    module_name, class_name = _IMPLEMENTATIONS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = "local" if name == "local" else "vertex"
        raise ToolError(
            f"The {name} backend cannot load: {exc}.",
            f"Install it with: pip install 'gemini-tuning-orchestrator[{extra}]'"
            if name == "local" else "Reinstall gemini-tuning-orchestrator.",
        ) from exc
    return getattr(module, class_name)(workspace, settings)
