"""Cairn settings: one module, configured from the environment (django-environ).

Every value a deployment may change comes from an environment variable; the
defaults are for a developer's machine (SQLite file in the repository, tasks run
eagerly). Production sets ``DEBUG=False`` and a real ``SECRET_KEY`` and passes
``manage.py check --deploy`` without warnings.
"""

from pathlib import Path

import environ
from csp import constants as _csp_constants

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The development key is only accepted with DEBUG on; production must set one.
_DEV_SECRET_KEY = "cairn-development-only-key-not-for-production-use-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=True for development).")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "import_export",
    "axes",
    "django_celery_beat",
    "csp",
    "portal",
    "accounts",
    "milestones",
    "approvals",
    "scheduling",
    "risks",
    "reporting",
    "devdata",
]

MIDDLEWARE = [
    # First: every later step (and the tasks it queues) logs with the id.
    "portal.observability.RequestIdMiddleware",
    "portal.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the web process (compressed, hashed names).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Content-Security-Policy on every answer, then Cache-Control: no-store
    # on signed-in and API answers (see "Content-Security-Policy and caching").
    "csp.middleware.CSPMiddleware",
    "portal.middleware.NoStoreMiddleware",
    # NUL in a path, query parameter or form field: 400 before any lookup.
    "portal.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.GrantsReadOnceMiddleware",
    # NotFound / Forbidden from a page: the 404 / 403 page.
    "portal.middleware.DomainErrorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Axes must come last so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.notifications.context.unread_notifications",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'cairn.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif "postgresql" in DATABASES["default"]["ENGINE"] and not env.bool(
    "DATABASE_JIT", default=False
):
    # PostgreSQL's JIT compiles a query whose *estimated* cost is high, as the
    # access policy's subqueries often are although they run in a millisecond:
    # 40-50 ms of compilation per page query. Off for this OLTP workload.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
# A connection pool per process (Django's psycopg pool) for PostgreSQL when
# DATABASE_POOL_MAX_SIZE is set: many web and worker processes then hold a
# bounded number of connections each and reuse them without a new handshake.
if "postgresql" in DATABASES["default"]["ENGINE"] and env.int(
    "DATABASE_POOL_MAX_SIZE", default=0
):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE"),
        "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Sign-in lock-out (django-axes, decided by accounts.lockout): 5 failures of a
# username from one address lock it there; 20 from anywhere lock it everywhere;
# never by address alone (a shared proxy or NAT); a success clears only that
# username's failures.
AXES_HANDLER = "accounts.lockout.CairnLockoutHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
LOCKOUT_USERNAME_LIMIT = env.int("LOCKOUT_USERNAME_LIMIT", default=20)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Over-long names and NUL bytes are clipped before axes stores them.
AXES_USERNAME_CALLABLE = "accounts.signin.client_username"

# API tokens (accounts.api.authentication): hashed, named, expiring.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=30)

# django-guardian: anonymous users get no object permissions.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed copies made by collectstatic (``make serve``); a
    # checkout that never ran it falls back to the plain names.
    "staticfiles": {"BACKEND": "portal.staticfiles.CairnStaticFilesStorage"},
}
# Without collectstatic (tests, ``make run``), WhiteNoise serves from the apps.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

EMAIL_CONFIG = env.email_url(
    "EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"
)
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cairn@localhost")

# The cache (memoised schedule outlooks and simulations). Per process unless
# CACHE_URL names a shared one (redis://127.0.0.1:6379/1), which production
# wants: the worker's refreshed outlooks then reach the web processes.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# Celery: with no broker configured, tasks run eagerly in-process.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
# Matched to the longest task: just above the hard time limit (600 s) and the
# longest retry countdown (CAIRN_NOTIFICATION_BACKOFF_CAP_SECONDS, 600 s), so
# a message a killed worker held comes back within 15 minutes, yet is never
# redelivered while a live worker still runs it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}
# A broker that is down costs a request a second, not a hang: publishing is
# tried twice, quickly; what must follow a commit is queued in the database
# too (milestones.MilestoneCheck) and drained by beat.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CAIRN_NOTIFICATION_BACKOFF_CAP_SECONDS = 600
# Pending outbox rows whose attempt is this overdue had their task lost (a
# killed worker, a broker outage): portal.tasks.dispatch_stuck_notifications,
# every 5 minutes by beat, queues them again.
CAIRN_NOTIFICATION_STUCK_SECONDS = env.int(
    "CAIRN_NOTIFICATION_STUCK_SECONDS", default=600
)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The worker logs through LOGGING (JSON lines with the request id), not its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "portal.schema.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "portal.api.BrowsableAPIRenderer",
    ],
    # The stock parsers, refusing NUL characters with field errors.
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "portal.parsers.FormParser",
        "portal.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cairn API",
    "DESCRIPTION": "Strategic milestone tracking portal, API v1.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from the installed sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents its error answers (portal.schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.schema.document_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MilestoneTypeEnum": "milestones.models.Milestone.Type",
        "DependencyTypeEnum": "milestones.models.Dependency.Type",
        "MilestoneStatusEnum": "milestones.models.Status",
        "KpiKindEnum": "milestones.models.KPI.Kind",
        "ApprovalKindEnum": "approvals.models.ApprovalRequest.Kind",
        "ApprovalStatusEnum": "approvals.models.ApprovalRequest.Status",
        "ApprovalOutcomeEnum": "approvals.models.ApprovalDecision.Outcome",
        "RiskStatusEnum": "risks.models.Risk.Status",
        "EscalationStatusEnum": "risks.models.Escalation.Status",
        "IssueKindEnum": "risks.models.Issue.Kind",
    },
}
SIMPLE_HISTORY_REVERT_DISABLED = True

# Production hardening: on unless DEBUG, each can be overridden.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Cairn's own settings.
CAIRN_DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo")
# The one status (reporting.status; README "Status: green, amber, red"): a
# signal beyond its amber / red threshold turns a milestone or portfolio
# amber / red. Days are "more than"; escalations are "at least".
CAIRN_STATUS = {
    "amber_slip_days": env.int("STATUS_AMBER_SLIP_DAYS", default=0),
    "red_slip_days": env.int("STATUS_RED_SLIP_DAYS", default=14),
    "amber_p80_days": env.int("STATUS_AMBER_P80_DAYS", default=14),
    "red_p80_days": env.int("STATUS_RED_P80_DAYS", default=42),
    "amber_escalations": env.int("STATUS_AMBER_ESCALATIONS", default=1),
    "red_escalations": env.int("STATUS_RED_ESCALATIONS", default=3),
}
# Evidence attached to progress updates: size limit and allowed file types
# (checked by extension and by content; see milestones.forms).
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=10 * 1024 * 1024)
EVIDENCE_ALLOWED_TYPES = env.list(
    "EVIDENCE_ALLOWED_TYPES",
    default=["pdf", "png", "jpg", "xlsx", "docx", "csv", "txt"],
)

# Chat webhooks (portal.notifications.safe_http): hosts allowed besides the
# providers' own, and - for the test suite's local receiver only, never in
# production - plain HTTP to private addresses.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)

# The audit chain's HMAC keys ("kid:base64key,..." newest first), kept outside
# the database; empty: the key derived from SECRET_KEY (portal.audit).
AUDIT_CHAIN_KEYS = env.str("AUDIT_CHAIN_KEYS", default="")
# Processes verify_audit_chain walks a long chain with (0: the CPU count, max 8).
AUDIT_VERIFY_WORKERS = env.int("AUDIT_VERIFY_WORKERS", default=0)

# /metrics answers a scraper presenting this bearer token (or a superuser).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Structured logs: LOG_FORMAT=json (default with DEBUG off) writes one JSON
# object a line with the request id (portal.observability); "text" is for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
# Content-Security-Policy (django-csp 4) and caching. Scripts and styles come
# from this site's own files only: no inline script or style, no eval; the few
# scripts that must sit in a page carry the request's nonce. Violations are
# reported to CAIRN_CSP_REPORT_URI (portal.views.csp_report logs each one).
CAIRN_CSP_REPORT_URI = env.str("CSP_REPORT_URI", default="/csp-report/")
CAIRN_CSP_REPORT_MAX_BYTES = env.int("CSP_REPORT_MAX_BYTES", default=16 * 1024)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", _csp_constants.NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "report-uri": [CAIRN_CSP_REPORT_URI],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.observability.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "portal.observability.JsonFormatter"},
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT if LOG_FORMAT in ("json", "text") else "json",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # WeasyPrint logs every layout step at INFO; keep its warnings only.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
