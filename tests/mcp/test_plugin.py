"""The Claude Code plugin: its manifests against the documented fields, and the server it declares, launched over
stdio exactly as plugin/.mcp.json says, the way Claude Code launches it."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tools.registry import REGISTRY
from tools.secrets import redact
from tools.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugin"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_NAME = re.compile(r"(?i)(key|token|secret|password|credential)")
VALID = {"contents": [{"role": "user", "parts": [{"text": "2+2?"}]}, {"role": "model", "parts": [{"text": "4"}]}]}


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def frontmatter(path: Path) -> dict[str, Any]:
    text = path.read_text()
    assert text.startswith("---\n"), path
    meta, _, body = text[4:].partition("\n---\n")
    assert body.strip(), f"{path} has no body"
    return yaml.safe_load(meta)


def server_entry() -> tuple[str, dict[str, Any]]:
    servers = load_json(PLUGIN / ".mcp.json")["mcpServers"]
    assert len(servers) == 1
    return next(iter(servers.items()))


def tool_prefix() -> str:
    """The name Claude Code gives a plugin's MCP tools: mcp__plugin_<plugin>_<server>__<tool>."""
    return f"mcp__plugin_{load_json(PLUGIN / '.claude-plugin' / 'plugin.json')['name']}_{server_entry()[0]}__"


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's expansion in .mcp.json: ${VAR}, and ${VAR:-default} when VAR is unset or empty."""
    def sub(m: re.Match[str]) -> str:
        if m.group(2) is not None:
            return env.get(m.group(1)) or m.group(2)
        return env.get(m.group(1), m.group(0))

    return PLACEHOLDER.sub(sub, value)


def test_plugin_manifest() -> None:
    manifest = load_json(PLUGIN / ".claude-plugin" / "plugin.json")
    assert KEBAB.match(manifest["name"])
    assert re.match(r"^\d+\.\d+\.\d+$", manifest["version"])
    assert manifest["description"] and manifest["author"]["name"]
    for key in ("commands", "agents", "skills", "hooks", "mcpServers", "outputStyles", "lspServers"):
        paths = manifest.get(key, [])
        for path in [paths] if isinstance(paths, str) else paths:
            assert path.startswith("./") and ".." not in path, (key, path)
    # Only the manifest lives in .claude-plugin/; components sit at the plugin root.
    assert [p.name for p in (PLUGIN / ".claude-plugin").iterdir()] == ["plugin.json"]


def test_marketplace_at_repository_root() -> None:
    market = load_json(ROOT / ".claude-plugin" / "marketplace.json")
    assert KEBAB.match(market["name"]) and market["owner"]["name"]
    (entry,) = market["plugins"]
    assert entry["name"] == load_json(PLUGIN / ".claude-plugin" / "plugin.json")["name"]
    assert entry["source"] == "./plugin" and (ROOT / entry["source"] / ".claude-plugin" / "plugin.json").exists()


def test_mcp_manifest_runs_gto_and_holds_no_secrets() -> None:
    name, server = server_entry()
    assert KEBAB.match(name)
    assert (server["command"], server["args"]) == ("gto", ["mcp"])
    for var, value in server["env"].items():
        assert not SECRET_NAME.search(var), var
        # Every value comes from the user's environment (or a harmless default), never a literal setting.
        assert PLACEHOLDER.search(value), (var, value)
        assert redact(value) == value
    assert server["env"]["GTO_HOME"].startswith("${CLAUDE_PROJECT_DIR")
    assert expand(server["env"]["GTO_MCP_APPROVE"], {}) == "0"  # pre-approval is never on by default


def test_agent_definition_names_every_tool() -> None:
    meta = frontmatter(PLUGIN / "agents" / "gemini-tuning-orchestrator.md")
    assert meta["name"] == "gemini-tuning-orchestrator" and "PROACTIVELY" in meta["description"]
    assert meta["model"] in ("sonnet", "opus", "haiku", "inherit")
    tools = [t.strip() for t in meta["tools"].split(",")]
    assert {"Read", "Bash"} <= set(tools)
    prefix = tool_prefix()
    mcp_tools = {t.removeprefix(prefix) for t in tools if t.startswith("mcp__")}
    assert all(t.startswith(prefix) for t in tools if t.startswith("mcp__"))
    assert mcp_tools == {t.name for t in REGISTRY.all()}
    # Claude's API limits tool names to 64 characters.
    assert max(len(prefix + name) for name in mcp_tools) <= 64


@pytest.mark.parametrize("skill", ["validate", "tune", "monitor"])
def test_skill_frontmatter(skill: str) -> None:
    meta = frontmatter(PLUGIN / "skills" / skill / "SKILL.md")
    assert meta["name"] == skill and len(meta["name"]) <= 64
    assert 0 < len(meta["description"]) <= 1024
    allowed = [t.strip() for t in meta.get("allowed-tools", "").split(",") if t.strip()]
    known = {tool_prefix() + t.name for t in REGISTRY.all()} | {"Read", "Bash"}
    assert allowed and set(allowed) <= known
    # Billable tools are never pre-allowed: Claude Code's own permission prompt stays in front of them.
    assert not any(t.endswith(("__create_tuning_job", "__upload_to_gcs")) for t in allowed)


def gto_command() -> str:
    local = Path(sys.executable).parent / "gto"
    found = str(local) if local.exists() else shutil.which("gto")
    assert found, "gto is not installed (pip install -e .)"
    return found


def launch_env(project: Path, tmp_path: Path, manifest_env: dict[str, str]) -> dict[str, str]:
    """The environment Claude Code would give the server: the manifest's env expanded, over a clean base."""
    user = {"CLAUDE_PROJECT_DIR": str(project)}
    env = {k: expand(v, user) for k, v in manifest_env.items()}
    # The SDK adds only HOME, PATH and the like from this process; keep gcloud and model hubs out of reach too.
    env.update(CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


@pytest.mark.anyio
async def test_stdio_round_trip_of_the_declared_command(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.jsonl").write_text(json.dumps(VALID) + "\n")
    _, server = server_entry()
    command = server["command"] if os.path.isabs(server["command"]) else gto_command()
    params = StdioServerParameters(command=command, args=server["args"], cwd=str(project),
                                   env=launch_env(project, tmp_path, server["env"]))
    stray: list[Exception] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):  # a line on stdout that was not a protocol frame
            stray.append(message)

    log = tmp_path / "server.log"
    with log.open("w") as errlog:
        try:
            # mode="legacy": the initialize handshake Claude Code uses.
            async with Client(stdio_client(params, errlog=errlog), mode="legacy",
                              message_handler=on_message) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                result = await client.call_tool("validate_dataset", {"path": "train.jsonl"})
        except Exception as exc:
            pytest.fail(f"{exc!r}; server stderr:\n{log.read_text()[-3000:]}")
    assert "validate_dataset" in names and "create_tuning_job" in names
    assert not result.is_error, result.content[0].text
    assert result.structured_content["ok"] is True and not stray
    # Same workspace as `gto` run from the project folder: the CLI sees what the MCP call did.
    assert Workspace(project / ".gto").events(kind="tool:validate_dataset")


NOISY_SERVER = textwrap.dedent('''
    from pydantic import BaseModel
    from tools.errors import ToolInput
    from tools.registry import REGISTRY, tool
    REGISTRY._loaded = True  # just this tool: the test is about stdout, not the other modules
    class NoArgs(ToolInput):
        pass
    class Done(BaseModel):
        ok: bool
    @tool
    def noisy(args: NoArgs) -> Done:
        """Print to stdout the way a careless library would."""
        import os
        print("a stray print from a tool")
        os.system("echo a child process writing to stdout")
        return Done(ok=True)
    from agent.mcp_server import main
    main()
''')


@pytest.mark.anyio
async def test_stdout_carries_only_protocol_frames(tmp_path: Path) -> None:
    script = tmp_path / "noisy_server.py"
    script.write_text(NOISY_SERVER)
    params = StdioServerParameters(command=sys.executable, args=[str(script)], cwd=str(ROOT),
                                   env={"GTO_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)})
    stray: list[Exception] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):
            stray.append(message)

    log = tmp_path / "server.log"
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy", message_handler=on_message) as client:
            result = await client.call_tool("noisy", {})
    assert result.structured_content == {"ok": True}
    assert not stray
    text = log.read_text()
    assert "a stray print from a tool" in text and "a child process writing to stdout" in text


def test_empty_or_unexpanded_settings_count_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from agent.mcp_server import _clean_environment

    monkeypatch.chdir(tmp_path)

    # Claude Code has been seen passing ${CLAUDE_PROJECT_DIR} through literally; `${VAR:-}` gives "" when unset.
    monkeypatch.setenv("GTO_HOME", "${CLAUDE_PROJECT_DIR}/.gto")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "")
    monkeypatch.setenv("GTO_BUCKET", "my-bucket")
    _clean_environment()
    assert "GTO_HOME" not in os.environ and "GOOGLE_CLOUD_PROJECT" not in os.environ
    assert os.environ["GTO_BUCKET"] == "my-bucket"
    assert Workspace.default().root == tmp_path.resolve() / ".gto"
