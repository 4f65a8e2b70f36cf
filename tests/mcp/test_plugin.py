"""The Claude Code plugin: its manifests against the documented fields, the launcher that finds or builds `gto`,
and the server it declares, launched over stdio exactly as plugin/.mcp.json says, the way Claude Code launches it.
When the Claude Code CLI is installed (CI puts it in .ci/node), Claude Code itself validates, installs and connects
the plugin."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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
# The plugin root is the repository root: an install then holds pyproject.toml, so uv can build gto from it.
MANIFEST = ROOT / ".claude-plugin" / "plugin.json"
PLUGIN = ROOT / "plugin"
LAUNCHER = PLUGIN / "bin" / "gto-mcp"
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
    return f"mcp__plugin_{load_json(MANIFEST)['name']}_{server_entry()[0]}__"


def expand(value: str, env: dict[str, str]) -> str:
    """Claude Code's expansion in .mcp.json: ${VAR}, and ${VAR:-default} when VAR is unset or empty."""
    def sub(m: re.Match[str]) -> str:
        if m.group(2) is not None:
            return env.get(m.group(1)) or m.group(2)
        return env.get(m.group(1), m.group(0))

    return PLACEHOLDER.sub(sub, value)


def test_plugin_manifest() -> None:
    manifest = load_json(MANIFEST)
    assert KEBAB.match(manifest["name"])
    assert re.match(r"^\d+\.\d+\.\d+$", manifest["version"])
    assert manifest["description"] and manifest["author"]["name"]
    for key in ("commands", "agents", "skills", "hooks", "mcpServers", "outputStyles", "lspServers"):
        paths = manifest.get(key, [])
        for path in [paths] if isinstance(paths, str) else paths:
            assert path.startswith("./") and ".." not in path, (key, path)
            assert (ROOT / path).exists(), (key, path)
    # The components live under plugin/, so the manifest names them; agents as files, one per subagent.
    assert manifest["agents"] == [f"./plugin/agents/{p.name}" for p in sorted((PLUGIN / "agents").glob("*.md"))]
    assert (manifest["skills"], manifest["mcpServers"]) == ("./plugin/skills/", "./plugin/.mcp.json")
    # Only the manifests live in .claude-plugin/, and there is one plugin root.
    assert sorted(p.name for p in MANIFEST.parent.iterdir()) == ["marketplace.json", "plugin.json"]
    assert not (PLUGIN / ".claude-plugin").exists()


def test_marketplace_at_repository_root() -> None:
    market = load_json(ROOT / ".claude-plugin" / "marketplace.json")
    assert KEBAB.match(market["name"]) and market["owner"]["name"]
    (entry,) = market["plugins"]
    assert entry["name"] == load_json(MANIFEST)["name"]
    assert entry["source"] == "./" and (ROOT / entry["source"] / ".claude-plugin" / "plugin.json").exists()


def test_mcp_manifest_runs_the_launcher_and_holds_no_secrets() -> None:
    name, server = server_entry()
    assert KEBAB.match(name)
    assert (server["command"], server["args"]) == ("sh", ["${CLAUDE_PLUGIN_ROOT}/plugin/bin/gto-mcp"])
    assert LAUNCHER.is_file()
    for var, value in server["env"].items():
        assert not SECRET_NAME.search(var), var
        # Every value comes from the user's environment (or a harmless default), never a literal setting.
        assert PLACEHOLDER.search(value), (var, value)
        assert redact(value) == value
    # Claude Code 2.1.197 expands ${CLAUDE_PROJECT_DIR} but gives ${CLAUDE_PROJECT_DIR:-.} its default, "."
    # (CLAUDE_PROJECT_DIR is not in its own environment), which put the workspace wherever the server started.
    assert server["env"]["GTO_HOME"] == "${CLAUDE_PROJECT_DIR}/.gto"
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


def system_path() -> str:
    """A PATH with the system's tools and no gto or uv (the tests that need one add it)."""
    path = os.pathsep.join(["/usr/bin", "/bin"])
    for name in ("gto", "uvx"):
        if shutil.which(name, path=path):
            pytest.skip(f"{name} is installed system-wide; the launcher tests need a PATH without it")
    return path


def fake_commands(bin_dir: Path, *names: str) -> None:
    """Scripts that print their name and arguments instead of starting a server."""
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        (bin_dir / name).write_text(f'#!/bin/sh\necho {name} "$@"\n')
        (bin_dir / name).chmod(0o755)


def launch(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(LAUNCHER)], env=env, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_launcher_prefers_an_installed_gto(tmp_path: Path) -> None:
    # An installed gto[local] has torch; an environment uv builds would lack it.
    fake_commands(tmp_path / "bin", "gto", "uvx")
    done = launch({"PATH": f"{tmp_path / 'bin'}{os.pathsep}{system_path()}", "CLAUDE_PLUGIN_ROOT": str(ROOT)})
    assert (done.returncode, done.stdout) == (0, "gto mcp\n")


@pytest.mark.parametrize(("extra", "source"), [("", str(ROOT)), ("local", f"{ROOT}[local]")])
def test_launcher_builds_gto_with_uv_from_the_plugin_root(tmp_path: Path, extra: str, source: str) -> None:
    fake_commands(tmp_path / "bin", "uvx")
    # Claude Code gives CLAUDE_PLUGIN_ROOT a trailing slash; without it the launcher finds the root itself.
    for root in ({"CLAUDE_PLUGIN_ROOT": f"{ROOT}/"}, {}):
        done = launch({"PATH": f"{tmp_path / 'bin'}{os.pathsep}{system_path()}", "GTO_MCP_EXTRA": extra, **root})
        assert (done.returncode, done.stdout) == (0, f"uvx --quiet --from {source} gto mcp\n"), done.stderr


def test_launcher_without_gto_or_uv_says_what_to_install() -> None:
    done = launch({"PATH": system_path(), "CLAUDE_PLUGIN_ROOT": str(ROOT)})
    assert done.returncode == 127 and done.stdout == ""  # stdout is the protocol channel, even for this
    assert "Run: pip install uv" in done.stderr and f'pip install "{ROOT}[local]"' in done.stderr


def launch_env(project: Path, tmp_path: Path, manifest_env: dict[str, str]) -> dict[str, str]:
    """The environment Claude Code would give the server: the manifest's env expanded, over a clean base, with the
    virtual environment's gto on PATH (as for a user who installed it) and no uv."""
    user = {"CLAUDE_PROJECT_DIR": str(project)}
    env = {k: expand(v, user) for k, v in manifest_env.items()}
    env["PATH"] = f"{Path(gto_command()).parent}{os.pathsep}{system_path()}"
    # The SDK adds only HOME, PATH and the like from this process; keep gcloud and model hubs out of reach too.
    env.update(CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


@pytest.mark.anyio
async def test_stdio_round_trip_of_the_declared_command(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.jsonl").write_text(json.dumps(VALID) + "\n")
    _, server = server_entry()
    args = [expand(arg, {"CLAUDE_PLUGIN_ROOT": str(ROOT)}) for arg in server["args"]]
    params = StdioServerParameters(command=server["command"], args=args, cwd=str(project),
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


def claude_cli() -> str | None:
    """The Claude Code CLI: the pinned one .ci/run installs, else one on PATH."""
    pinned = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "claude"
    return str(pinned) if pinned.exists() else shutil.which("claude")


needs_claude = pytest.mark.skipif(claude_cli() is None,
                                  reason="the Claude Code CLI is not installed (.ci/run puts it in .ci/node)")


def claude(*args: str, home: Path, cwd: Path) -> str:
    """Run the Claude Code CLI with a throwaway HOME, the virtual environment's gto on PATH, and no uv."""
    cli = claude_cli()
    assert cli is not None
    path = os.pathsep.join([str(Path(cli).parent), str(Path(gto_command()).parent), system_path()])
    env = {"HOME": str(home), "PATH": path, "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "CLOUDSDK_CONFIG": str(home / "gcloud"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([cli, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"claude {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def connected(listing: str) -> str:
    """The `claude mcp list` line of the plugin's server, which must say it connected."""
    name, _ = server_entry()
    lines = [line for line in listing.splitlines() if line.startswith(f"plugin:{load_json(MANIFEST)['name']}:{name}:")]
    assert len(lines) == 1 and "Connected" in lines[0], listing
    return lines[0]


@needs_claude
def test_claude_code_validates_the_marketplace_and_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    assert "Validation passed" in claude("plugin", "validate", str(ROOT), home=tmp_path / "home", cwd=tmp_path)
    assert "Validation passed" in claude("plugin", "validate", str(MANIFEST), home=tmp_path / "home", cwd=tmp_path)


@needs_claude
def test_claude_code_connects_the_server_of_a_checkout(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    line = connected(claude("--plugin-dir", str(ROOT), "mcp", "list", home=tmp_path / "home", cwd=tmp_path))
    assert str(LAUNCHER) in line


@needs_claude
def test_claude_code_installs_the_plugin_from_the_marketplace(tmp_path: Path) -> None:
    # What `/plugin marketplace add OWNER/REPO` gets: the repository's files, none of the ignored ones (a local
    # marketplace path is copied whole, virtual environment included).
    repo, home, project = tmp_path / "repo", tmp_path / "home", tmp_path / "project"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(".git", ".venv", ".gto", ".pytest_cache", "__pycache__",
                                                              "*.egg-info", "node"))
    home.mkdir()
    project.mkdir()
    market = load_json(ROOT / ".claude-plugin" / "marketplace.json")["name"]
    claude("plugin", "marketplace", "add", str(repo), home=home, cwd=project)
    claude("plugin", "install", f"{load_json(MANIFEST)['name']}@{market}", home=home, cwd=project)
    (installed,) = (home / ".claude" / "plugins" / "cache" / market / load_json(MANIFEST)["name"]).iterdir()
    assert (installed / "pyproject.toml").is_file() and (installed / "plugin" / "bin" / "gto-mcp").is_file()
    # Claude Code 2.1.197 runs a plugin from a local marketplace in place (it still copies it to the cache).
    line = connected(claude("mcp", "list", home=home, cwd=project))
    assert re.search(rf"sh ({re.escape(str(repo))}|{re.escape(str(installed))})/+plugin/bin/gto-mcp ", line), line
