"""Project-level views: liveness and readiness checks and the CSP report
endpoint (the account pages are ``accounts.views``)."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

csp_logger = logging.getLogger("cairn.csp")

# A health check answers fast: one attempt per component, short timeouts.
BROKER_TIMEOUT_SECONDS = 2


def _check_database() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _check_broker(url: str) -> str:
    from .celery import app

    try:
        # The URL is read now, not from Celery's cached configuration.
        with app.connection_for_write(
            url, connect_timeout=BROKER_TIMEOUT_SECONDS
        ) as conn:
            conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any broker failure is "down"
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _check_cache() -> str:
    from django.core.cache import cache

    key = "cairn:readyz"
    try:
        cache.set(key, "1", 10)
        if cache.get(key) != "1":
            return "error: the cache did not keep a value"
    except Exception as exc:  # noqa: BLE001 - any cache failure is "down"
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _check_migrations() -> str:
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections["default"])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok" if not plan else f"error: {len(plan)} migrations not applied"


@never_cache
@require_GET
def healthz(request):
    """Liveness: 200 while the process answers requests. It reads nothing
    else, so an outage of the database or broker (``/readyz``) does not get
    healthy web processes restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Readiness: 200 with component states when the database, the broker,
    the cache and the migrations are ready; 503 when one is not.

    ``{"database": "ok", "broker": "ok" | "not configured ...", "cache": "ok",
    "migrations": "ok", "status": "ok"}``; a failing component reads
    ``"error: <ExceptionClass>"`` (no details leak).
    """
    body = {"database": _check_database()}
    if settings.CELERY_BROKER_URL:
        body["broker"] = _check_broker(settings.CELERY_BROKER_URL)
    else:
        body["broker"] = "not configured (tasks run eagerly)"
    body["cache"] = _check_cache()
    if body["database"] == "ok":
        body["migrations"] = _check_migrations()
    else:
        body["migrations"] = "error: database unavailable"
    healthy = all(not str(v).startswith("error") for v in body.values())
    body["status"] = "ok" if healthy else "unavailable"
    return JsonResponse(body, status=200 if healthy else 503)


# Content-Security-Policy violation reports ------------------------------------

# The fields of a report worth a log line, in both formats browsers send:
# ``application/csp-report`` (report-uri, kebab-case) and
# ``application/reports+json`` (the Reporting API, camelCase).
_CSP_FIELDS = {
    "document": ("document-uri", "documentURL"),
    "directive": ("effective-directive", "effectiveDirective", "violated-directive"),
    "blocked": ("blocked-uri", "blockedURL"),
    "source": ("source-file", "sourceFile"),
    "line": ("line-number", "lineNumber"),
    "sample": ("script-sample", "sample"),
}
_CSP_VALUE_CHARS = 300


def _csp_violations(payload) -> list[dict]:
    """The violation bodies in a parsed report (either format)."""
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        return [payload["csp-report"]]
    if isinstance(payload, list):
        return [
            item["body"]
            for item in payload
            if isinstance(item, dict)
            and item.get("type") == "csp-violation"
            and isinstance(item.get("body"), dict)
        ]
    return []


def _csp_field(body: dict, names: tuple[str, ...]) -> str:
    for name in names:
        value = body.get(name)
        if value not in (None, ""):
            return str(value)[:_CSP_VALUE_CHARS]
    return "-"


@csrf_exempt
@require_POST
def csp_report(request):
    """Receive a browser's Content-Security-Policy violation report and log
    it, one line per violation, on the ``cairn.csp`` logger (WARNING).

    Anyone may post (browsers send no cookie or CSRF token with reports), so
    the body is size-limited (``CAIRN_CSP_REPORT_MAX_BYTES``: 413 above it) and
    only known fields, truncated, reach the log. Answers 204; a body that is
    not a report answers 400; never 500.
    """
    limit = settings.CAIRN_CSP_REPORT_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return HttpResponse(status=413)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return HttpResponse(status=413)
    try:
        violations = _csp_violations(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, RecursionError):
        violations = []
    if not violations:
        return HttpResponse(status=400)
    user = getattr(request, "user", None)
    username = user.get_username() if user and user.is_authenticated else "-"
    for body in violations:
        fields = {key: _csp_field(body, names) for key, names in _CSP_FIELDS.items()}
        # %r quotes and escapes each value: a report cannot forge log lines.
        csp_logger.warning(
            "csp-violation directive=%r blocked=%r document=%r source=%r "
            "line=%r sample=%r user=%r",
            fields["directive"],
            fields["blocked"],
            fields["document"],
            fields["source"],
            fields["line"],
            fields["sample"],
            username,
        )
    return HttpResponse(status=204)
