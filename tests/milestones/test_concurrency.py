"""100 progress updates at once while a real worker runs escalation sweeps.

A bounded thread pool (16) posts 100 updates on 100 different milestones to a
live server through the API, each leaving its milestone late (so the request's
escalation check and the sweeps both write escalations and history), while a
real Celery worker on Redis runs full escalation sweeps in a loop on the same
PostgreSQL database. No request may answer 500, every accepted update must be
in history exactly once, and every one must be accepted.

On the code before the lock fix (milestones locked with their portfolio,
category and org unit, ``FOR UPDATE``), about half answered 500 with
``deadlock detected``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.roles import Role
from accounts.services import api_token_create
from milestones.models import Milestone, ProgressUpdate
from risks.services import escalation_rules_ensure_defaults
from tests.factories import make_member, make_milestone
from tests.risks.test_celery_worker import (  # noqa: F401 - fixtures
    broker,
    celery_worker_process,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

UPDATES = 100
THREADS = 16


@pytest.fixture(autouse=True)
def _join_flag_restored():
    """Eager tasks run by many live-server threads at once race on Celery's
    process-wide "would block" flag (``denied_join_result``) and can leave it
    set; later tests of this process must be able to wait for results."""
    yield
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


def _post(url: str, token: str, payload: dict) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_concurrent_updates_with_the_worker_sweeping_never_fail(
    celery_worker_process,  # noqa: F811 - the imported fixture
    live_server,
    org,
    portfolio,
):
    app = celery_worker_process
    escalation_rules_ensure_defaults()
    owner = make_member(Role.MILESTONE_OWNER, org.emea, username="racer")
    _, token = api_token_create(user=owner, name="racer")
    today = timezone.localdate()
    units = [org.fr, org.de]
    milestones = [
        make_milestone(
            portfolio,
            units[n % 2],
            owner=owner,
            name=f"Race {n:03d}",
            planned_start=today - timedelta(days=60),
            planned_completion=today + timedelta(days=20),
        )
        for n in range(UPDATES)
    ]

    stop = threading.Event()
    sweeps: list[object] = []

    def sweep_loop():
        while not stop.is_set():
            result = app.send_task("risks.tasks.run_escalation_sweep")
            try:
                sweeps.append(result.get(timeout=60, disable_sync_subtasks=False))
            except Exception as exc:  # noqa: BLE001 - counted below
                sweeps.append(exc)

    sweeper = threading.Thread(target=sweep_loop, daemon=True)
    sweeper.start()

    def update(m: Milestone) -> tuple[int, int, str]:
        status, body = _post(
            f"{live_server.url}/api/v1/updates/",
            token,
            {
                "milestone": m.pk,
                "version": m.version,
                "status": "delayed",
                "percent_complete": "40",
                "actual_spend": "1000",
                "estimate_at_completion": str(
                    (m.approved_budget * Decimal("1.3")).quantize(Decimal("0.01"))
                ),
                "forecast_completion": (
                    m.planned_completion + timedelta(days=30)
                ).isoformat(),
                "blockers": "Supplier late",
            },
        )
        return m.pk, status, body

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(update, milestones))
    finally:
        stop.set()
        sweeper.join(timeout=90)
    elapsed = time.monotonic() - started

    failures = [
        (pk, status, body[:300]) for pk, status, body in results if status >= 500
    ]
    assert failures == [], failures
    assert [status for _, status, _ in results] == [201] * UPDATES, [
        (pk, status, body[:200]) for pk, status, body in results if status != 201
    ]
    assert sweeps, "the worker ran no sweep"
    assert not [s for s in sweeps if isinstance(s, Exception)], sweeps
    # Every accepted update is in history exactly once, and so is its effect
    # on its milestone.
    updates = ProgressUpdate.objects.filter(milestone__in=milestones)
    assert updates.count() == UPDATES
    created = ProgressUpdate.history.filter(history_type="+", id__in=updates)
    assert created.count() == UPDATES
    assert created.values("id").distinct().count() == UPDATES
    for m in Milestone.objects.filter(pk__in=[m.pk for m in milestones]):
        assert m.version == 2, m
        assert Milestone.history.filter(id=m.pk).count() == 2
    assert elapsed < 120
