"""upload_to_gcs: put a dataset where the tuning backend reads it (Cloud Storage for Vertex AI, the workspace for the
local backend). Backend-agnostic; a bucket is created only with consent."""

from __future__ import annotations

from pydantic import Field

from tools.backends.base import UploadResult
from tools.context import ToolContext
from tools.dataset.paths import shareable_dataset
from tools.errors import ToolError, ToolInput
from tools.registry import tool


class UploadInput(ToolInput):
    path: str = Field(description="local JSONL file to upload (validate it first)")
    bucket: str | None = Field(None, description="Cloud Storage bucket; default GTO_BUCKET")
    destination: str | None = Field(
        None, description="object name or gs:// URI; default a name derived from the file's content, so an "
                          "identical file is never uploaded twice")
    create_bucket: bool = Field(False, description="create the bucket if it does not exist (asks first)")
    backend: str | None = Field(None, description="vertex or local; default the configured backend")


def _bucket(args: UploadInput, ctx: ToolContext) -> str | None:
    if args.destination and args.destination.startswith("gs://"):
        return args.destination[5:].split("/", 1)[0] or None
    return args.bucket or ctx.settings.bucket


def _destination(args: UploadInput, ctx: ToolContext, backend: str) -> str | None:
    if backend != "vertex" or (args.destination and args.destination.startswith("gs://")):
        return args.destination
    bucket = _bucket(args, ctx)
    if bucket is None:
        raise ToolError("No Cloud Storage bucket was given.",
                        "Pass bucket=NAME (create_bucket=true makes it, after asking), or set GTO_BUCKET.")
    return f"gs://{bucket}/{(args.destination or '').lstrip('/')}"


def bucket_question(args: UploadInput, ctx: ToolContext) -> str | None:
    """Ask before creating a bucket (storage is billed) and before sending data to a bucket other than the configured
    one (a model told to by a poisoned file must not ship a dataset to a stranger's bucket); else nothing to ask."""
    try:
        backend = ctx.backend(args.backend)
        bucket = _bucket(args, ctx)
        if backend.name != "vertex" or bucket is None:
            return None
        if args.create_bucket:
            exists = getattr(backend, "bucket_exists", None)
            if exists is None or not exists(bucket):
                return _create_question(bucket, ctx)
    except ToolError:
        if args.create_bucket:  # cannot tell whether it exists: ask, and let the tool report the problem
            return _create_question(_bucket(args, ctx), ctx)
        return None
    if bucket == ctx.settings.bucket:
        return None
    configured = f"the configured bucket is gs://{ctx.settings.bucket}" if ctx.settings.bucket else "no bucket is " \
        "configured (GTO_BUCKET)"
    return (f"Upload {args.path} to gs://{bucket}? It is not the configured bucket ({configured}); whoever owns "
            "that bucket can read the dataset.")


def _create_question(bucket: str | None, ctx: ToolContext) -> str:
    where = f"project {ctx.settings.project or '(default)'}, location {ctx.settings.region or 'us-central1'}"
    return (f"Create the Cloud Storage bucket gs://{bucket} ({where}) for the datasets? Storage is billed per "
            "GB-month; a dataset of a few MB costs well under a cent a month.")


@tool(consent=bucket_question)
def upload_to_gcs(args: UploadInput, ctx: ToolContext) -> UploadResult:
    """Upload a local dataset file to Cloud Storage (or stage it for the local backend) and return its URI for
    create_tuning_job. An identical object already there is not uploaded again; large files go up resumably."""
    # Only a tuning dataset leaves the machine: never a key, a config file or /proc/self/environ.
    path = shareable_dataset(args.path, ctx, ctx.workspace.root)
    backend = ctx.backend(args.backend)
    destination = _destination(args, ctx, backend.name)
    ctx.report(f"Uploading {path.name} ({path.stat().st_size:,} bytes) to {destination or backend.name}")
    result = backend.upload(path, destination, args.create_bucket)
    ctx.workspace.record_dataset(result.uri, {"source": str(path.resolve())})
    ctx.report(f"{'Already there' if result.skipped else 'Uploaded'}: {result.uri}")
    return result
