"""The few Google REST calls with no client library installed here: Service Usage and Resource Manager (over httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from tools.backends.vertex.client import VertexConnection, with_retries
from tools.backends.vertex.errors import RestError
from tools.secrets import redact

SERVICE_USAGE = "https://serviceusage.googleapis.com/v1"
RESOURCE_MANAGER = "https://cloudresourcemanager.googleapis.com/v3"


class GoogleRest:
    def __init__(self, conn: VertexConnection):
        self.conn = conn

    def request(self, method: str, url: str, action: str, body: dict[str, Any] | None = None,
                raw: bool = False) -> dict[str, Any]:
        """One authorized JSON call, retried on transient failures; then guidance, or the RestError when `raw`."""

        def once() -> dict[str, Any]:
            with httpx.Client(timeout=self.conn.retry.timeout_s) as http:
                response = http.request(method, url, json=body, headers=self.conn.access_headers())
            try:
                data = response.json() if response.content else {}
            except ValueError:
                data = {"error": {"message": redact(response.text)[:300]}}
            if response.status_code >= 400:
                raise RestError(url, response.status_code, data)
            return data

        return with_retries(once, self.conn.retry, self.conn.situation(action), raw=raw)

    def service_state(self, project: str, service: str) -> str:
        """ENABLED or DISABLED, from Service Usage."""
        data = self.request("GET", f"{SERVICE_USAGE}/projects/{project}/services/{service}",
                            f"read whether {service} is enabled", raw=True)
        return str(data.get("state", "STATE_UNSPECIFIED"))

    def project_number(self, project: str) -> str:
        data = self.request("GET", f"{RESOURCE_MANAGER}/projects/{project}", f"read project {project}", raw=True)
        return str(data.get("name", "")).removeprefix("projects/")

    def granted(self, project: str, permissions: list[str]) -> set[str]:
        """The subset of `permissions` the caller holds on the project (testIamPermissions)."""
        data = self.request("POST", f"{RESOURCE_MANAGER}/projects/{project}:testIamPermissions",
                            f"test your permissions on project {project}", {"permissions": permissions}, raw=True)
        return set(data.get("permissions") or [])
