"""The escalation engine: one code path for the periodic task, the
``run_escalations`` command and the per-milestone check after a progress update.

A sweep evaluates the four triggers of DESIGN.md against the whole database
(or a few subjects) with one set-based query per trigger, whatever the number
of milestones, and reconciles the result with the unresolved escalations:

- a (rule, subject) whose condition holds and has no unresolved escalation is
  opened, and the rule's target role is notified (once: the outbox dedupes);
- an unresolved escalation whose condition no longer holds (or whose rule no
  longer applies to its subject) is resolved;
- anything else is left alone, so a second sweep changes nothing.

A measure escalates when it is strictly greater than the threshold:

================  ==========================================  =========
trigger           measure                                     default
================  ==========================================  =========
milestone delay   forecast completion - planned completion    14 days
budget overrun    (estimate at completion - approved) /       15 %
                  approved budget (approved budget > 0)
stakeholder       resistance of a group's latest assessment   30 %
resistance
technical         days a technical issue has been open        7 days
blocker           (today - the local date it opened)
================  ==========================================  =========

Only open milestones (not completed or cancelled) and unresolved issues count.
The engine writes as the system: history rows have no user and a reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_UP, Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from milestones.models import CLOSED_STATUSES, Milestone, MilestoneCheck
from milestones.services import approval_requests_for_escalations
from portal.audit import bulk_create_with_history, bulk_update_with_history
from portal.db import DaysBetween
from portal.notifications import Message
from portal.notifications.services import (
    notifications_dispatch_stuck,
    notifications_enqueue,
)

from . import selectors
from .models import (
    Escalation,
    EscalationRule,
    Issue,
    PortfolioChannels,
    StakeholderAssessment,
    Trigger,
)
from .signals import escalation_opened

logger = logging.getLogger(__name__)

#: The engine writes as the system: no user on its history rows.
SYSTEM_USER = None
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
MILESTONE_TRIGGERS = (Trigger.DELAY, Trigger.BUDGET_OVERRUN)


# Rules ---------------------------------------------------------------------


class RuleBook:
    """The rules in force: a portfolio's override, else the global default.
    An inactive rule in force switches its trigger off."""

    def __init__(self, rules: Iterable[EscalationRule]) -> None:
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


# Hits ----------------------------------------------------------------------


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


def _days(value: Decimal) -> str:
    return f"{int(value)} day{'s' if int(value) != 1 else ''}"


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f} %"


def _milestone_rows(queryset, milestone_ids):
    if milestone_ids is not None:
        queryset = queryset.filter(pk__in=milestone_ids)
    return queryset.values(
        "pk",
        "name",
        "portfolio_id",
        "portfolio__name",
        "portfolio__org_unit__path",
        "org_unit_id",
        "org_unit__path",
        "planned_completion",
        "forecast_completion",
        "approved_budget",
        "estimate_at_completion",
    )


def _milestone_hit(rule, row, measured, summary) -> Hit:
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


def delay_hits(book: RuleBook, *, milestone_ids=None) -> list[Hit]:
    """Open milestones forecast to finish more than the threshold late."""
    lowest = book.lowest_threshold(Trigger.DELAY)
    if lowest is None:
        return []
    queryset = (
        Milestone.objects.open()
        .filter(forecast_completion__isnull=False)
        .annotate(delay=DaysBetween("forecast_completion", "planned_completion"))
        .filter(delay__gt=int(lowest))
    )
    hits = []
    for row in _milestone_rows(queryset, milestone_ids):
        rule = book.rule(row["portfolio_id"], Trigger.DELAY)
        delay = (row["forecast_completion"] - row["planned_completion"]).days
        if rule is None or not delay > rule.threshold:
            continue
        summary = (
            f"{row['name']} is forecast {_days(Decimal(delay))} late "
            f"({row['forecast_completion']:%Y-%m-%d} instead of "
            f"{row['planned_completion']:%Y-%m-%d}; threshold "
            f"{_days(rule.threshold)})"
        )
        hits.append(_milestone_hit(rule, row, Decimal(delay), summary))
    return hits


def budget_hits(book: RuleBook, *, milestone_ids=None) -> list[Hit]:
    """Open milestones whose estimate at completion exceeds the approved
    budget by more than the threshold (a percentage of the approved budget)."""
    if book.lowest_threshold(Trigger.BUDGET_OVERRUN) is None:
        return []
    # Any overrun is fetched; the exact comparison is done in Decimal below,
    # so 15.00 % never escalates against 15 % whatever the database's numerics.
    queryset = Milestone.objects.open().filter(
        approved_budget__gt=0,
        estimate_at_completion__isnull=False,
        estimate_at_completion__gt=F("approved_budget"),
    )
    hits = []
    for row in _milestone_rows(queryset, milestone_ids):
        rule = book.rule(row["portfolio_id"], Trigger.BUDGET_OVERRUN)
        approved, estimate = row["approved_budget"], row["estimate_at_completion"]
        if rule is None or not (estimate - approved) * HUNDRED > (
            rule.threshold * approved
        ):
            continue
        overrun = ((estimate - approved) * HUNDRED / approved).quantize(
            CENT, rounding=ROUND_UP
        )
        summary = (
            f"{row['name']} is forecast {_pct(overrun)} over budget "
            f"(estimate {estimate:,.2f} against {approved:,.2f} approved; "
            f"threshold {_pct(rule.threshold)})"
        )
        hits.append(_milestone_hit(rule, row, overrun, summary))
    return hits


def resistance_hits(book: RuleBook) -> list[Hit]:
    """Stakeholder groups whose latest assessment shows more resistance than
    the threshold (on a portfolio, or on a milestone still open)."""
    lowest = book.lowest_threshold(Trigger.STAKEHOLDER_RESISTANCE)
    if lowest is None:
        return []
    same_subject = Coalesce(OuterRef("milestone_id"), Value(0))
    newer = (
        StakeholderAssessment.objects.filter(
            portfolio_id=OuterRef("portfolio_id"),
            stakeholder_group=OuterRef("stakeholder_group"),
        )
        .annotate(subject=Coalesce("milestone_id", Value(0)))
        .filter(
            subject=Coalesce(same_subject, Value(0), output_field=BigIntegerField())
        )
        .filter(
            Q(assessed_on__gt=OuterRef("assessed_on"))
            | Q(assessed_on=OuterRef("assessed_on"), pk__gt=OuterRef("pk"))
        )
    )
    rows = (
        StakeholderAssessment.objects.filter(resistance_percent__gt=lowest)
        .filter(~Exists(newer))
        .exclude(milestone__status__in=CLOSED_STATUSES)
        .values(
            "pk",
            "stakeholder_group",
            "resistance_percent",
            "assessed_on",
            "portfolio_id",
            "portfolio__name",
            "portfolio__org_unit__path",
            "milestone_id",
            "milestone__name",
            "org_unit_id",
            "org_unit__path",
        )
    )
    hits = []
    for row in rows:
        rule = book.rule(row["portfolio_id"], Trigger.STAKEHOLDER_RESISTANCE)
        resistance = row["resistance_percent"]
        if rule is None or not resistance > rule.threshold:
            continue
        on = row["milestone__name"] or row["portfolio__name"]
        summary = (
            f"{_pct(resistance)} of {row['stakeholder_group']} resist {on} "
            f"(assessed {row['assessed_on']:%Y-%m-%d}; threshold "
            f"{_pct(rule.threshold)})"
        )
        hits.append(
            Hit(
                rule=rule,
                subject_key=(
                    f"stakeholders:{row['portfolio_id']}:{row['milestone_id'] or 0}:"
                    f"{row['stakeholder_group']}"
                )[:200],
                portfolio_id=row["portfolio_id"],
                portfolio_name=row["portfolio__name"],
                portfolio_unit_path=row["portfolio__org_unit__path"],
                org_unit_id=row["org_unit_id"],
                org_unit_path=row["org_unit__path"],
                milestone_id=row["milestone_id"],
                assessment_id=row["pk"],
                measured=resistance,
                summary=summary,
            )
        )
    return hits


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def blocker_hits(book: RuleBook, *, now: datetime, issue_ids=None) -> list[Hit]:
    """Unresolved technical issues open for more days than the threshold."""
    lowest = book.lowest_threshold(Trigger.TECHNICAL_BLOCKER)
    if lowest is None:
        return []
    today = timezone.localdate(now)
    cutoff = _start_of_day(today - timedelta(days=int(lowest)))
    queryset = Issue.objects.open().filter(
        kind=Issue.Kind.TECHNICAL, opened_at__lt=cutoff
    )
    if issue_ids is not None:
        queryset = queryset.filter(pk__in=issue_ids)
    rows = queryset.values(
        "pk",
        "title",
        "opened_at",
        "portfolio_id",
        "portfolio__name",
        "portfolio__org_unit__path",
        "org_unit_id",
        "org_unit__path",
    )
    hits = []
    for row in rows:
        rule = book.rule(row["portfolio_id"], Trigger.TECHNICAL_BLOCKER)
        days_open = (today - timezone.localdate(row["opened_at"])).days
        if rule is None or not days_open > rule.threshold:
            continue
        summary = (
            f"Technical blocker “{row['title']}” has been open for "
            f"{_days(Decimal(days_open))} (threshold {_days(rule.threshold)})"
        )
        hits.append(
            Hit(
                rule=rule,
                subject_key=f"issue:{row['pk']}",
                portfolio_id=row["portfolio_id"],
                portfolio_name=row["portfolio__name"],
                portfolio_unit_path=row["portfolio__org_unit__path"],
                org_unit_id=row["org_unit_id"],
                org_unit_path=row["org_unit__path"],
                issue_id=row["pk"],
                measured=Decimal(days_open),
                summary=summary,
            )
        )
    return hits


# The sweep -------------------------------------------------------------------


@dataclass
class SweepResult:
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    unchanged: int = 0
    notifications: int = 0
    reminders: int = 0
    redispatched: int = 0

    def as_dict(self) -> dict:
        return {
            "opened": len(self.opened),
            "resolved": len(self.resolved),
            "unchanged": self.unchanged,
            "notifications": self.notifications,
            "reminders": self.reminders,
            "redispatched": self.redispatched,
        }

    def __str__(self) -> str:
        return (
            f"{len(self.opened)} escalation(s) opened, {len(self.resolved)} resolved, "
            f"{self.unchanged} unchanged; {self.notifications} notification(s) and "
            f"{self.reminders} reminder(s) queued"
        )


@transaction.atomic
def escalations_sweep(
    *,
    now: datetime | None = None,
    milestone_ids: Iterable[int] | None = None,
    issue_ids: Iterable[int] | None = None,
) -> SweepResult:
    """Evaluate the escalation rules and reconcile the escalations.

    With no arguments: every trigger over the whole database. With
    ``milestone_ids``: only the milestone triggers (delay, budget) of those
    milestones; with ``issue_ids``: only the blocker trigger of those issues.
    """
    now = now or timezone.now()
    scoped = milestone_ids is not None or issue_ids is not None
    milestone_ids = list(milestone_ids) if milestone_ids is not None else None
    issue_ids = list(issue_ids) if issue_ids is not None else None
    # Locking the rules serialises concurrent sweeps (the periodic one and
    # those after progress updates), so two never open the same escalation.
    book = RuleBook(
        EscalationRule.objects.select_for_update(no_key=True)
        .select_related(None)
        .order_by("pk")
    )

    hits: list[Hit] = []
    active = Escalation.objects.active().select_related("rule")
    if not scoped:
        hits += delay_hits(book)
        hits += budget_hits(book)
        hits += resistance_hits(book)
        hits += blocker_hits(book, now=now)
    else:
        subjects = Q(pk__in=[])
        if milestone_ids is not None:
            hits += delay_hits(book, milestone_ids=milestone_ids)
            hits += budget_hits(book, milestone_ids=milestone_ids)
            subjects |= Q(
                milestone_id__in=milestone_ids, rule__trigger__in=MILESTONE_TRIGGERS
            )
        if issue_ids is not None:
            hits += blocker_hits(book, now=now, issue_ids=issue_ids)
            subjects |= Q(
                issue_id__in=issue_ids, rule__trigger=Trigger.TECHNICAL_BLOCKER
            )
        active = active.filter(subjects)

    holding = {hit.key: hit for hit in hits}
    current = {(e.rule_id, e.subject_key): e for e in active}
    result = SweepResult()

    to_resolve = [e for key, e in current.items() if key not in holding]
    for escalation in to_resolve:
        escalation.status = Escalation.Status.RESOLVED
        escalation.resolved_at = now
        escalation._change_reason = (
            "Resolved by the escalation sweep: the condition no longer holds"
        )
    if to_resolve:
        bulk_update_with_history(
            to_resolve,
            Escalation,
            ["status", "resolved_at"],
            default_user=SYSTEM_USER,
            default_date=now,
        )
        result.resolved = [e.pk for e in to_resolve]

    new_hits = [hit for key, hit in holding.items() if key not in current]
    opened: list[Escalation] = []
    if new_hits:
        rows = []
        for hit in new_hits:
            escalation = Escalation(
                rule=hit.rule,
                subject_key=hit.subject_key,
                portfolio_id=hit.portfolio_id,
                org_unit_id=hit.org_unit_id,
                milestone_id=hit.milestone_id,
                issue_id=hit.issue_id,
                assessment_id=hit.assessment_id,
                measured=hit.measured,
                threshold=hit.rule.threshold,
                summary=hit.summary[:400],
                status=Escalation.Status.OPEN,
                opened_at=now,
            )
            escalation._change_reason = _opening_reason(hit)
            rows.append(escalation)
        opened = bulk_create_with_history(
            rows, Escalation, default_user=SYSTEM_USER, default_date=now
        )
        result.opened = [e.pk for e in opened]
        result.notifications = _notify_opened(opened, new_hits)
        opened_ids = [(e.pk, e.rule.trigger) for e in opened]
        transaction.on_commit(lambda: _announce(opened_ids))
    result.unchanged = len(current) - len(to_resolve)
    # Budget overruns call for a financial review: one reauthorization request
    # per unresolved escalation (those that have one are skipped, so a second
    # sweep adds nothing and a missed one is caught up).
    still_open = [e for key, e in current.items() if key in holding]
    _request_reauthorizations([*opened, *still_open])
    return result


def _request_reauthorizations(escalations: list[Escalation]) -> int:
    """Open the missing approval requests of budget-overrun escalations
    (``milestones.services.approval_requests_for_escalations``)."""
    budget = [
        (e.pk, e.milestone_id, e.summary)
        for e in escalations
        if e.rule.trigger == Trigger.BUDGET_OVERRUN and e.milestone_id
    ]
    if not budget:
        return 0
    return len(approval_requests_for_escalations(budget))


def _opening_reason(hit: Hit) -> str:
    unit = hit.rule.unit
    measured = f"{hit.measured.normalize():f} {unit}"
    threshold = f"{hit.rule.threshold.normalize():f} {unit}"
    reason = f"Opened by the escalation sweep: {hit.rule.get_trigger_display()}"
    # History keeps 100 characters of reason.
    return f"{reason} {measured} > {threshold}"[:100]


def _announce(opened: list[tuple[int, str]]) -> None:
    for escalation_id, trigger in opened:
        escalation_opened.send(
            sender=Escalation, escalation_id=escalation_id, trigger=trigger
        )


# Notifications -------------------------------------------------------------------


def _escalation_link(escalation_id: int) -> str:
    return reverse("admin:risks_escalation_change", args=[escalation_id])


# More new escalations than this for one recipient (or one chat channel) in
# one sweep are announced in one digest message rather than one each: a first
# sweep over a large organisation must not send anyone thousands of e-mails.
DIGEST_AFTER = 10
DIGEST_LISTED = 10


@dataclass(frozen=True)
class _News:
    """One opened escalation as its notifications tell it."""

    escalation_id: int
    trigger: str
    portfolio_name: str
    key: str
    subject: str
    body: str
    link: str


def _notify_opened(escalations: list[Escalation], hits: list[Hit]) -> int:
    """Tell each new escalation's target role (email and in the portal) and
    post it to the portfolio's Slack and Teams channels. One query for the
    recipients, one for the channels, whatever the number of escalations.

    A recipient or channel with more than ``DIGEST_AFTER`` new escalations in
    this sweep gets one digest instead (counts by trigger and portfolio, the
    first ``DIGEST_LISTED`` listed), keyed by the set of escalations, so a
    retried sweep sends it once."""
    by_key = {hit.key: hit for hit in hits}
    audiences = {}
    for escalation in escalations:
        hit = by_key[(escalation.rule_id, escalation.subject_key)]
        audiences[escalation.pk] = selectors.Audience(
            role=escalation.rule.target_role,
            portfolio_id=hit.portfolio_id,
            unit_paths=(hit.org_unit_path, hit.portfolio_unit_path),
        )
    members = selectors.role_members(audiences)
    channels = {
        c.portfolio_id: c
        for c in PortfolioChannels.objects.filter(
            portfolio_id__in={hit.portfolio_id for hit in hits}
        )
    }
    per_user: dict[int, list[_News]] = defaultdict(list)
    users = {}
    per_chat: dict[tuple[str, str], list[_News]] = defaultdict(list)
    for escalation in escalations:
        hit = by_key[(escalation.rule_id, escalation.subject_key)]
        rule = escalation.rule
        role = Role(rule.target_role).label
        body = "\n".join(
            line
            for line in (
                hit.summary + ".",
                f"Portfolio: {hit.portfolio_name}",
                f"Consequence: {rule.consequence}" if rule.consequence else "",
                f"Sent to: {role} of the portfolio. Acknowledge it in Cairn.",
            )
            if line
        )
        news = _News(
            escalation_id=escalation.pk,
            trigger=rule.get_trigger_display(),
            portfolio_name=hit.portfolio_name,
            key=f"escalation:{escalation.pk}",
            subject=f"Escalation ({rule.get_trigger_display()}): {hit.summary}",
            body=body,
            link=_escalation_link(escalation.pk),
        )
        for user in members.get(escalation.pk, []):
            per_user[user.pk].append(news)
            users[user.pk] = user
        portfolio_channels = channels.get(hit.portfolio_id)
        if portfolio_channels is not None:
            for channel, url in (
                ("slack", portfolio_channels.slack_webhook_url),
                ("teams", portfolio_channels.teams_webhook_url),
            ):
                if url:
                    per_chat[(channel, url)].append(news)
    messages: list[Message] = []
    for user_id, items in per_user.items():
        user = users[user_id]
        if len(items) > DIGEST_AFTER:
            items = [_digest(items)]
        for news in items:
            messages.append(
                Message(
                    "portal",
                    f"{news.key}:portal:{user.pk}",
                    news.subject,
                    news.body,
                    user.pk,
                    "",
                    news.link,
                )
            )
            if user.email:
                messages.append(
                    Message(
                        "email",
                        f"{news.key}:email:{user.pk}",
                        news.subject,
                        news.body,
                        user.pk,
                        user.email,
                        news.link,
                    )
                )
    for (channel, url), items in per_chat.items():
        if len(items) > DIGEST_AFTER:
            items = [_digest(items)]
        for news in items:
            messages.append(
                Message(
                    channel,
                    f"{news.key}:{channel}",
                    news.subject,
                    news.body,
                    None,
                    url,
                    news.link,
                )
            )
    return notifications_enqueue(messages)


def _digest(items: list[_News]) -> _News:
    """Many new escalations as one message."""
    ids = sorted(news.escalation_id for news in items)
    fingerprint = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]
    by_trigger = Counter(news.trigger for news in items)
    by_portfolio = Counter(news.portfolio_name for news in items)
    listed = sorted(items, key=lambda news: news.escalation_id)[:DIGEST_LISTED]
    lines = [
        f"{len(items)} new escalations in your scope.",
        "By trigger: "
        + ", ".join(f"{name} {n}" for name, n in sorted(by_trigger.items())),
        "By portfolio: "
        + ", ".join(f"{name} {n}" for name, n in by_portfolio.most_common()),
        f"The first {len(listed)}:",
        *(f"- {news.subject}" for news in listed),
        "Acknowledge them in Cairn.",
    ]
    return _News(
        escalation_id=ids[0],
        trigger="",
        portfolio_name="",
        key=f"escalation-digest:{fingerprint}",
        subject=f"{len(items)} new escalations in your scope",
        body="\n".join(lines),
        link=reverse("admin:risks_escalation_changelist"),
    )


# Reminders ------------------------------------------------------------------------

PERIODS = ("daily", "weekly", "monthly")


def reminder_period(now: datetime) -> str:
    """The current reminder period's name: one reminder per owner per period
    (``CAIRN_REMINDER_PERIOD``: daily, weekly (default) or monthly)."""
    period = getattr(settings, "CAIRN_REMINDER_PERIOD", "weekly")
    day = timezone.localdate(now)
    if period == "daily":
        return day.isoformat()
    if period == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return f"{day:%Y-%m}"
    raise ImproperlyConfigured(
        f"CAIRN_REMINDER_PERIOD is {period!r}; use one of {', '.join(PERIODS)}."
    )


@transaction.atomic
def reminders_send(*, now: datetime | None = None) -> int:
    """The daily monitoring's reminders: each owner of an open milestone with
    no progress update for ``CAIRN_STALE_DAYS`` (14) days, or due within
    ``CAIRN_DUE_SOON_DAYS`` (7) days, gets one digest per period, in the
    portal and by email. Returns how many outbox rows were added."""
    now = now or timezone.now()
    period = reminder_period(now)
    stale_days = int(getattr(settings, "CAIRN_STALE_DAYS", 14))
    due_days = int(getattr(settings, "CAIRN_DUE_SOON_DAYS", 7))
    owned = Q(owner__isnull=False, owner__is_active=True)
    columns = (
        "pk",
        "name",
        "owner_id",
        "owner__email",
        "portfolio__name",
        "planned_completion",
        "last_progress_at",
    )
    stale = Milestone.objects.stale(stale_days, now).filter(owned).values(*columns)
    due = (
        Milestone.objects.due_within(due_days, timezone.localdate(now))
        .filter(owned)
        .values(*columns)
    )
    digests: dict[int, dict] = {}
    for kind, rows in (("stale", stale), ("due", due)):
        for row in rows:
            digest = digests.setdefault(
                row["owner_id"], {"email": row["owner__email"], "stale": [], "due": []}
            )
            digest[kind].append(row)
    messages: list[Message] = []
    for owner_id, digest in digests.items():
        subject, body = _digest_text(digest, stale_days, due_days)
        key = f"reminder:{period}:{owner_id}"
        link = "/milestones/mine/"
        messages.append(
            Message("portal", f"{key}:portal", subject, body, owner_id, "", link)
        )
        if digest["email"]:
            messages.append(
                Message(
                    "email",
                    f"{key}:email",
                    subject,
                    body,
                    owner_id,
                    digest["email"],
                    link,
                )
            )
    return notifications_enqueue(messages)


def _digest_text(digest: dict, stale_days: int, due_days: int) -> tuple[str, str]:
    parts = []
    if digest["stale"]:
        parts.append(f"{len(digest['stale'])} need a progress update")
    if digest["due"]:
        parts.append(f"{len(digest['due'])} due within {due_days} days")
    subject = "Your milestones: " + ", ".join(parts)
    lines = []
    if digest["stale"]:
        lines.append(f"No progress update for {stale_days} days or more:")
        for row in digest["stale"]:
            last = row["last_progress_at"]
            since = f"since {timezone.localdate(last):%Y-%m-%d}" if last else "yet"
            lines.append(
                f"- {row['name']} ({row['portfolio__name']}): no update {since}"
            )
    if digest["due"]:
        if lines:
            lines.append("")
        lines.append(f"Due within {due_days} days:")
        for row in digest["due"]:
            lines.append(
                f"- {row['name']} ({row['portfolio__name']}): due "
                f"{row['planned_completion']:%Y-%m-%d}"
            )
    return subject, "\n".join(lines)


def pending_checks_evaluate(
    *,
    milestone_ids: Iterable[int] | None = None,
    older_than_seconds: int | None = None,
    now: datetime | None = None,
) -> SweepResult:
    """Evaluate the escalations of milestones queued for a check
    (``milestones.MilestoneCheck``) and clear their queue rows, in one
    transaction: those given, or every one queued more than
    ``older_than_seconds`` ago (whose task never ran). Rows queued after this
    started stay for the next run."""
    now = now or timezone.now()
    if milestone_ids is not None:
        ids = sorted(set(milestone_ids))
    else:
        queued = MilestoneCheck.objects.filter(
            queued_at__lte=now - timedelta(seconds=older_than_seconds or 0)
        )
        ids = sorted(queued.values_list("milestone_id", flat=True)[:5000])
    if not ids:
        return SweepResult()
    with transaction.atomic():
        result = escalations_sweep(now=now, milestone_ids=ids)
        MilestoneCheck.objects.filter(milestone_id__in=ids, queued_at__lte=now).delete()
    return result


def monitoring_run(
    *, now: datetime | None = None, reminders: bool = True
) -> SweepResult:
    """The daily monitoring: a full escalation sweep, the owners' reminders,
    and a re-dispatch of notifications whose delivery task was lost."""
    now = now or timezone.now()
    result = escalations_sweep(now=now)
    # The full sweep covered every milestone queued for a check by then.
    MilestoneCheck.objects.filter(queued_at__lte=now).delete()
    if reminders:
        result.reminders = reminders_send(now=now)
    result.redispatched = notifications_dispatch_stuck(now=now)
    logger.info("Escalation sweep: %s", result)
    return result
