"""The typed tool registry: one place that the agent loop, the CLI and the MCP server all call tools through.

A tool is a function whose first parameter is a pydantic input model and whose return annotation is a pydantic
output model. `@tool` registers it; its JSON schema is generated once and served in the Anthropic, Gemini and MCP
shapes. `dispatch()` validates arguments, asks for consent when the call costs money, runs the tool and turns
every mistake a model can make into an `is_error` result that says how to fix it.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import sqlite3
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tools.context import ToolContext
from tools import failures
from tools.errors import FrontEndInterrupt, ToolError
from tools.render import render_for_model
from tools.secrets import redact, redact_obj

# The folders whose modules hold tools (the workflow's parts). Every module in them is imported once, on first use of
# the registry, so `gto --help` imports none; one that fails to import fails loudly, never silently shortens the list.
TOOL_PACKAGES = ("tools.setup", "tools.dataset", "tools.training", "tools.monitoring", "tools.evaluation",
                 "tools.reporting")
# More tool files or folders, for tools kept outside this package (paths separated by the OS path separator).
EXTRA_TOOLS_ENV = "GTO_TOOLS"


ConsentCheck = Callable[[Any, "ToolContext"], str | None]


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., BaseModel]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    takes_context: bool
    consent: ConsentCheck | None = None

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return inline_refs(self.input_model.model_json_schema())

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        return inline_refs(self.output_model.model_json_schema(mode="serialization"))

    def anthropic_schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def gemini_declaration(self) -> dict[str, Any]:
        # google-genai's FunctionDeclaration takes plain JSON schema through parameters_json_schema.
        return {"name": self.name, "description": self.description, "parameters_json_schema": self.input_schema}

    def mcp_schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
        }


class ToolResult(BaseModel):
    """What a tool call produced: compact text for a model, structured data for code."""

    tool: str
    is_error: bool = False
    content: str
    data: dict[str, Any] | None = None
    output: Any = None

    model_config = ConfigDict(arbitrary_types_allowed=True)


@dataclass
class Registry:
    tools: dict[str, Tool] = field(default_factory=dict)
    _loaded: bool = False

    def register(self, t: Tool) -> None:
        if t.name in self.tools and self.tools[t.name].fn is not t.fn:
            raise ValueError(f"tool {t.name!r} registered twice")
        self.tools[t.name] = t

    def load(self) -> Registry:
        """Import every tool module once (each is light: backends and SDKs load on first use)."""
        if not self._loaded:
            for package in TOOL_PACKAGES:
                discover(package)
            for extra in filter(None, os.environ.get(EXTRA_TOOLS_ENV, "").split(os.pathsep)):
                load_file_or_folder(Path(extra))
            self._loaded = True
        return self

    def get(self, name: str) -> Tool | None:
        return self.load().tools.get(name)

    def all(self) -> list[Tool]:
        return list(self.load().tools.values())

    def schema_hash(self) -> str:
        blob = json.dumps([t.anthropic_schema() for t in self.all()], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


REGISTRY = Registry()


def tool(
    fn: Callable[..., BaseModel] | None = None,
    *,
    name: str | None = None,
    consent: ConsentCheck | None = None,
) -> Any:
    """Register a typed function as a tool. `consent` returns the question to ask before a billable call, or None."""

    def decorate(f: Callable[..., BaseModel]) -> Callable[..., BaseModel]:
        hints = typing.get_type_hints(f)
        params = list(inspect.signature(f).parameters.values())
        if not params or not _is_model(hints.get(params[0].name)):
            raise TypeError(f"{f.__name__}: the first parameter must be annotated with a pydantic model")
        if not _is_model(hints.get("return")):
            raise TypeError(f"{f.__name__}: the return annotation must be a pydantic model")
        doc = inspect.getdoc(f) or ""
        description = doc.split("\n\n")[0].replace("\n", " ").strip()
        if not description:
            raise TypeError(f"{f.__name__}: a tool needs a docstring; its first paragraph is the description")
        REGISTRY.register(
            Tool(
                name=name or f.__name__,
                description=description,
                fn=f,
                input_model=hints[params[0].name],
                output_model=hints["return"],
                takes_context=len(params) > 1,
                consent=consent,
            )
        )
        return f

    return decorate(fn) if fn is not None else decorate


def dispatch(name: str, arguments: dict[str, Any] | None, ctx: ToolContext | None = None) -> ToolResult:
    """Run one tool call from any front end. Errors a caller can fix come back as is_error results."""
    ctx = ctx or ToolContext.default()
    t = REGISTRY.get(name)
    if t is None:
        known = ", ".join(sorted(REGISTRY.tools))
        return _error(name, f"Unknown tool {name!r}. Call one of: {known}.")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return _error(name, f"Arguments for {name} must be a JSON object, got {type(arguments).__name__}.")
    try:
        args = t.input_model.model_validate(arguments)
    except ValidationError as exc:
        return _error(name, describe_validation_error(name, exc, t))
    try:  # the consent check may call the backend too: its failures are answered like the tool's own
        if t.consent is not None:
            question = t.consent(args, ctx)
            if question and not ctx.approve(name, question):
                return _error(
                    name,
                    f"The user declined: {question} Nothing was done. Ask the user how to proceed "
                    "(for example a cheaper configuration) before calling it again.",
                    declined=True,
                )
        output = t.fn(args, ctx) if t.takes_context else t.fn(args)
    except ToolError as exc:
        return _error(name, f"{name} failed: {exc}")
    except FrontEndInterrupt:
        raise
    except Exception as exc:  # a failure of the world (OSError) or a bug of ours: the caller gets a result either way
        if failures.RAISE_INTERNAL_ERRORS and not isinstance(exc, OSError):
            raise
        return _error(name, failures.explain(name, exc, ctx.workspace))
    data = redact_obj(output.model_dump(mode="json"))
    # The tool has done its work (a job may exist, money may be spent): from here nothing may turn that into an
    # exception or an error result, or the caller would think it failed and do it again.
    note = ""
    try:
        # Every result is kept in the workspace: the report and `gto jobs` read what happened from there.
        ctx.workspace.log_event(_job_id(arguments, data), f"tool:{name}", "ok", data)
    except (OSError, sqlite3.Error) as exc:
        note = (f"\n(Done, but not recorded in the workspace {ctx.workspace.root}: {exc}. The report and `gto jobs` "
                "may miss this result; free disk space or check the folder's permissions.)")
    try:
        content = render_for_model(name, output, ctx)
    except OSError:  # the full result could not be saved beside the shortened text: send the text alone
        content = render_for_model(name, output, None)
    return ToolResult(tool=name, content=redact(content + note), data=data, output=output)


class ToolImportError(ImportError):
    """A tool module that cannot be imported: a bug to fix, never a tool quietly missing from the list."""


def discover(package: str) -> list[str]:
    """Import every module of a tools package (and its sub-packages); return their names."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            raise ToolImportError(f"tool module {info.name} failed to import: {type(exc).__name__}: {exc}") from exc
        found.append(info.name)
    return found


def load_file_or_folder(path: Path) -> None:
    """Import a tool file (or every .py file in a folder) named by GTO_TOOLS."""
    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    for file in files:
        name = f"gto_extra_tools.{file.stem}"
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None or not file.exists():
            raise ToolImportError(f"{EXTRA_TOOLS_ENV} names {file}, which is not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ToolImportError(f"tool file {file} failed to import: {type(exc).__name__}: {exc}") from exc


def describe_validation_error(name: str, exc: ValidationError, t: Tool) -> str:
    lines = [f"Invalid arguments for {name}:"]
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(t.input_model.model_fields)
            lines.append(f"- field '{where}' is not accepted; the accepted fields are: {allowed}.")
            continue
        got = f" (got {redact(repr(err['input'])):.80})" if err["type"] != "missing" else ""  # redact, then cut
        lines.append(f"- field '{where}': {err['msg']}{got}.")
    lines.append(f"Fix these fields and call {name} again.")
    return "\n".join(lines)


def _error(name: str, message: str, declined: bool = False) -> ToolResult:
    message = redact(message)
    return ToolResult(tool=name, is_error=True, content=message, data={"error": message, "declined": declined})


def _job_id(arguments: dict[str, Any], data: dict[str, Any]) -> str | None:
    job = data.get("job")
    if isinstance(job, dict) and isinstance(job.get("job_id"), str):
        return job["job_id"]
    for source in (data, arguments):
        if isinstance(source.get("job_id"), str):
            return source["job_id"]
    return None


def _is_model(tp: Any) -> bool:
    return inspect.isclass(tp) and issubclass(tp, BaseModel)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace $ref with the definitions they point to: some function-calling APIs reject $defs."""
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                key = node["$ref"].rsplit("/", 1)[-1]
                if key in seen:  # recursive model: leave an open object rather than loop forever
                    return {"type": "object"}
                target = walk(copy.deepcopy(defs[key]), (*seen, key))
                extra = {k: walk(v, seen) for k, v in node.items() if k != "$ref"}
                return {**target, **extra}
            return {k: walk(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    return walk(schema, ())
