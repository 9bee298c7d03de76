"""Prometheus metrics at ``/metrics`` (protected).

Counted in each web process by :class:`MetricsMiddleware`:

- ``cairn_http_requests_total{method, route, status}``
- ``cairn_http_request_duration_seconds{method, route}`` (histogram)

Read when scraped, from the shared services (so any web process answers the
same):

- ``cairn_celery_queue_depth{queue}``: messages waiting in each Redis queue
- ``cairn_outbox_pending``: notifications not yet delivered, and
  ``cairn_outbox_pending_oldest_seconds``: the age of the oldest
- ``cairn_escalation_sweep_duration_seconds`` and
  ``cairn_escalation_sweep_finished_timestamp``: the last sweep, as the worker
  recorded it in the shared cache

With several gunicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory (``make serve`` does): every process then writes its counters there
and a scrape adds them up. ``/metrics`` answers a bearer token
(``METRICS_TOKEN``) or a signed-in superuser; everyone else gets 401.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

SWEEP_KEY = "cairn:metrics:escalation-sweep"

REQUESTS = Counter(
    "cairn_http_requests_total",
    "HTTP requests answered, by method, route name and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "cairn_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route name.",
    ["method", "route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class MetricsMiddleware:
    """Count and time every request by its route name (never its path, which
    would make a series per object)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match else None) or "unmatched"
        method = request.method if request.method in _METHODS else "other"
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def sweep_recorded(duration: float) -> None:
    """Called by the escalation sweep task: its duration, for the scrape."""
    cache.set(SWEEP_KEY, {"duration": duration, "finished": time.time()}, None)


class SharedStateCollector(Collector):
    """Figures read at scrape time from the broker, the database and the cache."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "cairn_celery_queue_depth",
            "Task messages waiting in the broker, by queue.",
            labels=["queue"],
        )
        for queue, size in _queue_depths().items():
            depth.add_metric([queue], size)
        yield depth

        from portal.models import Notification

        pending = Notification.objects.pending()
        count = pending.count()
        yield GaugeMetricFamily(
            "cairn_outbox_pending", "Notifications not yet delivered.", value=count
        )
        oldest = pending.order_by("created_at").values_list("created_at", flat=True)
        first = oldest.first() if count else None
        age = (timezone.now() - first).total_seconds() if first else 0.0
        yield GaugeMetricFamily(
            "cairn_outbox_pending_oldest_seconds",
            "Age of the oldest undelivered notification.",
            value=age,
        )
        sweep = cache.get(SWEEP_KEY) or {}
        yield GaugeMetricFamily(
            "cairn_escalation_sweep_duration_seconds",
            "Duration of the last escalation sweep.",
            value=sweep.get("duration", 0.0),
        )
        yield GaugeMetricFamily(
            "cairn_escalation_sweep_finished_timestamp",
            "When the last escalation sweep finished (Unix time; 0: never).",
            value=sweep.get("finished", 0.0),
        )


def _queue_depths() -> dict[str, int]:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {}
    import redis

    queues = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", None) or "celery"}
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return {queue: int(client.llen(queue)) for queue in sorted(queues)}
    except redis.RedisError:
        return {}


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(SharedStateCollector())
    return registry


def _authorised(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    sent = request.headers.get("Authorization", "")
    if token and sent.startswith("Bearer "):
        return hmac.compare_digest(sent.removeprefix("Bearer ").strip(), token)
    user = request.user
    return user.is_authenticated and user.is_active and user.is_superuser


@never_cache
@require_GET
def metrics(request):
    """The Prometheus text exposition, for a scraper holding METRICS_TOKEN."""
    if not _authorised(request):
        response = JsonResponse(
            {"detail": "Metrics need a bearer token (METRICS_TOKEN)."}, status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
