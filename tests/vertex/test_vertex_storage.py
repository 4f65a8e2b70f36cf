"""upload_to_gcs against the Cloud Storage emulator with the real google-cloud-storage client."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from vertex_fakes import BUCKET, Approvals

from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.registry import dispatch


def test_upload_records_the_source_and_skips_an_identical_object(
        backend: VertexBackend, vctx: ToolContext, gcs: str, train_file: Path) -> None:
    first = dispatch("upload_to_gcs", {"path": str(train_file)}, vctx)
    assert not first.is_error, first.content
    uri = first.data["uri"]
    assert uri.startswith(f"gs://{BUCKET}/gto-datasets/train-") and uri.endswith(".jsonl")
    assert first.data["md5"] == base64.b64encode(hashlib.md5(train_file.read_bytes()).digest()).decode()
    assert vctx.workspace.dataset(uri)["source"] == str(train_file.resolve())
    blob = backend.gcs.client().bucket(BUCKET).get_blob(uri.split("/", 3)[3])
    generation = blob.generation
    assert blob.download_as_bytes() == train_file.read_bytes() and blob.content_type == "application/jsonl"

    again = dispatch("upload_to_gcs", {"path": str(train_file)}, vctx)
    assert again.data["skipped"] and again.data["uri"] == uri
    assert backend.gcs.client().bucket(BUCKET).get_blob(blob.name).generation == generation  # not rewritten


def test_different_content_under_a_taken_name_is_refused(
        backend: VertexBackend, vctx: ToolContext, gcs: str, train_file: Path, tmp_path: Path) -> None:
    target = f"gs://{BUCKET}/data/train.jsonl"
    assert not dispatch("upload_to_gcs", {"path": str(train_file), "destination": target}, vctx).is_error
    other = tmp_path / "other.jsonl"
    other.write_text('{"contents": []}\n')
    refused = dispatch("upload_to_gcs", {"path": str(other), "destination": target}, vctx)
    assert refused.is_error and "already exists with different content" in refused.content
    kept = backend.gcs.client().bucket(BUCKET).get_blob("data/train.jsonl").download_as_bytes()
    assert kept == train_file.read_bytes()


def test_bucket_is_created_only_with_consent(
        backend: VertexBackend, vctx: ToolContext, approvals: Approvals, gcs: str, train_file: Path) -> None:
    missing = dispatch("upload_to_gcs", {"path": str(train_file), "bucket": "fresh-bucket"}, vctx)
    assert missing.is_error and "create_bucket=true" in missing.content
    assert len(approvals.questions) == 1 and "not the configured bucket" in approvals.questions[0][1]

    approvals.answer = False
    declined = dispatch("upload_to_gcs", {"path": str(train_file), "bucket": "fresh-bucket",
                                          "create_bucket": True}, vctx)
    assert declined.data["declined"] and "Create the Cloud Storage bucket gs://fresh-bucket" in approvals.questions[1][1]
    assert not backend.gcs.bucket_exists("fresh-bucket")

    approvals.answer = True
    made = dispatch("upload_to_gcs", {"path": str(train_file), "bucket": "fresh-bucket", "create_bucket": True},
                    vctx)
    assert made.data["bucket_created"] and backend.gcs.bucket_exists("fresh-bucket")
    assert len(approvals.questions) == 3
    # The bucket exists now: nothing to create, but it is still not the configured bucket, so that is asked.
    dispatch("upload_to_gcs", {"path": str(train_file), "bucket": "fresh-bucket", "create_bucket": True}, vctx)
    assert len(approvals.questions) == 4 and "not the configured bucket" in approvals.questions[3][1]


def test_a_bucket_other_than_the_configured_one_asks_first(
        backend: VertexBackend, vctx: ToolContext, approvals: Approvals, gcs: str, train_file: Path) -> None:
    backend.gcs.client().create_bucket("strangers-bucket")
    approvals.answer = False
    for arguments in ({"bucket": "strangers-bucket"}, {"destination": "gs://strangers-bucket/x/train.jsonl"}):
        refused = dispatch("upload_to_gcs", {"path": str(train_file), **arguments}, vctx)
        assert refused.is_error and refused.data["declined"]
    assert list(backend.gcs.client().list_blobs("strangers-bucket")) == []
    assert not dispatch("upload_to_gcs", {"path": str(train_file)}, vctx).is_error  # the configured one: no question
    assert len(approvals.questions) == 2


def test_large_file_goes_up_resumably_in_chunks(
        backend: VertexBackend, vctx: ToolContext, gcs: str, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    line = b'{"contents": [{"role": "user", "parts": [{"text": "' + b"x" * 1000 + b'"}]}]}\n'
    big.write_bytes(line * 9000)  # ~9.1 MB: above the library's 8 MiB single-request limit
    backend.gcs.chunk_size = 2 * 1024 * 1024
    seen: list[str] = []
    backend.gcs.client()._http.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.url))
    result = dispatch("upload_to_gcs", {"path": str(big)}, vctx)
    assert not result.is_error, result.content
    assert any("uploadType=resumable" in url for url in seen)
    assert sum("upload_id=" in url for url in seen) >= 5  # one request per 2 MiB chunk
    name = result.data["uri"].split("/", 3)[3]
    assert backend.gcs.client().bucket(BUCKET).get_blob(name).size == big.stat().st_size
