"""Cost: training tokens x epochs x the catalog's price, inference per request, unknown prices said plainly, and
the estimate_cost tool reading a dataset (local or uploaded) through what validation recorded."""

from __future__ import annotations

import pytest

from tools.catalog import catalog, default_tuning_model
from tools.training.cost import actual_cost, money, training_cost
from tools.dataset.problems import ProblemLog
from tools.dataset.scan import scan_file
from tools.dataset.file_rules import token_stats
from tools.tokens import EstimateCounter

FLASH = "gemini-2.5-flash"


def price(model: str, field: str = "tuning_per_m") -> float:
    return getattr(catalog().get(model), field)


def test_unknown_price_is_said_not_invented():
    unknown = next(m.id for m in catalog().models if m.tuning_per_m < 0)
    estimate = training_cost(unknown, 82_000, 3)
    assert estimate.training_cost_usd is None and estimate.per_epoch_usd is None
    assert estimate.billable_training_tokens == 246_000
    assert "unknown" in estimate.summary and any("no tuning price" in n for n in estimate.notes)


def test_unknown_tokens_or_model_give_no_number():
    assert training_cost(FLASH, None, 3).training_cost_usd is None
    assert "validate the dataset first" in training_cost(FLASH, None, 3).summary
    stranger = training_cost("my-own-model", 1000, 2)
    assert stranger.training_cost_usd is None and "not in the model catalog" in stranger.summary


def test_training_cost_is_tokens_times_epochs_times_price():
    estimate = training_cost(FLASH, 82_000, 3, tokens_estimated=True)
    expected = 82_000 * 3 / 1e6 * price(FLASH)
    assert estimate.training_cost_usd == pytest.approx(expected)
    assert estimate.billable_training_tokens == 246_000
    assert estimate.summary == (f"{money(expected)} = 82,000 tokens x 3 epochs x ${price(FLASH):.2f}/1M "
                                f"(prices as of {catalog().get(FLASH).as_of}, estimated token count).")
    assert estimate.price_source and estimate.tokens_estimated


def test_epochs_left_to_vertex_give_a_price_per_epoch():
    estimate = training_cost(FLASH, 1_000_000, None)
    assert estimate.training_cost_usd is None and estimate.epochs_source == "service"
    assert estimate.per_epoch_usd == pytest.approx(price(FLASH))
    assert "Vertex chooses the epochs" in estimate.summary


def test_actual_cost_multiplies_the_per_pass_count_and_says_it_is_an_interpretation():
    estimate = actual_cost("gemini-2.5-pro", 1_000_000, 4)
    assert estimate.training_cost_usd == pytest.approx(4 * price("gemini-2.5-pro"))
    assert estimate.tokens_estimated is False
    assert "interpretation" in estimate.notes[0]


def test_the_local_model_is_free_and_its_training_time_is_estimated():
    from tools.training.hyperparams import LOCAL_TOKENS_PER_SECOND

    estimate = training_cost("gemma-3-270m", 50_000, 3)
    assert estimate.training_cost_usd == 0 and "free" in estimate.summary
    assert estimate.training_minutes == pytest.approx(150_000 / LOCAL_TOKENS_PER_SECOND / 60, abs=0.05)
    assert f"about {150_000 / LOCAL_TOKENS_PER_SECOND / 60:.0f} min" in estimate.summary
    assert training_cost(FLASH, 50_000, 3).training_minutes is None  # Vertex AI publishes no training time


def test_small_amounts_still_show():
    assert money(0.0047) == "$0.0047" and money(1234.5) == "$1,234.50" and money(0) == "$0.00"


def test_estimate_cost_reads_the_dataset_and_the_recommended_epochs(write_jsonl, good_rows, call, ctx,
                                                                    before_2_5_retired):
    path = write_jsonl("train.jsonl", good_rows(150, system="Be brief."))
    result = call("estimate_cost", training_path=path, requests_per_month=10_000, base_model=FLASH)
    assert not result.is_error, result.content
    estimate = result.output
    scan = scan_file(path, "train", EstimateCounter(), 131072, ProblemLog(None, "train"))
    tokens = token_stats(scan)["total"]
    assert estimate.tokens_per_epoch == tokens and estimate.tokens_estimated is True
    assert estimate.epochs == 20 and estimate.epochs_source == "recommended"  # 150 short examples
    assert estimate.training_cost_usd == pytest.approx(tokens * 20 / 1e6 * price(FLASH), abs=1e-4)
    avg_in, avg_out = scan.input_weight / 4 / 150, scan.output_weight / 4 / 150
    per_request = (avg_in * price(FLASH, "input_per_m") + avg_out * price(FLASH, "output_per_m")) / 1e6
    assert estimate.per_request_usd == pytest.approx(per_request, rel=0.02)
    assert estimate.monthly_inference_usd == pytest.approx(per_request * 10_000, abs=0.01)
    assert "recommend_hyperparameters" in estimate.notes[0]
    given = call("estimate_cost", training_path=path, epochs=2).output
    assert given.epochs == 2 and given.epochs_source == "given"


def test_estimate_cost_for_an_uploaded_dataset_uses_its_source(write_jsonl, good_rows, call, ctx):
    path = write_jsonl("train.jsonl", good_rows(120))
    call("validate_dataset", path=path)
    ctx.workspace.record_dataset("gs://bucket/train.jsonl", {"source": str(path.resolve())})
    estimate = call("estimate_cost", training_path="gs://bucket/train.jsonl", epochs=3).output
    assert estimate.tokens_per_epoch == ctx.workspace.dataset(str(path.resolve()))["billable_tokens_per_epoch"]
    never_seen = call("estimate_cost", training_path="gs://bucket/other.jsonl")
    assert never_seen.is_error and "Validate the local file" in never_seen.content


def test_estimate_cost_revalidates_a_changed_file(write_jsonl, good_rows, call):
    path = write_jsonl("train.jsonl", good_rows(100))
    first = call("estimate_cost", training_path=path, epochs=1).output.tokens_per_epoch
    write_jsonl("train.jsonl", good_rows(200))
    assert call("estimate_cost", training_path=path, epochs=1).output.tokens_per_epoch > first


def test_estimate_cost_inference_only_and_bad_calls(call):
    only = call("estimate_cost", avg_input_tokens=1000, avg_output_tokens=200).output
    assert only.training_cost_usd is None
    default = default_tuning_model()  # no base_model: the catalog's default is priced
    assert only.base_model == default
    assert only.per_request_usd == pytest.approx((1000 * price(default, "input_per_m")
                                                  + 200 * price(default, "output_per_m")) / 1e6)
    nothing = call("estimate_cost")
    assert nothing.is_error and "training_path" in nothing.content
    assert call("estimate_cost", base_model="gpt-4", training_tokens=10).is_error
    assert call("estimate_cost", training_tokens=-5).is_error


def test_unknown_inference_price_is_said(call, monkeypatch):
    unknown = "gemini-3.5-flash"
    monkeypatch.setattr(catalog().get(unknown), "input_per_m", -1.0)  # every row has a price today; one may not
    estimate = call("estimate_cost", base_model=unknown, training_tokens=1000, epochs=1,
                    avg_input_tokens=10, avg_output_tokens=10).output
    assert estimate.per_request_usd is None and estimate.training_cost_usd is None
    assert any("No inference price" in n for n in estimate.notes)


def test_estimate_cost_counts_valid_examples_and_says_when_there_are_none(write_jsonl, good_rows, call):
    openai = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
              for i in range(5)]
    broken = write_jsonl("openai.jsonl", openai)
    nothing = call("estimate_cost", training_path=broken, epochs=2)
    assert nothing.is_error and "none of its 5 examples is valid" in nothing.content
    assert "fix_dataset" in nothing.content  # what to do, not "0 billable tokens"
    mixed = write_jsonl("mixed.jsonl", good_rows(20) + openai)
    estimate = call("estimate_cost", training_path=mixed, epochs=2).output
    assert estimate.billable_training_tokens and estimate.billable_training_tokens > 0
    assert "Only the 20 valid examples of 25 are counted" in estimate.notes[0]
    given = call("estimate_cost", training_path=broken, training_tokens=1000, epochs=1)
    assert not given.is_error  # the user's own token count needs no valid line
