"""Model-facing text, kept as Markdown files beside this module and rendered strictly."""

from __future__ import annotations

import string
from importlib import resources


def load(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """Fill $placeholders; a placeholder with no value is an error, never silently left in the text."""
    try:
        return string.Template(load(name)).substitute(values)
    except KeyError as exc:
        raise KeyError(f"prompt {name!r} needs a value for ${exc.args[0]}") from None
