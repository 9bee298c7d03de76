"""Routes of the project package: health, sign-in and the API schema (the home
page is the dashboard: tests/routes/reporting.py)."""

from . import Api, LoginRequired, Public

ROUTES = {
    "healthz": Public(note="Liveness, for orchestrators; reads nothing."),
    "readyz": Public(note="Readiness: database, broker, cache, migrations."),
    "metrics": Public(
        status=401, no_role=401, note="Bearer METRICS_TOKEN or a superuser."
    ),
    "csp-report": Public(
        method="post",
        status=400,
        note="Browsers post CSP violations here (no cookie, no CSRF token); "
        "an empty body is not a report: 400. Logged, size-limited.",
    ),
    "login": Public(no_role=302, note="A signed-in user is sent on to /."),
    "logout": Public(method="post", status=302, note="POST only; ends on login."),
    "password_change": LoginRequired(),
    "password_change_done": LoginRequired(),
    "api-schema": Api(note="The OpenAPI 3 document, for signed-in users (DEBUG off)."),
    "api-docs": LoginRequired(note="Swagger UI, from the installed sidecar."),
}
