"""Roles: the five Django groups of DESIGN.md and what each may do.

A role's *scope actions* are granted as guardian permissions on the scope of a
membership; its *model permissions* open the matching admin pages. Groups are
kept in sync after every migration, so a new model's permissions reach the
roles without a hand-written data migration.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    CONTRIBUTOR = "contributor", "Contributor"
    MILESTONE_OWNER = "milestone_owner", "Milestone Owner"
    PORTFOLIO_MANAGER = "portfolio_manager", "Portfolio Manager"
    EXECUTIVE = "executive", "Executive"
    COMPLIANCE_AUDITOR = "compliance_auditor", "Compliance Auditor"


VIEW = "view"
UPDATE = "update"
CHANGE = "change"
APPROVE = "approve"
AUDIT = "audit"
ACTIONS = (VIEW, UPDATE, CHANGE, APPROVE, AUDIT)

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.CONTRIBUTOR: frozenset({VIEW, UPDATE}),
    Role.MILESTONE_OWNER: frozenset({VIEW, UPDATE}),
    Role.PORTFOLIO_MANAGER: frozenset({VIEW, UPDATE, CHANGE}),
    Role.EXECUTIVE: frozenset({VIEW, APPROVE}),
    Role.COMPLIANCE_AUDITOR: frozenset({VIEW, AUDIT}),
}

# What owning an object gives, whatever the owner's memberships.
OWNER_ACTIONS = frozenset({VIEW, UPDATE, CHANGE})

# Model permissions per role (app_label.codename); they open admin pages, the
# access policy still decides which rows. "*" means every model of the app.
_READ_APPS = ("accounts", "milestones", "approvals", "risks", "reporting")
ROLE_MODEL_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.CONTRIBUTOR: (
        "milestones.view_portfolio",
        "milestones.view_milestone",
        "milestones.view_progressupdate",
        "milestones.add_progressupdate",
        "milestones.view_checkpoint",
        "milestones.view_kpi",
        "milestones.view_kpimeasurement",
        "milestones.add_kpimeasurement",
        "risks.view_risk",
        "risks.add_risk",
        "risks.view_issue",
        "risks.add_issue",
    ),
    Role.MILESTONE_OWNER: (
        "milestones.view_portfolio",
        "milestones.view_strategicobjective",
        "milestones.view_milestonecategory",
        "milestones.view_milestone",
        "milestones.change_milestone",
        "milestones.view_dependency",
        "milestones.view_checkpoint",
        "milestones.change_checkpoint",
        "milestones.add_checkpoint",
        "milestones.view_progressupdate",
        "milestones.add_progressupdate",
        "milestones.view_resourceallocation",
        "milestones.view_kpi",
        "milestones.view_kpimeasurement",
        "milestones.add_kpimeasurement",
        "approvals.view_approvalrequest",
        "approvals.add_approvalrequest",
        "risks.view_risk",
        "risks.add_risk",
        "risks.change_risk",
        "risks.view_issue",
        "risks.add_issue",
        "risks.change_issue",
    ),
    Role.PORTFOLIO_MANAGER: (
        "accounts.view_orgunit",
        "milestones.*",
        "approvals.*",
        "risks.*",
        "reporting.view_*",
    ),
    Role.EXECUTIVE: (
        "accounts.view_orgunit",
        "milestones.view_*",
        "approvals.view_*",
        "approvals.change_approvalrequest",
        "risks.view_*",
        "risks.change_escalation",
        "reporting.view_*",
    ),
    Role.COMPLIANCE_AUDITOR: (
        *(f"{app}.view_*" for app in _READ_APPS),
        "portal.view_auditevent",  # access events, scoped by portal.audit
    ),
}


def _expand(patterns: tuple[str, ...]):
    from django.contrib.auth.models import Permission

    query = models.Q(pk__in=[])
    for pattern in patterns:
        app_label, codename = pattern.split(".", 1)
        if codename == "*":
            query |= models.Q(content_type__app_label=app_label)
        elif codename.endswith("*"):
            query |= models.Q(
                content_type__app_label=app_label,
                codename__startswith=codename[:-1],
            )
        else:
            query |= models.Q(content_type__app_label=app_label, codename=codename)
    # Scope permissions are granted per object by memberships, never globally,
    # and a history table's model permissions never open an edit.
    return (
        Permission.objects.filter(query)
        .exclude(codename__endswith="_scope")
        .exclude(content_type__model__startswith="historical")
    )


def sync_role_groups() -> None:
    """Create the role groups and give each exactly its model permissions."""
    from django.contrib.auth.models import Group

    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.label)
        group.permissions.set(_expand(ROLE_MODEL_PERMISSIONS[role]))


def sync_role_groups_after_migrate(sender, **kwargs) -> None:
    """After ``migrate``: once the last app has its permissions, sync groups."""
    from django.apps import apps

    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if sender.name == with_models[-1].name:
        sync_role_groups()
