"""Request ids and JSON logs (``portal.observability``): from a request's
response header and log records into the Celery task it queues, through a
real broker and worker."""

from __future__ import annotations

import json
import logging
import re
import time

from portal.observability import JsonFormatter, RequestIdFilter, request_id
from tests.risks.test_celery_worker import (  # noqa: F401 - fixtures
    broker,
    celery_worker_process,  # noqa: F811
)


def test_each_response_carries_a_request_id(client, db):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_a_proxys_well_formed_request_id_is_kept_and_a_bad_one_replaced(client, db):
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c2e11")
    assert kept["X-Request-ID"] == "lb-7f3a9c2e11"
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert re.fullmatch(r"[0-9a-f]{32}", replaced["X-Request-ID"])


def test_log_records_in_a_request_carry_its_id_as_json(client, db, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-0123456789")
    assert response.status_code == 404
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-0123456789"
    assert line["level"] == "WARNING" and "Not Found" in line["message"]
    assert line["time"].endswith("+00:00")
    # Forgotten once the response is closed.
    assert request_id.get() is None


def test_request_id_follows_a_task_through_the_broker_into_the_worker(
    celery_worker_process,  # noqa: F811 - the imported fixture
    tmp_path,
    portfolio,
    org,
):
    from tests.factories import make_milestone

    milestone = make_milestone(portfolio, org.fr)
    app = celery_worker_process
    token = request_id.set("trace-feedc0ffee42")
    try:
        result = app.send_task(
            "risks.tasks.evaluate_milestone_escalations", args=[milestone.pk]
        )
    finally:
        request_id.reset(token)
    result.get(timeout=60)
    log = tmp_path / "worker.log"
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline and not lines:
        lines = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if line.startswith("{") and "trace-feedc0ffee42" in line
        ]
        time.sleep(0.2)
    assert lines, log.read_text()[-3000:]
    assert {entry["task"] for entry in lines} == {
        "risks.tasks.evaluate_milestone_escalations"
    }
    assert any("succeeded" in entry["message"] for entry in lines)
