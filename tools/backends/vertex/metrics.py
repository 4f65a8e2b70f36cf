"""A tuning job's training curves from Vertex AI Experiments: the job's experiment -> its backing TensorBoard ->
runs -> time series named like the metrics, read with google-cloud-aiplatform over REST.

google-cloud-aiplatform is imported here only, on first use: it takes seconds to import.
The TensorBoard API documents no step filter, so each read pages through a series and keeps the steps not yet
cached; the backend stops reading once the job has ended and its final points are stored.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from tools.backends.base import MetricPoint
from tools.backends.vertex.client import VertexConnection, with_retries

PAGE_SIZE = 10_000  # the API's maximum page
# aiplatform.init sets process-wide defaults (project, location, endpoint) that the resources made next pick up:
# one init + discovery at a time, so concurrent reads for jobs in different regions (MCP threads) cannot cross.
_INIT_LOCK = threading.Lock()


def _parts(resource: str) -> tuple[str | None, str | None]:
    m = re.match(r"projects/([^/]+)/locations/([^/]+)/", resource)
    return (m.group(1), m.group(2)) if m else (None, None)


def _host(location: str) -> str:
    if location == "global":
        return "aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


class MetricsReader:
    def __init__(self, conn: VertexConnection):
        self.conn = conn
        self._series: dict[str, dict[str, Any]] = {}  # experiment -> metric name -> TensorboardTimeSeries

    def _aiplatform(self, experiment: str) -> Any:
        from google.cloud import aiplatform

        project, location = _parts(experiment)
        location = location or self.conn.region
        # aiplatform.init is process-wide and keeps an endpoint once set: always name the one wanted.
        aiplatform.init(project=project or self.conn.project, location=location,
                        credentials=self.conn.credentials, api_transport="rest",
                        api_endpoint=self.conn.base_url_override() or _host(location))
        return aiplatform

    def _discover(self, experiment: str) -> dict[str, Any]:
        with _INIT_LOCK:
            return self._discover_locked(experiment)

    def _discover_locked(self, experiment: str) -> dict[str, Any]:
        from google.api_core import exceptions as core

        aiplatform = self._aiplatform(experiment)
        try:
            exp = aiplatform.Experiment(experiment)
        except core.NotFound:
            return {}  # the service creates the experiment when training starts
        board = exp.get_backing_tensorboard_resource()
        if board is None:
            return {}
        found: dict[str, Any] = {}
        runs = aiplatform.TensorboardRun.list(
            tensorboard_experiment_name=f"{board.resource_name}/experiments/{exp.name}")
        for run in runs:
            for series in aiplatform.TensorboardTimeSeries.list(tensorboard_run_name=run.resource_name):
                found.setdefault(series.display_name, series)
        return found

    def series(self, experiment: str, wanted: tuple[str, ...]) -> dict[str, Any]:
        """The time series of an experiment; discovered again while some wanted metric has not appeared yet."""
        known = self._series.get(experiment, {})
        if not all(name in known for name in wanted):
            known = with_retries(lambda: self._discover(experiment), self.conn.retry,
                                 self.conn.situation("find the job's metrics in Vertex AI Experiments"))
            self._series[experiment] = known
        return known

    def read(self, experiment: str, after: dict[str, int], wanted: tuple[str, ...]) -> dict[str, list[MetricPoint]]:
        """Points with step > after[name] for each wanted metric the experiment holds."""
        out: dict[str, list[MetricPoint]] = {}
        for name, series in self.series(experiment, wanted).items():
            if name not in wanted:
                continue
            points = with_retries(lambda s=series: self._export(s), self.conn.retry,
                                  self.conn.situation(f"read metric {name}"))
            last = after.get(name, -1)
            out[name] = sorted((p for p in points if p.step > last), key=lambda p: p.step)
        return out

    def _export(self, series: Any) -> list[MetricPoint]:
        pager = series.api_client.export_tensorboard_time_series_data(
            request={"tensorboard_time_series": series.resource_name, "page_size": PAGE_SIZE},
            timeout=self.conn.retry.timeout_s)
        points = []
        for p in pager:
            wall = p.wall_time.timestamp() if p.wall_time else None
            points.append(MetricPoint(step=int(p.step), value=float(p.scalar.value), wall_time=wall))
        return points
