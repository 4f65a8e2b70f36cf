"""What a tool result costs the model: at most ~2,000 estimated tokens whatever the script (CJK and Cyrillic take
more tokens a character than English), and the full result on disk holds no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from tools.render import render_for_model
from tools.tokens import EstimateCounter

BUDGET = 2000  # estimated tokens: what one tool result may cost the model


class Rows(BaseModel):
    summary: str
    rows: list[str]


@pytest.mark.parametrize(("label", "row"), [
    ("CJK", "\u6570\u636e\u96c6\u7684\u7b2c{i}\u884c\uff1a\u8fd9\u662f\u4e00\u4e2a\u5f88\u957f\u7684\u4f8b\u5b50" * 40),
    ("Cyrillic", "\u0421\u0442\u0440\u043e\u043a\u0430 {i}: \u044d\u0442\u043e \u0434\u043b\u0438\u043d\u043d\u044b"
                 "\u0439 \u043f\u0440\u0438\u043c\u0435\u0440 " * 40),
    ("ASCII", "Row {i}: a long example of English text " * 20),
])
def test_no_rendered_result_exceeds_the_token_budget(label, row, ctx):
    counter = EstimateCounter()
    output = Rows(summary=row.format(i="s")[:500], rows=[row.format(i=i) for i in range(40)])
    text = render_for_model("test_rows", output, ctx)
    assert counter.count(text) <= BUDGET, label
    compact = json.loads(text)
    assert compact["rows"][-1].startswith("... ") and Path(compact["full_result_path"]).is_file()


def test_what_no_shrinking_fits_is_cut_to_the_budget(ctx):
    class Table(BaseModel):
        cells: dict[str, str]  # keys are never dropped, so only the final cut can make this fit

    cells = {f"\u5217{i}": "\u6f22\u5b57" * 200 for i in range(150)}
    text = render_for_model("test_table", Table(cells=cells), ctx)
    assert EstimateCounter().count(text) <= BUDGET
    assert text.startswith('{"full_result_path":') and text.endswith(")")


def test_the_full_result_file_is_redacted(ctx, monkeypatch):
    secret = "AIza" + "S3cr3tK3y" * 4
    monkeypatch.setenv("GOOGLE_API_KEY", "env-secret-value-123")
    output = Rows(summary=f"key {secret}", rows=[f"row {i} env-secret-value-123" for i in range(2000)])
    compact = json.loads(render_for_model("test_rows", output, ctx))
    full = Path(compact["full_result_path"]).read_text()
    assert secret not in full and "env-secret-value-123" not in full
    assert json.loads(full)["summary"] == "key [REDACTED]" and len(json.loads(full)["rows"]) == 2000
