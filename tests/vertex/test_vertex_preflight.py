"""check_environment for Vertex AI: Service Usage and Resource Manager answered by respx in their documented REST
shapes, the bucket by the Cloud Storage emulator; every failed check must carry the command that fixes it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx
from vertex_fakes import BUCKET, PROJECT

from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.settings import Settings
from tools.registry import dispatch
from tools.workspace import Workspace

USAGE = "https://serviceusage.googleapis.com/v1/projects/my-proj/services"
MANAGER = "https://cloudresourcemanager.googleapis.com/v3/projects/my-proj"
EMULATOR_PROJECT_NUMBER = "1234"  # gcp-storage-emulator's projectNumber for the buckets it creates


class GoogleApis:
    """Service Usage and Resource Manager as respx routes, with the answers a test sets."""

    def __init__(self, mock: respx.MockRouter):
        self.states = {"aiplatform.googleapis.com": "ENABLED", "storage.googleapis.com": "ENABLED"}
        self.withheld: set[str] = set()
        self.number = EMULATOR_PROJECT_NUMBER
        self.refused: dict | None = None  # an error body: Service Usage and project reads answer 403 with it
        self.refuse_permission_test = False  # testIamPermissions too (Resource Manager API disabled)
        mock.get(url__regex=rf"{USAGE}/(?P<service>[a-z.]+)$").mock(side_effect=self._service)
        mock.post(f"{MANAGER}:testIamPermissions").mock(side_effect=self._test_permissions)
        mock.get(MANAGER).mock(side_effect=self._project)

    def _project(self, request: httpx.Request) -> httpx.Response:
        if self.refused:
            return httpx.Response(403, json=self.refused)
        return httpx.Response(200, json={"name": f"projects/{self.number}", "projectId": PROJECT, "state": "ACTIVE",
                                         "displayName": "My project"})

    def _service(self, request: httpx.Request, service: str) -> httpx.Response:
        if self.refused:
            return httpx.Response(403, json=self.refused)
        return httpx.Response(200, json={"name": f"projects/{self.number}/services/{service}",
                                         "config": {"name": service}, "state": self.states[service],
                                         "parent": f"projects/{self.number}"})

    def _test_permissions(self, request: httpx.Request) -> httpx.Response:
        if self.refused and self.refuse_permission_test:
            return httpx.Response(403, json=self.refused)
        asked = json.loads(request.content)["permissions"]
        return httpx.Response(200, json={"permissions": [p for p in asked if p not in self.withheld]})


@pytest.fixture
def apis() -> Iterator[GoogleApis]:
    with respx.mock(assert_all_called=False) as mock:
        yield GoogleApis(mock)


def checks(result) -> dict[str, dict]:
    assert not result.is_error, result.content
    return {c["name"]: c for c in result.data["checks"]}


def test_everything_in_place(backend: VertexBackend, vctx: ToolContext, apis: GoogleApis, gcs: str) -> None:
    result = dispatch("check_environment", {}, vctx)
    found = checks(result)
    assert result.data["ok"] and result.data["project"] == PROJECT
    assert set(found) == {"credentials", "project", "region", "vertex_ai_api", "permissions", "storage_api",
                          "bucket", "bucket_access", "service_agent_access"}
    assert all(c["fix"] is None for c in found.values())


def test_each_failure_comes_with_its_fix(backend: VertexBackend, vctx: ToolContext, apis: GoogleApis,
                                         gcs: str) -> None:
    apis.states["aiplatform.googleapis.com"] = "DISABLED"
    apis.withheld = {"aiplatform.tuningJobs.create", "aiplatform.endpoints.predict"}
    apis.number = "555"  # the bucket belongs to another project
    found = checks(dispatch("check_environment", {"bucket": BUCKET}, vctx))
    assert found["vertex_ai_api"]["fix"] == "gcloud services enable aiplatform.googleapis.com --project=my-proj"
    assert "aiplatform.tuningJobs.create" in found["permissions"]["detail"]
    assert found["permissions"]["fix"] == ('gcloud projects add-iam-policy-binding my-proj --member="user:$(gcloud '
                                           'config get-value account)" --role=roles/aiplatform.user')
    agent = "serviceAccount:service-555@gcp-sa-aiplatform.iam.gserviceaccount.com"
    assert found["service_agent_access"]["fix"] == (
        f"gcloud storage buckets add-iam-policy-binding gs://{BUCKET} --member={agent} "
        "--role=roles/storage.objectViewer")
    assert [name for name, c in found.items() if not c["ok"]] == [
        "vertex_ai_api", "permissions", "service_agent_access"]

    # Running the suggested grant makes that check pass.
    bucket = backend.gcs.client().bucket(BUCKET)
    policy = bucket.get_iam_policy()
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {agent}})
    bucket.set_iam_policy(policy)
    assert checks(dispatch("check_environment", {"bucket": BUCKET}, vctx))["service_agent_access"]["ok"]


def test_missing_bucket_and_unknown_region(backend: VertexBackend, vctx: ToolContext, apis: GoogleApis,
                                           gcs: str) -> None:
    found = checks(dispatch("check_environment", {"bucket": "no-such-bucket", "region": "mars-north1"}, vctx))
    assert found["bucket"]["fix"] == ("gcloud storage buckets create gs://no-such-bucket --project=my-proj "
                                      "--location=mars-north1 --uniform-bucket-level-access")
    assert not found["region"]["ok"] and found["region"]["fix"] == "export GOOGLE_CLOUD_LOCATION=us-central1"


def test_region_lists_only_models_tunable_today(backend: VertexBackend, vctx: ToolContext, apis: GoogleApis,
                                               gcs: str) -> None:
    region = checks(dispatch("check_environment", {"region": "asia-east1", "project": PROJECT}, vctx))["region"]
    assert not region["ok"] and "gemini-2.5-flash" not in region["detail"]  # retired: no reason to tune there
    assert "gemini-3.5-flash-lite (us, eu, us-central1, europe-west4)" in region["detail"]
    legacy = checks(dispatch("check_environment", {"region": "us-central1", "project": PROJECT}, vctx))["region"]
    assert legacy["ok"] and "GOOGLE_CLOUD_LOCATION=us" in legacy["detail"]


def test_checks_that_cannot_be_performed_are_unverified_not_failed(
        backend: VertexBackend, vctx: ToolContext, apis: GoogleApis, gcs: str) -> None:
    apis.refused = {"error": {"code": 403, "status": "PERMISSION_DENIED",
                              "message": "Permission denied on resource project my-proj (or it may not exist)."}}
    apis.number = "555"  # the bucket's project differs, so the project number is needed
    result = dispatch("check_environment", {"bucket": BUCKET}, vctx)
    found = checks(result)
    assert result.data["ok"], "a check that could not be made must not block"
    for name in ("vertex_ai_api", "service_agent_access"):
        assert found[name]["status"] == "unverified" and found[name]["ok"], name
    assert "gcloud services list --enabled" in found["vertex_ai_api"]["fix"]
    assert "gcloud projects describe my-proj --format='value(projectNumber)'" in found["service_agent_access"]["fix"]
    assert found["permissions"]["status"] == "passed"
    apis.refuse_permission_test = True
    again = dispatch("check_environment", {"bucket": BUCKET}, vctx)
    permissions = checks(again)["permissions"]
    assert again.data["ok"] and permissions["status"] == "unverified" and "get-iam-policy my-proj" in \
        permissions["fix"]


def test_api_key_client_is_refused_for_tuning(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaSyD-not-a-real-key-0123456789")
    ctx = ToolContext(workspace=workspace, settings=Settings(backend="vertex"), approve=lambda *_: True)
    report = dispatch("check_environment", {}, ctx)
    assert not report.data["ok"]
    mode = checks(report)["vertex_mode"]
    assert "gcs_uri is not supported" in mode["detail"] and "GOOGLE_GENAI_USE_ENTERPRISE=true" in mode["fix"]
    created = dispatch("create_tuning_job", {"training_dataset_uri": "gs://b/train.jsonl"}, ctx)
    assert created.is_error and "Developer API" in created.content
    assert "AIzaSyD-not-a-real-key" not in report.content + created.content


def test_no_credentials_points_to_adc_login(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.compute_engine import _metadata

    # google-auth's documented NO_GCE_CHECK switch, read when it is imported: skip probing for a metadata server.
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    ctx = ToolContext(workspace=workspace, settings=Settings(project=PROJECT, backend="vertex"))
    found = checks(dispatch("check_environment", {}, ctx))
    assert found["credentials"]["fix"] == "gcloud auth application-default login"
    assert not dispatch("check_environment", {}, ctx).data["ok"]
