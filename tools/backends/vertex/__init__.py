"""The Vertex AI backend: the only package that imports the Google SDKs (google-genai, google-cloud-storage,
google-cloud-aiplatform, google-auth). Loaded lazily by tools.backends.load_backend("vertex", workspace, settings)."""

from tools.backends.vertex.backend import VertexBackend
from tools.backends.vertex.client import RetryPolicy

__all__ = ["RetryPolicy", "VertexBackend"]
