"""Fixtures of the risks tests: default rules, milestones in a given state,
and a recording webhook server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from milestones.services import milestone_submit_update
from risks.models import EscalationRule
from risks.services import escalation_rules_ensure_defaults

from .webhooks import WebhookServer


@pytest.fixture
def rules(db):
    """The global default rules (the data migration's, re-created if a
    transactional test flushed them)."""
    escalation_rules_ensure_defaults()
    return {r.trigger: r for r in EscalationRule.objects.global_defaults()}


def reporter():
    """The user progress updates are submitted as in these tests (a progress
    update needs an author)."""
    from accounts.models import User

    user = User.objects.filter(username="reporter").first()
    if user is None:
        from ..factories import UserFactory

        user = UserFactory(username="reporter", is_superuser=True, is_staff=True)
    return user


def report(milestone, **fields):
    """Submit a progress update (forecast, estimate...) on a milestone."""
    values = {
        "status": "in_progress",
        "percent_complete": Decimal("40"),
        "actual_spend": Decimal("1000"),
        "estimate_at_completion": None,
        "forecast_completion": None,
    }
    values.update(fields)
    return milestone_submit_update(
        actor=reporter(), milestone=milestone, expected_version=None, **values
    )


@pytest.fixture
def late(milestone_in, org):
    """``late(days, org_unit=org.fr, **fields)``: a milestone whose last
    progress update forecasts it ``days`` after its planned completion."""

    def build(days: int, org_unit=None, **fields):
        planned = timezone.localdate() + timedelta(days=60)
        milestone = milestone_in(
            org_unit or org.fr, planned_completion=planned, **fields
        )
        report(milestone, forecast_completion=planned + timedelta(days=days))
        milestone.refresh_from_db()
        return milestone

    return build


@pytest.fixture
def over_budget(milestone_in, org):
    """``over_budget(estimate, approved=100000)``: a milestone whose estimate
    at completion is ``estimate``."""

    def build(estimate, approved=Decimal("100000.00"), org_unit=None, **fields):
        milestone = milestone_in(org_unit or org.fr, approved_budget=approved, **fields)
        report(milestone, estimate_at_completion=Decimal(str(estimate)))
        milestone.refresh_from_db()
        return milestone

    return build


@pytest.fixture
def webhook_server(settings):
    """A small HTTP server on 127.0.0.1 recording what webhooks receive;
    ``/fail...`` answers 500, ``/gone...`` 404, anything else 200. Webhooks
    may post to it: plain HTTP to a private address, for this test only."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = WebhookServer()
    server.start()
    yield server
    server.stop()
