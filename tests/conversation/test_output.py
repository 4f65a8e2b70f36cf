"""What the console prints never holds a secret, however the text arrives: cut to length, or streamed in chunks."""

from __future__ import annotations

import io

from agent.console import Console

KEY = "plainsecretvalue1234567890"  # shaped like nothing: only the environment says it is a secret


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(out=out, color=False, can_ask=False), out


def test_long_tool_arguments_are_redacted_before_they_are_cut(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    console, out = _console()
    console.tool_call("upload_to_gcs", {"note": "x" * 280 + KEY})  # the cut at 300 falls inside the key
    assert KEY[:10] not in out.getvalue() and "[REDACTED]" in out.getvalue()


def test_a_secret_split_across_streamed_chunks_is_redacted(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    console, out = _console()
    for chunk in ("Use the key plainsecret", "value1234567890 with care.\nNext li", "ne."):
        console.assistant_text(chunk)
    console.end_text()
    text = out.getvalue()
    assert "plainsecret" not in text and "Use the key [REDACTED] with care.\nNext line." in text


def test_streamed_text_is_shown_at_each_line_end_and_the_rest_when_the_turn_ends():
    console, out = _console()
    console.assistant_text("First line.\nSecond")
    assert out.getvalue() == "First line.\n"
    console.print("→ a tool call")  # anything else printed first shows the rest of the text
    assert out.getvalue() == "First line.\nSecond\n→ a tool call\n"
