"""The escalation triggers are a registry (``risks.triggers``), one module each:
the four of DESIGN.md, the choices, units and default rules built from it, and
a fifth trigger that the sweep picks up with no other code change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.migrations.loader import MigrationLoader

from accounts.roles import Role
from milestones.models import Milestone
from portal.errors import Invalid
from portal.models import Notification
from risks import engine, services, triggers
from risks.models import (
    DEFAULT_RULES,
    TRIGGER_UNITS,
    Escalation,
    EscalationRule,
    Trigger,
)
from risks.triggers import (
    MILESTONE_COLUMNS,
    PERCENT,
    DefaultRule,
    Subject,
    TriggerSpec,
    milestone_hit,
    registry,
)

# DESIGN.md, "Escalation triggers": value, label, unit, subject, default
# threshold and who is told.
DESIGN = [
    ("milestone_delay", "Milestone delay", "days", "milestone", "14", "executive"),
    ("budget_overrun", "Budget overrun", "%", "milestone", "15", "executive"),
    (
        "stakeholder_resistance",
        "Stakeholder resistance",
        "%",
        "assessment",
        "30",
        "executive",
    ),
    (
        "technical_blocker",
        "Technical blocker",
        "days",
        "issue",
        "7",
        "portfolio_manager",
    ),
]


def test_the_registry_holds_the_four_triggers_of_the_design():
    assert [
        (
            spec.value,
            spec.label,
            spec.unit,
            spec.subject,
            spec.default.threshold,
            spec.default.target_role,
        )
        for spec in registry
    ] == [
        (value, label, unit, subject, Decimal(threshold), Role(role))
        for value, label, unit, subject, threshold, role in DESIGN
    ]
    assert [type(spec).__module__ for spec in registry] == [
        "risks.triggers.delay",
        "risks.triggers.budget_overrun",
        "risks.triggers.stakeholder_resistance",
        "risks.triggers.technical_blocker",
    ]
    consequences = [spec.default.consequence for spec in registry]
    assert "steering committee" in consequences[0]
    assert "reauthorization" in consequences[1]
    assert "Change-management" in consequences[2]
    assert "Architecture review" in consequences[3]


def test_choices_units_and_default_rules_are_built_from_the_registry():
    assert Trigger.choices == [(spec.value, spec.label) for spec in registry]
    assert [member.name for member in Trigger] == [spec.name for spec in registry]
    assert Trigger.DELAY == "milestone_delay"
    assert Trigger.TECHNICAL_BLOCKER.label == "Technical blocker"
    assert {spec.value: spec.unit for spec in registry} == TRIGGER_UNITS
    defaults = tuple(
        (
            spec.value,
            spec.default.threshold,
            spec.default.target_role,
            spec.default.consequence,
        )
        for spec in registry
    )
    assert defaults == DEFAULT_RULES
    assert EscalationRule._meta.get_field("trigger").choices == Trigger.choices


def test_the_migrations_already_hold_these_choices():
    """The registry changes no choice: no migration is due (a new trigger
    comes with the one that adds its value)."""
    state = MigrationLoader(None, ignore_no_migrations=True).project_state()
    for model in ("escalationrule", "historicalescalationrule"):
        field = state.models[("risks", model)].fields["trigger"]
        assert list(field.choices) == Trigger.choices


class ScopeCreep(TriggerSpec):
    """A fifth trigger, for these tests only: the milestones in ``crept`` have
    grown 12 % in scope."""

    name = "SCOPE_CREEP"
    value = "scope_creep"
    label = "Scope creep"
    unit = PERCENT
    subject = Subject.MILESTONE
    default = DefaultRule(Decimal("10"), Role.PORTFOLIO_MANAGER, "Scope review.")
    growth = Decimal("12")

    def __init__(self) -> None:
        self.crept: set[int] = set()
        self.held: list[list[int]] = []

    def hits(self, book, *, now, ids=None):
        wanted = self.crept if ids is None else self.crept & set(ids)
        rows = Milestone.objects.filter(pk__in=wanted).values(*MILESTONE_COLUMNS)
        hits = []
        for row in rows:
            rule = book.rule(row["portfolio_id"], self.value)
            if rule is not None and self.growth > rule.threshold:
                summary = f"{row['name']} grew {self.growth} % in scope"
                hits.append(milestone_hit(rule, row, self.growth, summary))
        return hits

    def on_holding(self, escalations):
        self.held.append(sorted(e.pk for e in escalations))


@pytest.fixture
def scope_creep():
    """The fifth trigger, registered for one test."""
    spec = triggers.register(ScopeCreep())
    try:
        yield spec
    finally:
        triggers.registry.unregister(spec.value)
    assert [s.value for s in registry] == [row[0] for row in DESIGN]


@pytest.mark.django_db
def test_a_fifth_trigger_escalates_with_no_other_code_change(
    rules, scope_creep, milestone_in, org, pmo
):
    # Without its choices migration, forms and services refuse its rules...
    with pytest.raises(Invalid):
        services.escalation_rule_create(
            actor=None,
            trigger=scope_creep.value,
            threshold="10",
            target_role=Role.PORTFOLIO_MANAGER,
        )
    # ...but the column is a plain 30-character string: the rule that migration
    # would let the service create is saved as is here.
    rule = EscalationRule.objects.create(
        trigger=scope_creep.value,
        threshold=scope_creep.default.threshold,
        target_role=scope_creep.default.target_role,
        consequence=scope_creep.default.consequence,
    )
    assert rule.unit == "%"
    assert rule.threshold_display == "10 %"
    milestone = milestone_in(org.fr)  # on plan and on budget: no other trigger
    scope_creep.crept.add(milestone.pk)

    first = engine.escalations_sweep()

    escalation = Escalation.objects.get()
    assert first.opened == [escalation.pk]
    assert (escalation.rule, escalation.milestone) == (rule, milestone)
    assert escalation.subject_key == f"milestone:{milestone.pk}"
    assert (escalation.measured, escalation.threshold) == (Decimal("12"), 10)
    assert escalation.summary == f"{milestone.name} grew 12 % in scope"
    assert Notification.objects.filter(recipient=pmo, channel="portal").exists()
    assert scope_creep.held == [[escalation.pk]]

    # Its subject is a milestone: the check after a progress update covers it.
    again = engine.escalations_sweep(milestone_ids=[milestone.pk])
    assert (again.opened, again.resolved, again.unchanged) == ([], [], 1)
    assert scope_creep.held == [[escalation.pk]] * 2

    scope_creep.crept.clear()
    cleared = engine.escalations_sweep(milestone_ids=[milestone.pk])
    assert cleared.resolved == [escalation.pk]
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED


@pytest.mark.django_db
def test_an_issue_sweep_leaves_a_milestone_trigger_alone(
    rules, scope_creep, milestone_in, org
):
    rule = EscalationRule.objects.create(
        trigger=scope_creep.value, threshold=10, target_role=Role.PORTFOLIO_MANAGER
    )
    milestone = milestone_in(org.fr)
    scope_creep.crept.add(milestone.pk)
    engine.escalations_sweep()
    scope_creep.crept.clear()

    engine.escalations_sweep(issue_ids=[])

    assert Escalation.objects.active().get().rule == rule


def test_the_registry_refuses_a_trigger_it_cannot_store():
    too_long = type("TooLong", (ScopeCreep,), {"value": "x" * 31})
    taken = type("Taken", (ScopeCreep,), {"value": "milestone_delay"})
    no_unit = type("NoUnit", (ScopeCreep,), {"unit": "weeks"})
    for spec in (too_long(), taken(), no_unit()):
        with pytest.raises(ImproperlyConfigured):
            triggers.register(spec)
    assert len(registry) == len(DESIGN)


def test_summaries_show_amounts_and_days_as_people_read_them():
    from datetime import date
    from decimal import Decimal

    from risks.triggers import amount_text, date_text

    assert amount_text(Decimal("1404000.00")) == "1,404,000"
    assert amount_text(Decimal("1404000.50")) == "1,404,000.50"
    assert date_text(date(2027, 2, 3)) == "3 Feb 2027"
