"""Request ids and structured logs, from a request into the tasks it queues.

Every request gets an id: the ``X-Request-ID`` header a proxy sent (when it
looks like one: 8-64 letters, digits, ``-`` or ``_``), else a new UUID. It is
answered in the response's ``X-Request-ID``, put on every log record written
while the request runs, and carried into every Celery task queued meanwhile
(as a message header), where the worker puts it back on the task's log
records. So one id follows an update from the web process into the escalation
check the worker runs for it.

``JsonFormatter`` writes one JSON object a line (time, level, logger,
message, request id, task, exception); ``LOG_FORMAT=json`` (the default with
``DEBUG`` off) selects it.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

HEADER = "X-Request-ID"
CELERY_HEADER = "cairn_request_id"
_VALID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

request_id: ContextVar[str | None] = ContextVar("cairn_request_id", default=None)
task_name: ContextVar[str | None] = ContextVar("cairn_task_name", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give each request an id (kept from a proxy's ``X-Request-ID`` when it is
    well formed) for its log records, its queued tasks and its response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get(HEADER, "")
        rid = sent if _VALID.match(sent) else new_id()
        request.request_id = rid
        # Kept until the response is closed (``request_finished``), so that
        # Django's own log line of a 4xx/5xx answer, written after the
        # middleware returns, carries it too.
        request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


def _forget_request_id(**kwargs) -> None:
    request_id.set(None)


def connect_request_signals() -> None:
    from django.core.signals import request_finished

    request_finished.connect(_forget_request_id, dispatch_uid="cairn-request-id")


class RequestIdFilter(logging.Filter):
    """Put the current request id and task name on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task = task_name.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "task": getattr(record, "task", None),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# Celery: the id travels with each task message --------------------------------


def _on_publish(headers=None, **kwargs) -> None:
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(CELERY_HEADER, rid)


_tokens: dict[str, tuple] = {}


def _on_prerun(task_id=None, task=None, **kwargs) -> None:
    rid = getattr(task.request, CELERY_HEADER, None) if task else None
    if rid is None and task is not None:
        rid = (task.request.headers or {}).get(CELERY_HEADER)
    # An eager task (no broker) runs inside the request: it keeps its id.
    _tokens[task_id] = (
        request_id.set(rid or request_id.get()),
        task_name.set(task.name if task else None),
    )


def _on_postrun(task_id=None, **kwargs) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens is not None:
        request_id.reset(tokens[0])
        task_name.reset(tokens[1])


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(_on_publish, weak=False)
    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)
