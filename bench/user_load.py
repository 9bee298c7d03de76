"""Fifty simulated users against ``make serve`` (issue #20).

``bin/serve`` brings up the production shape on the benchmark database
(PostgreSQL): gunicorn (workers from the CPU count), a Celery worker and beat
on Redis, static files by WhiteNoise. Then, for a bounded time, threads play
the three kinds of user, each with their own session cookie (pages) and API
token (writes), thinking 0.5 to 2 s between requests:

- contributors (half): their milestone list, a milestone's update form, a
  progress update through the API (which the worker then checks for
  escalations);
- executives (three in ten): the dashboard, a portfolio's page, the approvals
  queue, now and then the executive report;
- compliance auditors (one in five): the audit trail, a milestone's history,
  the history API.

Reported per page: requests, median and 95th percentile in ms against the
page's budget, and errors (5xx, or an answer the page never gives). Never run
in CI (``make bench`` on PostgreSQL only).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USERS = 50
SECONDS = 60.0
THINK = (0.5, 2.0)
# p95 budgets (ms) at 50 users on the 2-core benchmark machine.
BUDGETS = {
    "my milestones": 800,
    "update form": 800,
    "milestone (API)": 500,
    "progress update (API)": 1_000,
    "dashboard": 1_000,
    "portfolio page": 1_500,
    "approvals queue": 800,
    "executive report": 3_000,
    "audit trail": 800,
    "milestone history": 800,
    "history API": 800,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, page: str, ms: float, problem: str | None) -> None:
        with self.lock:
            self.times[page].append(ms)
            if problem:
                self.errors[page].append(problem)


@dataclass
class Player:
    """One simulated user: who, how they authenticate, what they may touch."""

    role: str
    session: str
    token: str
    milestones: list[int]
    portfolios: list[str]


class Client:
    def __init__(self, base: str, player: Player, stats: Stats) -> None:
        self.base, self.player, self.stats = base, player, stats

    def call(
        self,
        page: str,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        api: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> bytes:
        headers = {"Accept": "application/json" if api else "text/html"}
        if api:
            headers["Authorization"] = f"Token {self.player.token}"
            headers["Content-Type"] = "application/json"
        else:
            headers["Cookie"] = f"sessionid={self.player.session}"
        request = urllib.request.Request(
            self.base + path, data=body, headers=headers, method=method
        )
        started = time.perf_counter()
        problem = None
        payload = b""
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            payload = exc.read()
        except OSError as exc:
            status, problem = 0, f"{path}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        if problem is None and status not in ok:
            problem = f"{path}: HTTP {status}"
        self.stats.record(page, ms, problem)
        return payload


def _contributor(client: Client, rng: random.Random) -> None:
    import json

    p = client.player
    client.call("my milestones", "/milestones/mine/")
    if not p.milestones:
        return
    pk = rng.choice(p.milestones)
    client.call("update form", f"/milestones/{pk}/update/")
    raw = client.call("milestone (API)", f"/api/v1/milestones/{pk}/", api=True)
    try:
        current = json.loads(raw)
    except ValueError:
        return
    if current.get("status") in ("completed", "cancelled", "pending_validation"):
        return
    percent = min(95, float(current.get("percent_complete") or 0) + rng.randint(1, 5))
    body = {
        "milestone": pk,
        "version": current["version"],
        "status": "in_progress",
        "percent_complete": str(percent),
        "actual_spend": str(current.get("actual_spend") or "0"),
        "achievements": "Load test progress.",
    }
    client.call(
        "progress update (API)",
        "/api/v1/updates/",
        method="POST",
        body=json.dumps(body).encode(),
        api=True,
        ok=(201, 409),  # 409: another player updated it first (stale version)
    )


def _executive(client: Client, rng: random.Random) -> None:
    p = client.player
    client.call("dashboard", "/")
    if p.portfolios:
        slug = rng.choice(p.portfolios)
        client.call("portfolio page", f"/portfolios/{slug}/")
        if rng.random() < 0.1:
            client.call("executive report", f"/reports/{slug}/executive/")
    client.call("approvals queue", "/approvals/")


def _auditor(client: Client, rng: random.Random) -> None:
    p = client.player
    client.call("audit trail", "/audit/")
    if p.milestones:
        pk = rng.choice(p.milestones)
        client.call("milestone history", f"/audit/milestones.milestone/{pk}/")
    client.call("history API", "/api/v1/history/", api=True)


ACTS: dict[str, Callable[[Client, random.Random], None]] = {
    "contributor": _contributor,
    "executive": _executive,
    "compliance_auditor": _auditor,
}


def _players() -> list[Player]:
    """Fifty players from the dataset's members: half contributors, three in
    ten executives, one in five auditors (a member plays several players
    when the dataset has fewer)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User
    from accounts.policy import restrict
    from accounts.roles import UPDATE, VIEW, Role
    from accounts.services import api_token_create
    from milestones.models import Milestone, Portfolio

    mix = {
        Role.CONTRIBUTOR: USERS // 2,
        Role.EXECUTIVE: USERS * 3 // 10,
        Role.COMPLIANCE_AUDITOR: USERS - USERS // 2 - USERS * 3 // 10,
    }
    players = []
    for role, count in mix.items():
        members = list(
            User.objects.filter(memberships__role=role, is_active=True)
            .distinct()
            .order_by("pk")[:count]
        )
        if not members:
            continue
        for n in range(count):
            user = members[n % len(members)]
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            _, token = api_token_create(user=user, name=f"bench user load {n}")
            action = UPDATE if role == Role.CONTRIBUTOR else VIEW
            milestones = list(
                restrict(Milestone.objects.all(), user, action)
                .order_by("pk")
                .values_list("pk", flat=True)[:200]
            )
            portfolios = list(
                restrict(Portfolio.objects.all(), user, VIEW).values_list(
                    "slug", flat=True
                )[:20]
            )
            players.append(
                Player(str(role), session.session_key, token, milestones, portfolios)
            )
    return players


def _serve(port: int, log_path: Path) -> subprocess.Popen:
    from django.conf import settings

    db = settings.DATABASES["default"]
    url = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        # The same key as this process: sessions and tokens are checked with it.
        "SECRET_KEY": settings.SECRET_KEY,
        "CAIRN_PORT": str(port),
        "SERVE_DEMO": "0",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/11",
        "CACHE_URL": "redis://127.0.0.1:6379/12",
        "LOG_LEVEL": "WARNING",
        # Collected outside the checkout: its tests link the plain names.
        "STATIC_ROOT": str(log_path.parent / "user-load-static"),
    }
    env.pop("DEBUG", None)
    log = log_path.open("w")
    return subprocess.Popen(
        [str(ROOT / "bin" / "serve")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(*, seconds: float = SECONDS) -> dict:
    from django.db import connection

    if connection.vendor != "postgresql":
        return {"status": "N/A", "note": "needs PostgreSQL (DATABASE_URL)"}
    players = _players()
    if not players:
        return {"status": "N/A", "note": "no members in the dataset"}
    port = _free_port()
    log_path = ROOT / "bench" / "user-load-serve.log"
    server = _serve(port, log_path)
    base = f"http://127.0.0.1:{port}"
    stats = Stats()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=2)
                break
            except (OSError, urllib.error.HTTPError):
                if server.poll() is not None:
                    return {"status": "ERROR", "note": f"bin/serve exited: {log_path}"}
                time.sleep(1)
        stop = time.monotonic() + seconds

        def play(n: int, player: Player) -> None:
            rng = random.Random(n)  # noqa: S311 - load shape, not security
            client = Client(base, player, stats)
            time.sleep(rng.uniform(0, THINK[1]))  # users do not all start at once
            while time.monotonic() < stop:
                ACTS[player.role](client, rng)
                time.sleep(rng.uniform(*THINK))

        threads = [
            threading.Thread(target=play, args=(n, p)) for n, p in enumerate(players)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    pages = {}
    for page, times in sorted(stats.times.items()):
        p95 = _percentile(times, 0.95)
        budget = BUDGETS.get(page)
        errors = stats.errors.get(page, [])
        pages[page] = {
            "requests": len(times),
            "median_ms": round(_percentile(times, 0.5), 1),
            "p95_ms": round(p95, 1),
            "budget_p95_ms": budget,
            "errors": len(errors),
            "first_errors": errors[:3],
            "status": "FAIL"
            if errors or (budget is not None and p95 > budget)
            else "PASS",
        }
    total_errors = sum(p["errors"] for p in pages.values())
    return {
        "status": "PASS"
        if all(p["status"] == "PASS" for p in pages.values())
        else "FAIL",
        "users": len(players),
        "mix": {role: sum(p.role == role for p in players) for role in ACTS},
        "seconds": seconds,
        "requests": sum(p["requests"] for p in pages.values()),
        "errors": total_errors,
        "pages": pages,
    }
