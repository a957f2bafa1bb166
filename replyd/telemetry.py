"""What replyd tells its operators: Prometheus metrics (one registry per app, so tests can
build many apps) and one JSON log line per request. Never message text, tokens or secrets."""

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Telemetry:
    def __init__(self) -> None:
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
            "replyd_summaries_ahead_in_flight", "Summaries being written ahead now", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


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
