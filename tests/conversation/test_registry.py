"""The registry: schemas generated in three shapes, and every caller mistake turned into a fixable is_error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.registry import REGISTRY, dispatch, tool
from tools.render import MAX_CHARS


class EchoInput(ToolInput):
    text: str = Field(description="what to echo")
    times: int = Field(1, ge=1, le=5, description="how many times")


class EchoOutput(BaseModel):
    echoed: list[str]


class BigOutput(BaseModel):
    rows: list[dict]


@pytest.fixture
def test_tools(scratch_registry):
    @tool
    def test_echo(args: EchoInput) -> EchoOutput:
        """Echo text back.

        Longer explanation that is not part of the description."""
        if args.text == "boom":
            raise ToolError("the text 'boom' is not allowed", "Use any other text.")
        return EchoOutput(echoed=[args.text] * args.times)

    @tool(consent=lambda a, ctx: f"Echoing {a.text!r} costs $1.00." if a.text == "paid" else None)
    def test_paid_echo(args: EchoInput, ctx: ToolContext) -> EchoOutput:
        """Echo text back, for money."""
        return EchoOutput(echoed=[args.text])

    @tool
    def test_big(args: EchoInput) -> BigOutput:
        """Return far too much."""
        return BigOutput(rows=[{"line": i, "message": args.text * 50} for i in range(5000)])

    yield


def test_unknown_tool_names_the_known_ones(ctx, test_tools):
    result = dispatch("no_such_tool", {}, ctx)
    assert result.is_error
    assert "Unknown tool 'no_such_tool'" in result.content
    assert "test_echo" in result.content


def test_invalid_argument_names_the_field_and_the_fix(ctx, test_tools):
    result = dispatch("test_echo", {"text": "hi", "times": "many"}, ctx)
    assert result.is_error
    assert "field 'times'" in result.content
    assert "'many'" in result.content
    assert "call test_echo again" in result.content


def test_missing_and_out_of_range_fields(ctx, test_tools):
    result = dispatch("test_echo", {"times": 9}, ctx)
    assert result.is_error
    assert "field 'text': Field required" in result.content
    assert "field 'times'" in result.content and "less than or equal to 5" in result.content


def test_unknown_argument_lists_the_accepted_ones(ctx, test_tools):
    result = dispatch("test_echo", {"text": "hi", "colour": "red"}, ctx)
    assert result.is_error
    assert "field 'colour' is not accepted" in result.content
    assert "text, times" in result.content


def test_arguments_must_be_an_object(ctx, test_tools):
    result = dispatch("test_echo", ["hi"], ctx)  # type: ignore[arg-type]
    assert result.is_error and "must be a JSON object, got list" in result.content


def test_tool_error_becomes_is_error_with_hint(ctx, test_tools):
    result = dispatch("test_echo", {"text": "boom"}, ctx)
    assert result.is_error
    assert result.content == "test_echo failed: the text 'boom' is not allowed Use any other text."


def test_success_returns_compact_json_and_structured_data(ctx, test_tools):
    result = dispatch("test_echo", {"text": "hi", "times": 2}, ctx)
    assert not result.is_error
    assert json.loads(result.content) == {"echoed": ["hi", "hi"]}
    assert result.data == {"echoed": ["hi", "hi"]}
    events = ctx.workspace.events(kind="tool:test_echo")
    assert events[-1]["data"] == {"echoed": ["hi", "hi"]}


def test_consent_declined_runs_nothing(ctx, test_tools):
    asked = []
    ctx.approve = lambda tool, question: asked.append((tool, question)) or False
    result = dispatch("test_paid_echo", {"text": "paid"}, ctx)
    assert result.is_error and result.data["declined"] is True
    assert "The user declined: Echoing 'paid' costs $1.00." in result.content
    assert asked == [("test_paid_echo", "Echoing 'paid' costs $1.00.")]
    assert ctx.workspace.events(kind="tool:test_paid_echo") == []


def test_consent_given_runs_and_free_calls_do_not_ask(ctx, test_tools):
    asked = []
    ctx.approve = lambda tool, question: asked.append(question) or True
    assert not dispatch("test_paid_echo", {"text": "paid"}, ctx).is_error
    assert not dispatch("test_paid_echo", {"text": "free"}, ctx).is_error
    assert len(asked) == 1


def test_big_results_are_shrunk_with_a_path_to_the_whole(ctx, test_tools):
    result = dispatch("test_big", {"text": "x"}, ctx)
    assert len(result.content) <= MAX_CHARS
    compact = json.loads(result.content)
    full = json.loads(Path(compact["full_result_path"]).read_text())
    assert len(full["rows"]) == 5000
    assert compact["rows"][-1] == "... 4992 more" or compact["rows"][-1].startswith("... ")


def test_schemas_in_three_shapes(test_tools):
    t = REGISTRY.get("test_echo")
    assert t.description == "Echo text back."
    schema = t.anthropic_schema()["input_schema"]
    assert schema["properties"]["times"]["maximum"] == 5
    assert schema["required"] == ["text"]
    assert schema["additionalProperties"] is False
    assert t.gemini_declaration()["parameters_json_schema"] == schema
    assert t.mcp_schema()["inputSchema"] == schema
    assert t.mcp_schema()["outputSchema"]["properties"]["echoed"]["type"] == "array"


class Inner(BaseModel):
    a: int


class Outer(ToolInput):
    inner: Inner
    many: list[Inner] = []


def nested(args: Outer) -> EchoOutput:
    """Nested."""
    return EchoOutput(echoed=[])


def test_nested_models_are_inlined_without_refs(scratch_registry):
    tool(nested, name="test_nested")
    schema = REGISTRY.get("test_nested").input_schema
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    assert schema["properties"]["inner"]["properties"]["a"]["type"] == "integer"


def test_bad_tool_definitions_fail_at_import():
    with pytest.raises(TypeError, match="pydantic model"):
        tool(lambda x: x)
    with pytest.raises(TypeError, match="docstring"):
        def undocumented(args: EchoInput) -> EchoOutput:
            return EchoOutput(echoed=[])
        tool(undocumented)


def test_secrets_never_reach_error_text(ctx, test_tools, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-secretsecretsecret")
    result = dispatch("test_echo", {"text": "hi", "times": "sk-ant-api03-secretsecretsecret"}, ctx)
    assert "secretsecret" not in result.content
    assert "[REDACTED]" in result.content
