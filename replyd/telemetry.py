"""What replyd tells its operators: Prometheus metrics (one registry per app, so tests can
build many apps) and one JSON log line per request. Never message text, tokens or secrets.

The workers of ``replyd serve --workers N`` share their metrics through prometheus-client's
multiprocess mode: ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers start (the
library reads it when first imported), every worker writes its values to files there, and a
scrape of any worker adds up the files of all of them."""

import json
import logging
import os
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Telemetry:
    def __init__(self, multiprocess_dir: str | None = None) -> None:
        """``multiprocess_dir``: the workers' shared metrics directory, or None for one process."""
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "replyd_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "replyd_http_request_seconds",
            "Time to answer an HTTP request",
            ["route", "method"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "replyd_model_call_seconds",
            "Time a model took to answer, retries included",
            ["provider"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.model_tokens = Counter(
            "replyd_model_tokens", "Tokens the models used", ["provider", "kind"], registry=self.registry
        )
        self.model_errors = Counter(
            "replyd_model_errors", "Model calls that failed", ["provider", "error_code"], registry=self.registry
        )
        self.function_calls = Counter(
            "replyd_function_calls", "Function calls by outcome", ["outcome"], registry=self.registry
        )
        self.rate_limited = Counter("replyd_rate_limited", "Requests refused by the rate limit", registry=self.registry)
        self.cuts = Counter(
            "replyd_history_cuts",
            "Cuts of a conversation's history into its rolling summary, by how the summary came",
            ["summary"],
            registry=self.registry,
        )
        self.summaries_ahead = Counter(
            "replyd_summaries_ahead",
            "Summaries written ahead in the background, by outcome (stored, refused, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.summaries_in_flight = Gauge(
            "replyd_summaries_ahead_in_flight",
            "Summaries being written ahead now",
            multiprocess_mode="livesum",  # the sum over the workers alive
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The metrics in Prometheus text format: this process's, or the whole worker group's."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        group = CollectorRegistry()
        MultiProcessCollector(group, self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(group)

    def close(self) -> None:
        """At a worker's exit: its gauges stop counting (its counters stay in the group's sums)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


class JsonFormatter(logging.Formatter):
    """One JSON object per line; fields passed with ``extra={"fields": {...}}`` join the top level."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_json_logs(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    JsonFormatter.converter = time.gmtime
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for chatty in ("httpx", "httpcore", "aiohttp"):  # a line per outgoing call; replyd logs the request
        logging.getLogger(chatty).setLevel(logging.WARNING)
