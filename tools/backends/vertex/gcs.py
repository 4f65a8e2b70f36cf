"""Cloud Storage through google-cloud-storage: checksummed, resumable dataset uploads and bucket facts for preflight.

STORAGE_EMULATOR_HOST (the library's own switch) points everything at an emulator; no credentials are needed then.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import google_crc32c
from google.api_core.exceptions import Conflict, PreconditionFailed
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from tools.backends.base import UploadResult
from tools.backends.vertex.client import VertexConnection
from tools.backends.vertex.errors import guidance
from tools.errors import ToolError

MIB = 1024 * 1024
DEFAULT_PREFIX = "gto-datasets/"
# Roles whose holders may read objects; a service agent holding one on the bucket can read the dataset.
READER_ROLES = {"roles/storage.objectViewer", "roles/storage.objectAdmin", "roles/storage.admin",
                "roles/storage.objectUser", "roles/storage.legacyObjectReader", "roles/storage.legacyObjectOwner"}


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or len(uri) <= 5:
        raise ToolError(f"{uri!r} is not a Cloud Storage URI.", "Use gs://BUCKET/PATH.jsonl.")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def checksums(path: Path) -> tuple[str, str, str]:
    """(md5 base64, crc32c base64, md5 hex) as Cloud Storage reports them."""
    md5, crc = hashlib.md5(), google_crc32c.Checksum()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            md5.update(block)
            crc.update(block)
    return base64.b64encode(md5.digest()).decode(), base64.b64encode(crc.digest()).decode(), md5.hexdigest()


class CloudStorage:
    def __init__(self, conn: VertexConnection, chunk_size: int = 8 * MIB):
        self.conn = conn
        # Files larger than this go up resumably in chunks of this size (a multiple of 256 KiB).
        self.chunk_size = chunk_size
        self._client: storage.Client | None = None

    def _retry(self) -> Any:
        """The library's own retry (transient errors, conditional on preconditions), bounded by our policy."""
        policy = self.conn.retry
        return DEFAULT_RETRY.with_delay(initial=policy.initial_delay, maximum=policy.max_delay).with_timeout(
            policy.max_delay * policy.attempts)

    def client(self) -> storage.Client:
        if self._client is None:
            if os.environ.get("STORAGE_EMULATOR_HOST"):
                self._client = storage.Client(project=self.conn.settings.project,
                                              credentials=self.conn.given_credentials)
            else:
                self._client = storage.Client(project=self.conn.project, credentials=self.conn.credentials)
        return self._client

    def _fail(self, exc: Exception, action: str, bucket: str) -> ToolError:
        return guidance(exc, self.conn.situation(action, bucket=bucket))

    def bucket_exists(self, name: str) -> bool:
        try:
            return bool(self.client().bucket(name).exists(retry=self._retry(), timeout=self.conn.retry.timeout_s))
        except ToolError:
            raise
        except Exception as exc:
            raise self._fail(exc, f"look up bucket gs://{name}", name) from exc

    def upload(self, path: Path, uri: str, create_bucket: bool = False) -> UploadResult:
        """Upload unless an identical object is there; refuse to overwrite different content."""
        if not path.is_file():
            raise ToolError(f"{path} is not a file.", "Pass the path of the JSONL dataset to upload.")
        bucket_name, name = split_uri(uri)
        md5, crc, md5_hex = checksums(path)
        if not name or name.endswith("/"):
            name = (name or DEFAULT_PREFIX) + f"{path.stem}-{md5_hex[:10]}{path.suffix}"
        uri, size = f"gs://{bucket_name}/{name}", path.stat().st_size
        try:
            bucket = self.client().bucket(bucket_name)
            created = False
            retry, timeout = self._retry(), self.conn.retry.timeout_s
            if not bucket.exists(retry=retry, timeout=timeout):
                if not create_bucket:
                    raise ToolError(
                        f"Bucket gs://{bucket_name} does not exist.",
                        "Call upload_to_gcs again with create_bucket=true (it asks first), or run: gcloud storage "
                        f"buckets create gs://{bucket_name} --project={self.conn.settings.project or 'PROJECT_ID'} "
                        f"--location={self.conn.region} --uniform-bucket-level-access")
                new = storage.Bucket(self.client(), name=bucket_name)
                new.iam_configuration.uniform_bucket_level_access_enabled = True
                try:
                    # Not retried: after a lost answer a second create would fail on the bucket the first one made.
                    self.client().create_bucket(new, location=self.conn.region, retry=None, timeout=timeout)
                except Conflict as exc:
                    raise ToolError(f"The bucket name {bucket_name} is taken (bucket names are global).",
                                    "Choose another bucket name.") from exc
                created = True
            existing = bucket.get_blob(name, retry=retry, timeout=timeout)
            if existing is not None:
                if existing.md5_hash == md5 or (existing.md5_hash is None and existing.crc32c == crc):
                    return UploadResult(uri=uri, bytes=size, skipped=True, md5=md5, bucket_created=created)
                raise ToolError(
                    f"{uri} already exists with different content (md5 {existing.md5_hash}, this file {md5}).",
                    "Leave destination empty for a name derived from the content, choose another destination, "
                    f"or remove the old object first: gcloud storage rm {uri}")
            blob = bucket.blob(name, chunk_size=self.chunk_size if size > self.chunk_size else None)
            # Generation 0: create only; a retried or concurrent upload can never replace someone else's object.
            try:
                blob.upload_from_filename(str(path), content_type="application/jsonl", if_generation_match=0,
                                          retry=retry, timeout=max(timeout, 60.0))
            except PreconditionFailed:
                # Already there: our own retried upload whose answer was lost, or a concurrent identical one.
                blob = bucket.get_blob(name, retry=retry, timeout=timeout)
                if blob is None or blob.md5_hash != md5:
                    raise
        except ToolError:
            raise
        except Exception as exc:
            raise self._fail(exc, f"upload {path.name} to {uri}", bucket_name) from exc
        if blob.md5_hash and blob.md5_hash != md5:
            raise ToolError(f"{uri} arrived with checksum {blob.md5_hash}, not {md5}: the upload was corrupted.",
                            f"Remove it (gcloud storage rm {uri}) and upload again.")
        return UploadResult(uri=uri, bytes=size, skipped=False, md5=md5, bucket_created=created)

    def bucket_facts(self, name: str) -> dict[str, Any] | None:
        """Project number and IAM bindings of a bucket, or None when it does not exist; raises on other failures."""
        retry, timeout = self._retry(), self.conn.retry.timeout_s
        bucket = self.client().lookup_bucket(name, retry=retry, timeout=timeout)
        if bucket is None:
            return None
        facts: dict[str, Any] = {"project_number": str(bucket.project_number or ""), "location": bucket.location,
                                 "readers": None}
        try:
            policy = bucket.get_iam_policy(requested_policy_version=3, retry=retry, timeout=timeout)
            facts["readers"] = {m for b in policy.bindings if b["role"] in READER_ROLES for m in b["members"]}
        except Exception as exc:
            facts["policy_error"] = str(exc)
        return facts

    def bucket_permissions(self, name: str, permissions: list[str]) -> set[str]:
        return set(self.client().bucket(name).test_iam_permissions(permissions, retry=self._retry(),
                                                                    timeout=self.conn.retry.timeout_s))
