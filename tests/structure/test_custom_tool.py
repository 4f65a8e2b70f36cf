"""A tool added in one file (examples/custom_tool.py) shows up in every front end with no other edit: `gto tools`,
`gto call`, the MCP server and the schemas each brain is sent. The front ends run as subprocesses with GTO_TOOLS
set, as a user would run them, so the extra tool never enters this process's registry. And a tool module that
cannot be imported stops the show instead of quietly leaving a tool out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tools.registry import EXTRA_TOOLS_ENV, Registry, ToolImportError, discover, load_file_or_folder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_tool.py"
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "2+2?"}]}, {"role": "model", "parts": [{"text": "4"}]}]}
OPENAI = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello"}]}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join([json.dumps(GEMINI), "", json.dumps(OPENAI), "{not json", json.dumps(GEMINI)]) + "\n")
    return path


def env_with_tool(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, EXTRA_TOOLS_ENV: str(EXAMPLE), "GTO_HOME": str(tmp_path / "gto-home")}


def gto(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def check_counts(data: dict[str, object], dataset: Path) -> None:
    assert data == {"path": str(dataset), "examples": 3, "turns": 7, "max_turns": 3, "skipped_lines": [4],
                    "turns_by_role": {"user": 3, "model": 2, "system": 1, "assistant": 1}}


def test_gto_tools_lists_it_beside_the_built_in_tools(tmp_path: Path) -> None:
    done = gto("tools", "--json", env=env_with_tool(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    schemas = {s["name"]: s for s in json.loads(done.stdout)}
    assert "validate_dataset" in schemas
    schema = schemas["count_examples"]
    assert schema["description"] == ("Count the examples and conversation turns in a JSONL dataset, by role, "
                                     "without validating it.")
    assert schema["input_schema"]["required"] == ["path"]
    assert schema["input_schema"]["additionalProperties"] is False


def test_gto_call_runs_it(tmp_path: Path, dataset: Path) -> None:
    done = gto("call", "count_examples", json.dumps({"path": str(dataset)}), env=env_with_tool(tmp_path),
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    check_counts(json.loads(done.stdout), dataset)
    # A mistake the caller can fix comes back as the registry words it for every tool.
    missing = gto("call", "count_examples", '{"path": "nowhere.jsonl"}', env=env_with_tool(tmp_path), cwd=tmp_path)
    assert missing.returncode == 1 and "No file at nowhere.jsonl" in missing.stdout


def test_every_brain_is_sent_its_schema(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import json
        from google.genai import types
        from tools.registry import REGISTRY
        t = REGISTRY.get("count_examples")
        types.FunctionDeclaration(**t.gemini_declaration())  # what agent/models/gemini.py builds from it
        print(json.dumps({"anthropic": t.anthropic_schema(), "gemini": t.gemini_declaration(), "mcp": t.mcp_schema()}))
    """)
    done = subprocess.run([sys.executable, "-c", script], env=env_with_tool(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shapes = json.loads(done.stdout)
    assert shapes["anthropic"]["input_schema"] == shapes["gemini"]["parameters_json_schema"]
    assert shapes["anthropic"]["input_schema"] == shapes["mcp"]["inputSchema"]
    assert {"examples", "turns", "turns_by_role"} <= set(shapes["mcp"]["outputSchema"]["properties"])


@pytest.mark.anyio
async def test_the_mcp_server_serves_it(tmp_path: Path, dataset: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.cli", "mcp"], cwd=str(tmp_path),
                                   env=env_with_tool(tmp_path))
    log = tmp_path / "server.log"
    with log.open("w") as errlog:
        try:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                listed = {t.name: t for t in (await client.list_tools()).tools}
                result = await client.call_tool("count_examples", {"path": str(dataset)})
        except Exception as exc:
            pytest.fail(f"{exc!r}; server stderr:\n{log.read_text()[-3000:]}")
    assert "validate_dataset" in listed and listed["count_examples"].output_schema
    assert not result.is_error, result.content
    check_counts(result.structured_content, dataset)


@pytest.fixture
def tool_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package `extra_tools_<n>` in tmp_path; its modules leave sys.modules after the test."""
    name = f"extra_tools_{abs(hash(tmp_path)) % 10**8}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_a_file_in_a_tools_folder_registers_itself(tool_package: Path, scratch_registry: Registry) -> None:
    (tool_package / "counting.py").write_text(EXAMPLE.read_text())
    assert discover(tool_package.name) == [f"{tool_package.name}.counting"]
    assert "count_examples" in scratch_registry.tools


def test_a_tool_module_that_fails_to_import_stops_discovery(tool_package: Path, scratch_registry: Registry) -> None:
    (tool_package / "broken.py").write_text("import a_module_that_is_not_installed\n")
    with pytest.raises(ToolImportError, match=rf"{tool_package.name}\.broken failed to import: ModuleNotFoundError"):
        discover(tool_package.name)


def test_a_gto_tools_file_that_fails_to_import_is_an_error(tmp_path: Path, scratch_registry: Registry) -> None:
    broken = tmp_path / "broken_tool.py"
    broken.write_text("raise RuntimeError('a bug in the tool file')\n")
    with pytest.raises(ToolImportError, match="broken_tool.py failed to import: RuntimeError: a bug in the tool"):
        load_file_or_folder(broken)
    with pytest.raises(ToolImportError, match="not a Python file"):
        load_file_or_folder(tmp_path / "missing.py")
    # The front ends say so and exit non-zero rather than listing the tools without it.
    done = gto("tools", env={**env_with_tool(tmp_path), EXTRA_TOOLS_ENV: str(broken)}, cwd=tmp_path)
    assert done.returncode != 0 and "a bug in the tool file" in done.stderr
