"""Celery tasks of the risks app: they take ids, call the engine, own retries."""

from __future__ import annotations

import time

from celery import shared_task
from django.db import OperationalError

from portal.metrics import sweep_recorded

from . import engine


@shared_task(
    name="risks.tasks.run_escalation_sweep",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=3,
)
def run_escalation_sweep() -> dict:
    """The daily monitoring (scheduled by django-celery-beat): a full
    escalation sweep plus the owners' reminders. Idempotent: a retry or a
    second run opens and sends nothing new. Its duration is kept for the
    metrics endpoint."""
    started = time.perf_counter()
    outcome = engine.monitoring_run().as_dict()
    sweep_recorded(time.perf_counter() - started)
    return outcome


@shared_task(
    name="risks.tasks.evaluate_milestone_escalations",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
)
def evaluate_milestone_escalations(milestone_id: int) -> dict:
    """Re-evaluate one milestone's delay and budget escalations (and clear its
    queued check, ``milestones.MilestoneCheck``)."""
    return engine.pending_checks_evaluate(milestone_ids=[milestone_id]).as_dict()


@shared_task(
    name="risks.tasks.evaluate_pending_checks",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=10,
    max_retries=3,
)
def evaluate_pending_checks() -> dict:
    """Every minute (beat): evaluate the milestones whose check is still
    queued a while after their change (its task was never published, or lost),
    so an update made while the broker was down is escalated all the same."""
    return engine.pending_checks_evaluate(older_than_seconds=60).as_dict()
