"""Write throughput at 1, 4 and 8 concurrent clients (issue #21).

gunicorn with 4 sync workers serves the benchmark database (PostgreSQL);
each client is a thread that PATCHes its own milestones through the API as
a portfolio manager (name changes, each with the version it read), for a
fixed time. Throughput is accepted PATCHes per second; with no global lock on
the write path it grows with the clients: the target is at least 2.5x from 1
to 8 clients. Never run in CI (``make bench`` only).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = (1, 4, 8)
TARGET_RATIO = 2.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, token: str, method: str, path: str, body=None):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _gunicorn(port: int) -> subprocess.Popen:
    from django.conf import settings

    env = {
        **os.environ,
        "DEBUG": "False",
        # The same key as this process: tokens are checked against it.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "CAIRN_PORT": str(port),
        "WEB_CONCURRENCY": "4",
        "CELERY_BROKER_URL": "",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "portal.wsgi:application",
            "--config",
            "portal/gunicorn.conf.py",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def run(*, seconds: float = 10.0) -> dict:
    """Throughput at each client count, with the 8-vs-1 ratio."""
    from django.db import connection

    from accounts.models import User
    from accounts.roles import Role
    from accounts.services import api_token_create
    from milestones.models import Milestone

    if connection.vendor != "postgresql":
        return {"status": "N/A", "note": "needs PostgreSQL (DATABASE_URL)"}
    user = (
        User.objects.filter(
            memberships__role=Role.PORTFOLIO_MANAGER,
            memberships__org_unit__parent__isnull=True,
            is_active=True,
        )
        .order_by("pk")
        .first()
    )
    if user is None:
        return {"status": "N/A", "note": "no portfolio manager at the root"}
    _, token = api_token_create(user=user, name="bench write load")
    ids = list(Milestone.objects.order_by("pk").values_list("pk", flat=True)[:800])
    port = _free_port()
    server = _gunicorn(port)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        results: dict = {}
        for clients in CLIENTS:
            results[str(clients)] = _round(base, token, ids, clients, seconds)
        one, eight = results["1"]["per_second"], results["8"]["per_second"]
        ratio = eight / one if one else 0.0
        return {
            "status": "PASS" if ratio >= TARGET_RATIO else "FAIL",
            "gunicorn_workers": 4,
            "seconds_per_round": seconds,
            "rounds": results,
            "ratio_8_to_1": round(ratio, 2),
            "target_ratio": TARGET_RATIO,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _round(base: str, token: str, ids: list[int], clients: int, seconds: float):
    share = len(ids) // clients
    counts = [0] * clients
    errors = [0] * clients
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        mine = ids[n * share : (n + 1) * share]
        known: dict[int, tuple[str, int]] = {}
        i = 0
        while time.monotonic() < stop:
            pk = mine[i % len(mine)]
            i += 1
            if pk not in known:  # read once; then the PATCH answers the version
                status, body = _call(base, token, "GET", f"/milestones/{pk}/")
                if status != 200:
                    errors[n] += 1
                    continue
                known[pk] = (body["name"], body["version"])
            name, version = known[pk]
            status, body = _call(
                base,
                token,
                "PATCH",
                f"/milestones/{pk}/",
                {"name": name, "description": f"bench {i}", "version": version},
            )
            if status == 200:
                counts[n] += 1
                known[pk] = (name, body["version"])
            else:
                errors[n] += 1
                known.pop(pk, None)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "patches": sum(counts),
        "errors": sum(errors),
        "per_second": round(sum(counts) / elapsed, 1),
    }
