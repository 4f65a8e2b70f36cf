"""Credentials are masked wherever text leaves gto, including shapes that never passed through our environment, and
before any cut; the local trainer inherits no API key."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from tools.backends.local.backend import trainer_environment
from tools.errors import ToolInput
from tools.registry import dispatch, tool
from tools.render import MAX_CHARS, render_for_model
from tools.secrets import MASK, redact

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 3


@pytest.mark.parametrize(("text", "secret"), [
    ("refresh_token 1//0gX3abcDEF-ghiJKLmnoPQRstuVWxyz0123456789", "1//0gX3abcDEF"),
    ("git clone https://alice:s3cr3t-pa55@github.com/org/repo.git", "s3cr3t-pa55"),
    ("GET https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4&X-Goog-Signature=abc123def456&x=1",
     "abc123def456"),
    ("https://example.com/cb?token=tok_9f8e7d6c5b4a&next=/", "tok_9f8e7d6c5b4a"),
    ("https://oauth2.googleapis.com/tokeninfo?access_token=ya29a0AfB_short", "ya29a0AfB_short"),
    ('{"client_secret": "GOCSPX-AbCdEfGhIjKlMnOpQrStUvWx"}', "GOCSPX-AbCdEf"),
    ("client GOCSPX-AbCdEfGhIjKlMnOpQrStUvWx in a sentence", "GOCSPX-AbCdEf"),
    (f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n(log cut here", PEM_BODY[:20]),
    (f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\nafter", PEM_BODY[:20]),
])
def test_credential_shapes_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked and MASK in masked


def test_ordinary_text_is_left_alone() -> None:
    for text in ("https://github.com/org/repo?tab=readme&page=2", "ratio 1/0 is undefined", "see gs://bkt/a.jsonl",
                 "user@example.com wrote 3:4"):
        assert redact(text) == text


def test_a_complete_key_keeps_what_follows_it() -> None:
    text = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\nthe rest"
    assert redact(text).endswith("the rest")


class Blob(BaseModel):
    texts: list[str]


def test_a_secret_is_masked_before_the_model_result_is_cut(ctx) -> None:
    token = "1//0" + "Z" * 60
    # each string is cut at a few hundred characters while shrinking; the token straddles every such cut
    long = ["x" * 70 + token + "y" * 800 for _ in range(30)]
    text = render_for_model("t", Blob(texts=long), ctx)
    assert len(text) <= MAX_CHARS and "1//0ZZZ" not in text and "ZZZZZZZZ" not in text


class Anything(ToolInput):
    value: int


def test_an_invalid_argument_echoed_back_is_masked_before_it_is_cut(ctx, scratch_registry) -> None:
    @tool
    def test_takes_int(args: Anything) -> Blob:
        """Take an int."""
        return Blob(texts=[])

    token = "1//0" + "Q" * 100
    result = dispatch("test_takes_int", {"value": "a" * 70 + token}, ctx)
    assert result.is_error and "1//0QQ" not in result.content and "QQQQQQQQ" not in result.content


def test_the_trainer_gets_only_the_environment_it_needs() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/home/u", "PYTHONPATH": "/p", "GTO_HOME": "/w", "HF_HOME": "/hf",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2", "TMPDIR": "/tmp",
               "LANG": "C.UTF-8", "ANTHROPIC_API_KEY": "sk-ant-x", "GEMINI_API_KEY": "k", "GOOGLE_API_KEY": "k",
               "HF_TOKEN": "hf_x", "AWS_SECRET_ACCESS_KEY": "a", "GOOGLE_APPLICATION_CREDENTIALS": "/c.json",
               "GITHUB_TOKEN": "g", "DATABASE_URL": "postgres://u:p@h/db"}
    kept = trainer_environment(environ)
    assert set(kept) == {"PATH", "HOME", "PYTHONPATH", "GTO_HOME", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                         "OMP_NUM_THREADS", "TMPDIR", "LANG"}


def test_gto_run_json_is_redacted(monkeypatch, tmp_path) -> None:
    from typer.testing import CliRunner

    import agent.runs as runs
    from agent.cli import app

    class Result:
        ok, status, job_id = True, "done", None

        def as_dict(self) -> dict[str, object]:
            return {"summary": "pushed to https://bob:hunter2hunter2@git.example.com/x", "ok": True}

    monkeypatch.setattr(runs, "drive", lambda agent, goal, console: Result())
    monkeypatch.setattr(runs, "open_agent", lambda **options: object())
    out = CliRunner().invoke(app, ["run", "go", "--json"])
    assert out.exit_code == 0, out.output
    assert "hunter2hunter2" not in out.stdout and json.loads(out.stdout)["ok"] is True


def test_example_texts_shown_in_results_and_reports_are_masked_before_their_cut() -> None:
    from tools.evaluation.heldout import truncate

    token = "1//0" + "W" * 300
    shown = truncate("prompt " * 25 + token)  # the 200-character cut falls inside the token
    assert "1//0W" not in shown and "WWWW" not in shown
