"""Helpers of the approvals tests (plain functions and a scene builder,
imported by the approvals test modules; pytest does not load this module as a
conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from accounts import services as account_services
from accounts.roles import Role
from approvals import services as approval_services
from approvals.models import ApprovalRequest
from milestones.models import Milestone

from ..factories import UserFactory, make_member, make_milestone


@dataclass
class Scene:
    """A milestone in France with its owner, and the people around it."""

    org: Any
    portfolio: Any
    milestone: Milestone
    owner: Any
    pmo: Any
    executive: Any  # limit 500,000 on the whole organisation
    executive2: Any  # limit 100,000 on the whole organisation
    executive_apac: Any  # out of the milestone's scope
    contributor: Any  # EMEA: sees the milestone, may not request or approve
    auditor: Any


def build_scene(org, portfolio, executive, **milestone_fields) -> Scene:
    owner = make_member(Role.MILESTONE_OWNER, org.emea, username="owner-emea")
    fields = {
        "name": "Paris data platform",
        "owner": owner,
        "approved_budget": Decimal("100000.00"),
    }
    fields.update(milestone_fields)
    milestone = make_milestone(portfolio, org.fr, **fields)
    return Scene(
        org=org,
        portfolio=portfolio,
        milestone=milestone,
        owner=owner,
        pmo=make_member(Role.PORTFOLIO_MANAGER, org.world, username="pmo-approvals"),
        executive=executive,
        executive2=make_member(
            Role.EXECUTIVE, org.world, username="exec2", authority_limit=100000
        ),
        executive_apac=make_member(
            Role.EXECUTIVE, org.apac, username="exec-apac", authority_limit=10**9
        ),
        contributor=make_member(Role.CONTRIBUTOR, org.emea, username="contrib-emea"),
        auditor=make_member(Role.COMPLIANCE_AUDITOR, org.world, username="aud"),
    )


def reauthorization(
    actor, milestone: Milestone, budget: str | Decimal, **fields
) -> ApprovalRequest:
    """``actor`` asks to move the approved budget of ``milestone`` to ``budget``."""
    return approval_services.approval_request(
        actor=actor,
        milestone=milestone,
        kind=ApprovalRequest.Kind.REAUTHORIZATION,
        reason=fields.pop("reason", "Vendor contract renegotiated"),
        new_approved_budget=Decimal(str(budget)),
        **fields,
    )


def planner_and_executive(org, **user_fields):
    """A user who is both a portfolio manager and an executive (limit 10^9):
    they may request and approve, but never their own request."""
    user = make_member(Role.PORTFOLIO_MANAGER, org.world, **user_fields)
    account_services.membership_create(
        actor=None,
        user=user,
        role=Role.EXECUTIVE,
        org_unit=org.world,
        authority_limit=Decimal(10**9),
    )
    return user


def superuser(**fields):
    return UserFactory(is_superuser=True, is_staff=True, **fields)


def milestone_state(milestone: Milestone) -> dict[str, Any]:
    """Every concrete field of a milestone as stored now, and its history size."""
    fresh = Milestone.objects.get(pk=milestone.pk)
    values = {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}
    values["history"] = fresh.history.count()
    return values
