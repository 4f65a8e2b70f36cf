"""Your prices (GTO_PRICES) win over the packaged catalog and are cited as "your price"."""

from __future__ import annotations

import pytest

from tools.catalog import catalog, packaged_catalog
from tools.registry import dispatch
from tools.spend import ledger

TRAIN_URI = "gs://bucket/train.jsonl"


@pytest.fixture
def prices(tmp_path, monkeypatch):
    path = tmp_path / "prices.toml"
    path.write_text('[[model]]\nid = "gemini-3.5-flash"\ntuning_per_m = 2.0\ninput_per_m = 0.5\n'
                    'output_per_m = 3.0\nas_of = "2026-12-01"\n\n'
                    '[[model]]\nid = "gemini-2.5-flash"\ntuning_per_m = 4\n')
    monkeypatch.setenv("GTO_PRICES", str(path))
    return path


def test_your_prices_win_over_the_catalog(prices):
    flash3, flash25 = catalog().get("gemini-3.5-flash"), catalog().get("gemini-2.5-flash")
    assert (flash3.tuning_per_m, flash3.input_per_m, flash3.output_per_m) == (2.0, 0.5, 3.0)
    assert flash3.source.startswith("your price") and flash3.as_of == "2026-12-01"
    assert (flash25.tuning_per_m, flash25.input_per_m) == (4.0, 0.30)  # only the prices the file gives change
    assert catalog().get("gemini-2.5-pro").source == packaged_catalog().get("gemini-2.5-pro").source  # not in the file


def test_an_estimate_cites_your_price(ctx, prices):
    result = dispatch("estimate_cost", {"base_model": "gemini-3.5-flash", "training_tokens": 1_000_000, "epochs": 3},
                      ctx)
    assert not result.is_error, result.content
    assert result.output.training_cost_usd == 6.0 and result.output.price_source.startswith("your price")
    assert "your price" in result.output.summary


def test_a_model_priced_in_your_file_can_be_tuned_under_a_budget(ctx, vertex, prices):
    ctx.spend.limit_usd = 10.0
    result = dispatch("create_tuning_job", {"training_dataset_uri": TRAIN_URI, "base_model": "gemini-3.5-flash",
                                            "epochs": 3}, ctx)
    assert not result.is_error, result.content
    [row] = ledger.entries(ctx.workspace)
    assert row.estimate_usd == 6.0 and row.price_source.startswith("your price")


def test_a_broken_price_file_is_named(ctx, tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[model]]\nid = "gemini-2.5-flash"\ntuning_per_m = "cheap"\n')
    monkeypatch.setenv("GTO_PRICES", str(bad))
    result = dispatch("estimate_cost", {"base_model": "gemini-2.5-flash", "training_tokens": 1000, "epochs": 1}, ctx)
    assert result.is_error and "tuning_per_m = 'cheap' is not a number" in result.content
