"""``make serve`` end to end: the production shape on this machine.

``bin/serve`` (what ``make serve`` runs) is started on a database of its own:
it migrates, collects static files, seeds the demo and starts gunicorn, a
Celery worker and beat from the Procfile. The test then signs in through the
login page, reads the dashboard and its stylesheet (served by WhiteNoise under
a hashed name, compressed, cached for a year), submits a progress update
through the API that leaves a milestone 30 days late, waits for the worker to
open the delay escalation, and stops everything with SIGTERM.

Runs in the PostgreSQL pass of ``.ci/run`` (it needs PostgreSQL and Redis);
skipped on SQLite.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.serve, pytest.mark.django_db(transaction=True)]

ROOT = Path(settings.BASE_DIR)
DATABASE = "cairn_serve_test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(sql: str) -> None:
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = str(db.get("PORT") or 5432)
    user = db.get("USER") or "postgres"
    subprocess.run(
        ["psql", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-qc", sql],
        check=True,
        capture_output=True,
    )


def _database_url() -> str:
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{DATABASE}"


class Browser:
    """A cookie-keeping HTTP client, as a person's browser would be."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar)
        )

    def request(self, path: str, *, data=None, headers=None, method=None):
        body = None
        if isinstance(data, dict):
            body = urllib.parse.urlencode(data).encode()
        elif isinstance(data, bytes):
            body = data
        request = urllib.request.Request(
            self.base + path, data=body, headers=headers or {}, method=method
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def api(self, path: str, token: str, payload=None):
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        data = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(payload).encode()
        status, _, body = self.request(path, data=data, headers=headers)
        return status, json.loads(body or b"null")


@pytest.fixture
def served(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("make serve runs on PostgreSQL (the CI's second pass)")
    _psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/10",
        "CACHE_URL": "redis://127.0.0.1:6379/11",
        "CAIRN_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "2",
        "EMAIL_URL": "consolemail://",
        "SERVE_DEMO": "1",
        "METRICS_TOKEN": "serve-test-metrics-token",
        # Collected files of its own: the suite's process keeps the plain names.
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    for name in ("DEBUG", "SECRET_KEY", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    subprocess.run(
        ["redis-cli", "-n", "10", "FLUSHDB"], check=True, capture_output=True
    )
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        ["bash", "bin/serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    text = ""
    while time.monotonic() < deadline:
        text = log_path.read_text()
        if "Cairn is up at" in text or process.poll() is not None:
            break
        time.sleep(1)
    assert "Cairn is up at" in text, text[-4000:]
    try:
        yield process, f"http://127.0.0.1:{port}", log_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        _psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def test_make_serve_serves_signs_in_escalates_and_stops(served):
    process, base, log_path = served
    browser = Browser(base)

    # Sign in through the login page, as a person would.
    status, _, page = browser.request("/accounts/login/")
    assert status == 200
    status, _, page = browser.request(
        "/accounts/login/",
        data={
            "username": "contributor-emea",
            "password": "demo",
            "csrfmiddlewaretoken": browser.cookie("csrftoken"),
        },
        headers={"Referer": base + "/accounts/login/"},
    )
    assert status == 200 and b"<title>Dashboard | Cairn</title>" in page

    # The dashboard, with its stylesheets served by WhiteNoise: hashed names,
    # compressed, cached for a year.
    status, headers, page = browser.request("/")
    assert status == 200
    sheets = re.findall(rb'href="(/static/[^"]+\.css)"', page)
    assert sheets, page[:2000]
    hashed = [s for s in sheets if re.search(rb"\.[0-9a-f]{12}\.css$", s)]
    assert hashed == sheets, sheets
    status, headers, css = browser.request(
        sheets[0].decode(), headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200 and len(css) > 100
    assert headers.get("Content-Encoding") == "gzip"
    assert "max-age=315360000" in headers.get("Cache-Control", "")

    # An update that leaves a milestone 30 days late: the worker escalates it.
    # (API clients hold a token, not the browser's session.)
    browser = Browser(base)
    status, _, raw = browser.request(
        "/api/v1/auth/token/",
        data=json.dumps({"username": "contributor-emea", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status in (200, 201), raw
    token = json.loads(raw)["token"]
    status, listing = browser.api("/api/v1/milestones/?page_size=100", token)
    assert status == 200
    candidates = [
        m
        for m in listing["results"]
        if m["status"] in ("in_progress", "on_track", "not_started")
        and (m.get("delay_days") or 0) <= 0
    ]
    assert candidates, listing["results"][:3]
    target = candidates[0]
    planned = date.fromisoformat(target["planned_completion"])
    status, created = browser.api(
        "/api/v1/updates/",
        token,
        {
            "milestone": target["id"],
            "version": target["version"],
            "status": "delayed",
            "percent_complete": "35",
            "actual_spend": "0",
            "forecast_completion": (planned + timedelta(days=30)).isoformat(),
            "blockers": "Vendor slipped by a month.",
        },
    )
    assert status == 201, created

    status, _, raw = browser.request(
        "/api/v1/auth/token/",
        data=json.dumps({"username": "exec", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    executive = json.loads(raw)["token"]
    found = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not found:
        status, escalations = browser.api(
            "/api/v1/escalations/?page_size=500", executive
        )
        assert status == 200
        found = [
            e
            for e in escalations["results"]
            if e.get("milestone") == target["id"] and "delay" in str(e.get("trigger"))
        ]
        time.sleep(1)
    assert found, "the worker did not escalate the late milestone"

    # The web workers' request counts, added up across processes.
    status, _, raw = Browser(base).request(
        "/metrics", headers={"Authorization": "Bearer serve-test-metrics-token"}
    )
    assert status == 200
    text = raw.decode()
    assert re.search(r'cairn_http_requests_total\{[^}]*route="api:update-list"', text)
    assert "cairn_outbox_pending " in text

    # SIGTERM stops web, worker and beat cleanly.
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    log = log_path.read_text()
    for name in ("web.1", "worker.1", "beat.1"):
        assert re.search(rf"{name} stopped", log), log[-3000:]
