"""The catalog's lifecycle judged on a pinned day: retired and blocked models refused before any work with their
successor named, warnings near retirement, defaults that are never retired, and prices that change on their date."""

from __future__ import annotations

from datetime import date

import pytest

import tools.catalog
from tools.catalog import catalog, default_brain_model, default_tuning_model, successor_of
from tools.errors import ToolError



def test_every_row_has_a_source_a_date_and_a_known_successor() -> None:
    cat = catalog()
    ids = {m.id for m in cat.models}
    for model in cat.models:
        assert model.source and date.fromisoformat(model.as_of)
        assert not model.successor or model.successor in ids
        assert all(alt in ids for alt in model.successor_alt)
        if model.thinking == "level":
            assert model.thinking_min_level in model.thinking_levels
        if model.thinking == "budget":
            assert model.thinking_min is not None


def test_lifecycle_on_a_fixed_day() -> None:
    cat = catalog()
    assert cat.lifecycle("gemini-2.5-flash", date(2026, 6, 1)).status == "current"
    near = cat.lifecycle("gemini-2.5-flash", date(2026, 9, 1))
    assert near.status == "retiring" and near.days_to_retirement == 49 and near.tunable
    assert "retires on 2026-10-20" in near.message and "gemini-3.5-flash-lite" in near.message
    blocked = cat.lifecycle("gemini-2.5-flash", date(2026, 9, 25))
    assert blocked.status == "blocked" and not blocked.tunable and "blocked for new tuning since 2026-09-20" in \
        blocked.message
    retired = cat.lifecycle("gemini-2.5-pro", date(2026, 12, 7))
    assert retired.status == "retired" and retired.successor == "gemini-3.8-flash"
    assert "was retired on 2026-10-20" in retired.message
    # "or later" is a guarantee, not an announced end: a warning near it, never a refusal.
    guaranteed = cat.lifecycle("gemini-3.5-flash", date(2027, 6, 1))
    assert guaranteed.status == "retiring" and "guaranteed only until 2027-05-19" in guaranteed.message


def test_the_pinned_clock_is_what_tools_see(monkeypatch: pytest.MonkeyPatch) -> None:
    assert catalog().lifecycle("gemini-2.5-flash").status == "retired"
    monkeypatch.setattr(tools.catalog, "clock", lambda: date(2026, 6, 1))
    assert catalog().lifecycle("gemini-2.5-flash").status == "current"
    assert catalog().tunable("gemini-2.5-flash").id == "gemini-2.5-flash"


def test_successors_skip_retired_ones() -> None:
    assert successor_of("gemini-2.5-flash") == "gemini-3.5-flash-lite"
    assert successor_of("gemini-2.0-flash") == "gemini-3.5-flash-lite"  # an alias, whose named successor retired
    assert successor_of("gemini-3.5-flash-lite") is None
    assert successor_of("no-such-model") is None


def test_defaults_come_from_the_catalog_and_are_never_retired(monkeypatch: pytest.MonkeyPatch) -> None:
    cat = catalog()
    assert default_tuning_model() == cat.defaults.tuning_base_model == "gemini-3.5-flash-lite"
    assert default_brain_model() == cat.defaults.brain_model == "gemini-3.8-flash"
    assert default_tuning_model("local") == "gemma-3-270m"
    for day in (date(2026, 12, 7), date(2027, 7, 1), date(2027, 9, 1)):
        for chosen in (cat.default_tuning_model(day=day), cat.default_brain_model(day=day)):
            assert cat.lifecycle(chosen, day).tunable
    # A default whose row says retired is passed over for the next usable one.
    flash_lite = cat.get("gemini-3.5-flash-lite")
    monkeypatch.setattr(flash_lite, "retirement", "2026-12-01")
    assert cat.default_tuning_model() == "gemini-3.5-flash"


def test_a_retired_model_is_refused_with_its_retirement_and_successor() -> None:
    with pytest.raises(ToolError) as refused:
        catalog().tunable("gemini-2.5-flash")
    assert "retired on 2026-10-20" in refused.value.message
    assert "base_model='gemini-3.5-flash-lite'" in (refused.value.hint or "")


@pytest.mark.parametrize("tool, extra", [
    ("validate_dataset", {}),
    ("estimate_cost", {"training_tokens": 1000}),
    ("recommend_hyperparameters", {"example_count": 200}),
])
def test_tools_refuse_a_retired_base_model_before_any_work(call, tmp_path, tool: str, extra: dict) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join('{"contents": []}' for _ in range(3)))
    args = {"base_model": "gemini-2.5-pro", **extra}
    if tool == "validate_dataset":
        args["path"] = str(path)
    result = call(tool, **args)
    assert result.is_error
    assert "retired on 2026-10-20" in result.content and "gemini-3.8-flash" in result.content
    assert not any((tmp_path / "gto-home").glob("reports/*")), "nothing may be scanned for a retired model"


def test_near_retirement_is_a_warning_in_validate_and_estimate(call, write_jsonl, good_rows, monkeypatch) -> None:
    monkeypatch.setattr(tools.catalog, "clock", lambda: date(2026, 9, 1))
    path = write_jsonl("train.jsonl", good_rows(5))
    report = call("validate_dataset", path=str(path), base_model="gemini-2.5-flash").output
    assert report.warnings and "retires on 2026-10-20" in report.warnings[0]
    estimate = call("estimate_cost", base_model="gemini-2.5-flash", training_tokens=1000, epochs=1).output
    assert "retires on 2026-10-20" in estimate.notes[0]


def test_an_introductory_price_ends_on_its_date(monkeypatch: pytest.MonkeyPatch) -> None:
    flash = catalog().get("gemini-3.8-flash")
    assert flash.prices_on(date(2026, 12, 31)) == (0.75, 3.75)
    assert flash.prices_on(date(2027, 1, 1)) == (1.50, 7.50)
