"""Project-level views: liveness and readiness checks, and the account pages
(admin look)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


class AdminLookMixin:
    """Render an account page inside the admin's layout (header, user tools)."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request))
        context["site_header"] = "Cairn"
        return context


class LoginView(AdminLookMixin, auth_views.LoginView):
    """Django's login view, in the admin's look. django-axes counts failures."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


class PasswordChangeView(AdminLookMixin, auth_views.PasswordChangeView):
    """Change one's own password (the old one is asked for)."""


class PasswordChangeDoneView(AdminLookMixin, auth_views.PasswordChangeDoneView):
    """Confirms the change; the session stays signed in."""
