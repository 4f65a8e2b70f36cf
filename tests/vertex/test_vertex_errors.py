"""Google errors, built with the SDKs' own exception types from documented JSON, turned into guidance."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import requests
from google.api_core import exceptions as core
from google.auth import exceptions as auth_errors
from google.genai import errors as genai_errors

from tools.backends.vertex.errors import Situation, guidance, is_transient

HERE = Situation(action="create the tuning job", project="my-proj", region="us-central1",
                 member="user:ada@example.com", bucket="data-bucket",
                 datasets={"training_dataset_uri": ("gs://data-bucket/train.jsonl", "/home/ada/train.jsonl")})


def genai_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> Exception:
    body = {"error": {"code": code, "status": status, "message": message, "details": details or []}}
    return genai_errors.ClientError(code, body) if code < 500 else genai_errors.ServerError(code, body)


def storage_error(code: int, message: str) -> core.GoogleAPICallError:
    """What google-cloud-storage raises for a JSON API error answer."""
    response = requests.Response()
    response.status_code = code
    response._content = json.dumps({"error": {"code": code, "message": message,
                                              "errors": [{"message": message, "reason": "forbidden"}]}}).encode()
    response.request = requests.Request("GET", "https://storage.googleapis.com/storage/v1/b/data-bucket/o/x").prepare()
    return core.from_http_response(response)


def test_permission_denied_names_the_role_and_the_command() -> None:
    exc = genai_error(403, "PERMISSION_DENIED", "Permission 'aiplatform.tuningJobs.create' denied on resource.")
    err = guidance(exc, HERE)
    assert "ada@example.com lacks aiplatform.tuningJobs.create, which roles/aiplatform.user holds" in err.message
    assert err.hint == ("Run: gcloud projects add-iam-policy-binding my-proj --member=user:ada@example.com "
                        "--role=roles/aiplatform.user")


def test_a_service_agent_that_cannot_read_the_bucket_gets_the_bucket_grant() -> None:
    agent = "service-42@gcp-sa-vertex-tune.iam.gserviceaccount.com"
    err = guidance(storage_error(403, f"{agent} does not have storage.objects.get access to the Google Cloud "
                                      "Storage object."), HERE)
    assert err.hint == (f"Run: gcloud storage buckets add-iam-policy-binding gs://data-bucket "
                        f"--member=serviceAccount:{agent} --role=roles/storage.objectViewer")


def test_disabled_api_quota_not_found_and_credentials() -> None:
    disabled = genai_error(403, "PERMISSION_DENIED", "Vertex AI API has not been used in project 42 before.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
         "metadata": {"service": "aiplatform.googleapis.com"}}])
    assert "gcloud services enable aiplatform.googleapis.com --project=my-proj" in guidance(disabled, HERE).hint
    quota = guidance(genai_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."), HERE, tries=4)
    assert "Global concurrent tuning jobs" in quota.message and "4 tries" in quota.message
    missing = guidance(genai_error(404, "NOT_FOUND", "TuningJob 9 not found."), HERE)
    assert "region us-central1" in missing.hint
    assert guidance(auth_errors.DefaultCredentialsError("none"), HERE).hint.startswith(
        "Run: gcloud auth application-default login")
    assert "gcloud auth application-default login" in guidance(auth_errors.RefreshError("expired"), HERE).hint


def test_invalid_dataset_points_to_the_local_file_and_validate_dataset() -> None:
    exc = genai_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.", [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
            {"field": "tuning_job.supervised_tuning_spec.training_dataset_uri",
             "description": "Training dataset uri should be a GCS object of type JSONL."}]}])
    err = guidance(exc, HERE)
    assert "training_dataset_uri: Training dataset uri should be a GCS object of type JSONL." in err.message
    assert "validate_dataset on /home/ada/train.jsonl" in err.hint


def test_secrets_never_reach_the_message() -> None:
    exc = genai_error(400, "INVALID_ARGUMENT", "Bad header Authorization: Bearer ya29.a0AfH6SMB-secret-token-123 "
                                               "and key AIzaSyA-secret-key-0123456789abcdef")
    err = guidance(exc, HERE)
    assert "ya29.a0AfH6SMB" not in str(err) and "AIzaSyA-secret" not in str(err) and "[REDACTED]" in str(err)


@pytest.mark.parametrize(("exc", "transient"), [
    (genai_error(503, "UNAVAILABLE", "x"), True),
    (genai_error(429, "RESOURCE_EXHAUSTED", "x"), True),
    (genai_error(500, "INTERNAL", "x"), True),
    (httpx.ReadTimeout("t"), True),
    (requests.exceptions.ConnectionError("c"), True),
    (core.ServiceUnavailable("x"), True),
    (genai_error(400, "INVALID_ARGUMENT", "x"), False),
    (genai_error(403, "PERMISSION_DENIED", "x"), False),
    (ValueError("ours"), False),
])
def test_what_is_retried(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


PUBLISHER_404 = ("Publisher Model `projects/my-proj/locations/us-central1/publishers/google/models/{model}` was not "
                 "found or your project does not have access to it. Please ensure you are using a valid model "
                 "version. For more information, see: "
                 "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions")


def test_publisher_model_not_found_for_a_retired_model_names_its_successor() -> None:
    # The REST body Vertex sends (googlecodelabs/feedback#1881, genkit-ai/genkit#4688; research notes 2026-12-07).
    err = guidance(genai_error(404, "NOT_FOUND", PUBLISHER_404.format(model="gemini-2.5-flash")), HERE)
    assert "was retired on 2026-10-20" in err.message
    assert "Use gemini-3.5-flash-lite instead (base_model='gemini-3.5-flash-lite')" in (err.hint or "")


def test_publisher_model_not_found_for_a_live_model_points_to_its_locations() -> None:
    err = guidance(genai_error(404, "NOT_FOUND", PUBLISHER_404.format(model="gemini-3.8-flash")), HERE)
    assert "not retired" in (err.hint or "") and "export GOOGLE_CLOUD_LOCATION=us" in (err.hint or "")
    older = guidance(genai_error(404, "NOT_FOUND", "Publisher Model `projects/1/locations/global/publishers/google/"
                                                   "models/gemini-2.0-flash-001` not found."), HERE)
    assert "gemini-3.5-flash-lite" in (older.hint or "")
