"""The escalation triggers: a registry with one module per trigger.

A trigger is a ``TriggerSpec``: its value and label (the ``Trigger`` choices
of ``risks.models`` are built from them), the unit of its threshold, its
default rule (threshold, target role, consequence), the kind of subject it
escalates (a milestone, an issue or a stakeholder assessment) and ``hits()``,
which finds the subjects whose measure is strictly above the threshold of the
rule in force, with one set-based query whatever their number. A trigger that
calls for more than a notification while its escalations are unresolved does
it in ``on_holding()`` (budget overrun: a reauthorization request).

Adding a trigger: a module here that defines its spec and registers it, its
import at the bottom of this file, and the migration that adds its value to
``EscalationRule.trigger``'s choices (``makemigrations risks``). See README,
"How to add an escalation trigger".

``risks.models`` imports this package to build its choices, so nothing here
imports a model at import time: ``hits()`` and the hooks import what they need
when they run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from ..models import Escalation, EscalationRule

DAYS, PERCENT = "days", "%"
UNITS = (DAYS, PERCENT)
#: ``EscalationRule.trigger`` is a CharField of this length.
MAX_VALUE_LENGTH = 30


class Subject(StrEnum):
    """What a trigger's escalations are about; names the escalation's column
    (``milestone_id``...) that a sweep of a few subjects filters on."""

    MILESTONE = "milestone"
    ISSUE = "issue"
    ASSESSMENT = "assessment"

    @property
    def column(self) -> str:
        return f"{self.value}_id"


@dataclass(frozen=True)
class DefaultRule:
    """The global rule a trigger starts with (DESIGN.md)."""

    threshold: Decimal
    target_role: str
    consequence: str


# Rules and hits -----------------------------------------------------------------


class RuleBook:
    """The rules in force: a portfolio's override, else the global default.
    An inactive rule in force switches its trigger off."""

    def __init__(self, rules: Collection[EscalationRule]) -> None:
        self.defaults: dict[str, EscalationRule] = {}
        self.overrides: dict[tuple[int, str], EscalationRule] = {}
        for rule in rules:
            if rule.portfolio_id is None:
                self.defaults[rule.trigger] = rule
            else:
                self.overrides[(rule.portfolio_id, rule.trigger)] = rule

    def rule(self, portfolio_id: int, trigger: str) -> EscalationRule | None:
        rule = self.overrides.get((portfolio_id, trigger), self.defaults.get(trigger))
        return rule if rule is not None and rule.active else None

    def lowest_threshold(self, trigger: str) -> Decimal | None:
        """The smallest active threshold of a trigger, to pre-filter in SQL."""
        thresholds = [
            r.threshold
            for r in [*self.defaults.values(), *self.overrides.values()]
            if r.trigger == trigger and r.active
        ]
        return min(thresholds) if thresholds else None


@dataclass
class Hit:
    """A rule's condition holding for one subject right now."""

    rule: EscalationRule
    subject_key: str
    portfolio_id: int
    portfolio_name: str
    portfolio_unit_path: str
    org_unit_id: int
    org_unit_path: str
    measured: Decimal
    summary: str
    milestone_id: int | None = None
    issue_id: int | None = None
    assessment_id: int | None = None

    @property
    def key(self) -> tuple[int, str]:
        return (self.rule.pk, self.subject_key)


def days_text(value: Decimal) -> str:
    return f"{int(value)} day{'s' if int(value) != 1 else ''}"


def percent_text(value: Decimal) -> str:
    return f"{value.normalize():f} %"


def amount_text(value: Decimal) -> str:
    """An amount as people read it: "1,404,000", "1,404,000.50"."""
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def date_text(day) -> str:
    """A day as the pages show it: "3 Feb 2027"."""
    return f"{day.day} {day:%b %Y}"


#: The columns ``milestone_hit`` reads, for ``QuerySet.values()``.
MILESTONE_COLUMNS = (
    "pk",
    "name",
    "portfolio_id",
    "portfolio__name",
    "portfolio__org_unit__path",
    "org_unit_id",
    "org_unit__path",
)


def milestone_hit(
    rule: EscalationRule, row: dict, measured: Decimal, summary: str
) -> Hit:
    """The hit of a milestone trigger for one ``values(*MILESTONE_COLUMNS)``
    row: its subject is the milestone."""
    return Hit(
        rule=rule,
        subject_key=f"milestone:{row['pk']}",
        portfolio_id=row["portfolio_id"],
        portfolio_name=row["portfolio__name"],
        portfolio_unit_path=row["portfolio__org_unit__path"],
        org_unit_id=row["org_unit_id"],
        org_unit_path=row["org_unit__path"],
        milestone_id=row["pk"],
        measured=measured,
        summary=summary,
    )


# Triggers -------------------------------------------------------------------------


class TriggerSpec:
    """One escalation trigger. A subclass sets the class attributes and
    implements ``hits()``; its module registers one instance."""

    #: The member of ``risks.models.Trigger`` (``Trigger.DELAY``).
    name: ClassVar[str]
    #: Stored in ``EscalationRule.trigger``: at most 30 characters, and never
    #: changed once migrated.
    value: ClassVar[str]
    label: ClassVar[str]
    #: The threshold's unit: ``DAYS`` (whole days) or ``PERCENT`` (0 to 100).
    unit: ClassVar[str]
    subject: ClassVar[Subject]
    default: ClassVar[DefaultRule]

    def hits(
        self,
        book: RuleBook,
        *,
        now: datetime,
        ids: Collection[int] | None = None,
    ) -> list[Hit]:
        """The subjects (all of them, or only those of ``ids``) whose measure
        is strictly above the threshold of the rule in force for their
        portfolio (``book.rule(portfolio_id, self.value)``); none when no rule
        of this trigger is active. Only open milestones and unresolved issues
        count."""
        raise NotImplementedError

    def on_holding(self, escalations: list[Escalation]) -> None:
        """Called by every sweep, in its transaction, with this trigger's
        unresolved escalations whose condition holds (just opened or still
        open; rules selected). Must be idempotent: the next sweep calls it
        again with the same ones. Nothing by default: the sweep notifies the
        target role itself."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'value', '?')}>"


class Registry:
    """The triggers in force, in registration order: the order of
    ``Trigger.choices`` and of a sweep."""

    def __init__(self) -> None:
        self._specs: dict[str, TriggerSpec] = {}

    def register(self, spec: TriggerSpec) -> TriggerSpec:
        value = getattr(spec, "value", "")
        problems = []
        if not value or len(value) > MAX_VALUE_LENGTH:
            problems.append(f"a value of 1 to {MAX_VALUE_LENGTH} characters")
        if value in self._specs:
            problems.append(f"a value not registered yet (not {value!r})")
        if not str(getattr(spec, "name", "")).isidentifier() or any(
            other.name == spec.name for other in self._specs.values()
        ):
            problems.append("a name of its own that is an identifier")
        if not getattr(spec, "label", ""):
            problems.append("a label")
        if getattr(spec, "unit", None) not in UNITS:
            problems.append(f"a unit among {UNITS}")
        if not isinstance(getattr(spec, "subject", None), Subject):
            problems.append("a Subject")
        if not isinstance(getattr(spec, "default", None), DefaultRule):
            problems.append("a DefaultRule")
        if problems:
            raise ImproperlyConfigured(
                f"The escalation trigger {spec!r} needs " + ", ".join(problems) + "."
            )
        self._specs[value] = spec
        return spec

    def unregister(self, value: str) -> None:
        del self._specs[value]

    def get(self, value: str) -> TriggerSpec | None:
        return self._specs.get(value)

    def __getitem__(self, value: str) -> TriggerSpec:
        return self._specs[value]

    def __contains__(self, value: object) -> bool:
        return value in self._specs

    def __iter__(self) -> Iterator[TriggerSpec]:
        # A copy: a trigger registered or removed meanwhile does not upset a
        # loop in progress.
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)


registry = Registry()
register = registry.register


# The triggers, in the order of ``Trigger.choices``, which the migrations keep:
# a new trigger's import goes last.
# isort: off
from . import delay  # noqa: E402, F401
from . import budget_overrun  # noqa: E402, F401
from . import stakeholder_resistance  # noqa: E402, F401
from . import technical_blocker  # noqa: E402, F401

# isort: on
