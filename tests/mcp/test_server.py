"""The MCP server through the SDK's own client, in memory: listing, real tool calls, errors, progress, consent.

The client's default mode speaks the 2026-07-28 protocol (per-request envelopes); "legacy" speaks the handshake
era that Claude Code uses today. Behaviour that differs between the two is tested in both."""

from __future__ import annotations

import json

import anyio
import mcp_types as types
import pytest
from mcp import Client

from tools.catalog import catalog
from tools.registry import REGISTRY
from tools.workspace import Workspace

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]



def example(country: str, capital: str) -> str:
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": f"Capital of {country}?"}]},
                                    {"role": "model", "parts": [{"text": f"{capital}."}]}]})


async def test_lists_every_registry_tool_with_its_schemas(server) -> None:
    async with Client(server) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    tools = REGISTRY.all()
    assert sorted(listed) == sorted(t.name for t in tools)
    for t in tools:
        assert listed[t.name].input_schema == t.input_schema, t.name
        assert listed[t.name].output_schema == t.output_schema, t.name
        assert listed[t.name].description == t.description


@pytest.mark.parametrize("mode", MODES)
async def test_validate_dataset_returns_structured_output(server, tmp_path, mode: str) -> None:
    good = tmp_path / "train.jsonl"
    good.write_text("\n".join([example("France", "Paris"), example("Peru", "Lima"), example("Chad", "N'Djamena")]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(example("France", "Paris") + "\n{not json\n")
    async with Client(server, mode=mode) as client:
        # The SDK client checks structuredContent against the listed output schema on every success.
        ok = await client.call_tool("validate_dataset", {"path": str(good), "validation_path": None,
                                                         "base_model": "gemini-3.5-flash-lite"})
        broken = await client.call_tool("validate_dataset", {"path": str(bad), "validation_path": None,
                                                             "base_model": "gemini-3.5-flash-lite"})
    assert not ok.is_error and ok.structured_content["ok"] is True
    assert ok.structured_content["train"]["examples"] == 3
    assert ok.content[0].text
    # A dataset with errors is a successful call whose answer is "not ok", naming the line.
    assert not broken.is_error and broken.structured_content["ok"] is False
    problems = broken.structured_content["train"]["errors_by_kind"].values()
    assert broken.structured_content["train"]["errors"] == 1
    assert [ex["line"] for kind in problems for ex in kind["examples"]] == [2]


async def test_paths_outside_the_project_are_refused(server, tmp_path, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "train.jsonl"
    outside.write_text(example("France", "Paris") + "\n")
    async with Client(server) as client:
        read = await client.call_tool("validate_dataset", {"path": str(outside)})
        sent = await client.call_tool("upload_to_gcs", {"path": "/proc/self/environ", "backend": "local"})
        written = await client.call_tool("fix_dataset", {"path": str(outside), "output_path": str(tmp_path / "f.jsonl")})
    for result in (read, sent, written):
        assert result.is_error and "outside the folders this server may use" in result.content[0].text
    assert str(tmp_path) in read.content[0].text  # says where files may be


async def test_estimate_cost_matches_the_price_table(server, before_2_5_retired) -> None:
    async with Client(server) as client:
        result = await client.call_tool("estimate_cost", {"base_model": "gemini-2.5-flash",
                                                          "training_tokens": 100_000, "epochs": 3})
    assert not result.is_error, result.content[0].text
    expected = catalog().get("gemini-2.5-flash").tuning_per_m * 100_000 * 3 / 1e6
    assert result.structured_content["training_cost_usd"] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("mode", MODES)
async def test_mistakes_come_back_as_error_results(server, test_tools, mode: str) -> None:
    async with Client(server, mode=mode) as client:
        bad_type = await client.call_tool("count_slowly", {"n": "many"})
        unknown_field = await client.call_tool("count_slowly", {"n": 2, "colour": "red"})
        unknown_tool = await client.call_tool("no_such_tool", {})
        bug = await client.call_tool("crash", {})
    assert bad_type.is_error and "field 'n'" in bad_type.content[0].text
    assert unknown_field.is_error and "'colour' is not accepted" in unknown_field.content[0].text
    assert unknown_tool.is_error and "Unknown tool 'no_such_tool'" in unknown_tool.content[0].text
    assert bug.is_error and "bug in gto" in bug.content[0].text and "ZeroDivisionError" in bug.content[0].text
    assert bad_type.structured_content is None


@pytest.mark.parametrize("mode", MODES)
async def test_long_tool_sends_increasing_progress(server, test_tools, mode: str) -> None:
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with Client(server, mode=mode) as client:
        result = await client.call_tool("count_slowly", {"n": 5, "restart_at": 3}, progress_callback=on_progress)
    assert result.structured_content == {"counted": 5}
    assert len(updates) == 5
    assert updates[0] == (1.0, 5.0, "counting 1 (loss=1, phase=a)")
    values = [u[0] for u in updates]
    # The tool restarted its count at step 4; MCP progress must still only grow.
    assert values == sorted(set(values)) and values[:3] == [1.0, 2.0, 3.0]
    assert updates[4][2] == "counting 5 (loss=0.2, phase=b)"


async def test_server_answers_while_a_long_tool_blocks(server, test_tools) -> None:
    async with Client(server) as client, anyio.create_task_group() as tg:
        done: list[types.CallToolResult] = []

        async def long_call() -> None:
            done.append(await client.call_tool("wait_for_release", {}))

        tg.start_soon(long_call)
        await anyio.sleep(0.2)
        with anyio.fail_after(5):
            quick = await client.call_tool("count_slowly", {"n": 1})
        assert quick.structured_content == {"counted": 1} and not done
        test_tools.release.set()
    assert done[0].structured_content == {"counted": 1}


def _answer(action: str, approve: bool | None = None):
    async def on_elicit(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        content = None if approve is None else {"approve": approve}
        return types.ElicitResult(action=action, content=content)

    asked: list[str] = []
    return on_elicit, asked


@pytest.mark.parametrize("mode", MODES)
async def test_billable_call_asks_the_user_through_elicitation(server, test_tools, workspace, mode: str) -> None:
    on_elicit, asked = _answer("accept", approve=True)
    async with Client(server, mode=mode, elicitation_callback=on_elicit) as client:
        result = await client.call_tool("spend", {"usd": 12.5})
        free = await client.call_tool("spend", {"usd": 0})
    assert not result.is_error and result.structured_content == {"spent_usd": 12.5}
    assert asked == ["Spend $12.50 on a test?"]  # the free call asked nothing
    assert not free.is_error and test_tools.spent == [12.5, 0]
    events = Workspace(workspace.root).events(kind="consent")
    assert events[-1]["message"] == "approved" and "elicitation" in events[-1]["data"]["via"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("action,approve", [("decline", None), ("cancel", None), ("accept", False)])
async def test_anything_but_a_ticked_accept_spends_nothing(server, test_tools, mode, action, approve) -> None:
    on_elicit, asked = _answer(action, approve)
    async with Client(server, mode=mode, elicitation_callback=on_elicit) as client:
        result = await client.call_tool("spend", {"usd": 3})
    assert asked and result.is_error and test_tools.spent == []
    assert "The user declined" in result.content[0].text


@pytest.mark.parametrize("mode", MODES)
async def test_client_without_elicitation_gets_a_refusal_with_a_way_forward(server, test_tools, workspace,
                                                                            mode: str) -> None:
    async with Client(server, mode=mode) as client:
        result = await client.call_tool("spend", {"usd": 7})
    text = result.content[0].text
    assert result.is_error and test_tools.spent == []
    assert "Nothing was done" in text and "Spend $7.00 on a test?" in text
    assert f"GTO_HOME={workspace.root} gto call spend '{{\"usd\":7}}' --yes" in text
    assert "GTO_MCP_APPROVE=1" in text


async def test_pre_approval_from_the_environment(server, test_tools, monkeypatch) -> None:
    monkeypatch.setenv("GTO_MCP_APPROVE", "1")
    async with Client(server) as client:
        result = await client.call_tool("spend", {"usd": 2})
    assert not result.is_error and test_tools.spent == [2]


async def test_pre_approval_needs_an_explicit_yes(server, test_tools, monkeypatch) -> None:
    monkeypatch.setenv("GTO_MCP_APPROVE", "0")
    async with Client(server) as client:
        result = await client.call_tool("spend", {"usd": 2})
    assert result.is_error and test_tools.spent == []


def test_project_root_falls_back_to_the_working_folder(monkeypatch, tmp_path) -> None:
    from agent.mcp_server import allowed_roots

    workspace = Workspace(tmp_path / "ws")
    monkeypatch.chdir(tmp_path)
    for value in ("", "${CLAUDE_PROJECT_DIR}"):
        monkeypatch.setenv("CLAUDE_PROJECT_DIR", value)
        assert allowed_roots(workspace) == (tmp_path.resolve(), workspace.root)
