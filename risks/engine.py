"""The escalation engine: one code path for the periodic task, the
``run_escalations`` command and the per-milestone check after a progress update.

A sweep evaluates the escalation triggers (``risks.triggers``: milestone delay,
budget overrun, stakeholder resistance and technical blocker, one module each)
against the whole database (or a few subjects) with one set-based query per
trigger, whatever the number of milestones, and reconciles the result with the
unresolved escalations:

- a (rule, subject) whose condition holds and has no unresolved escalation is
  opened, and the rule's target role is notified (once: the outbox dedupes);
- an unresolved escalation whose condition no longer holds (or whose rule no
  longer applies to its subject) is resolved;
- anything else is left alone, so a second sweep changes nothing;
- each trigger's ``on_holding`` hook then sees its escalations that hold
  (budget overrun opens the missing reauthorization requests).

A measure escalates when it is strictly greater than the threshold; each
trigger's module says what it measures and its default.

Only open milestones (not completed or cancelled) and unresolved issues count.
The engine writes as the system: history rows have no user and a reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from milestones.models import Milestone, MilestoneCheck
from portal.audit import bulk_create_with_history, bulk_update_with_history
from portal.kernel import set_change_reason
from portal.notifications import Message
from portal.notifications.services import (
    notifications_dispatch_stuck,
    notifications_enqueue,
)

from . import selectors
from .models import Escalation, EscalationRule, PortfolioChannels
from .signals import escalation_opened
from .triggers import Hit, RuleBook, Subject, registry

logger = logging.getLogger(__name__)

#: The engine writes as the system: no user on its history rows.
SYSTEM_USER = None


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
    ``milestone_ids``: only the triggers whose subject is a milestone (delay,
    budget overrun), on those milestones; with ``issue_ids``: only those whose
    subject is an issue (technical blocker), on those issues.
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
        for spec in registry:
            hits += spec.hits(book, now=now)
    else:
        # Only the triggers of the subjects given, and only their escalations
        # of those subjects can resolve.
        scope = {Subject.MILESTONE: milestone_ids, Subject.ISSUE: issue_ids}
        subjects = Q(pk__in=[])
        for subject, ids in scope.items():
            specs = [spec for spec in registry if spec.subject == subject]
            if ids is None or not specs:
                continue
            for spec in specs:
                hits += spec.hits(book, now=now, ids=ids)
            subjects |= Q(
                **{f"{subject.column}__in": ids},
                rule__trigger__in=[spec.value for spec in specs],
            )
        active = active.filter(subjects)

    holding = {hit.key: hit for hit in hits}
    current = {(e.rule_id, e.subject_key): e for e in active}
    result = SweepResult()

    to_resolve = [e for key, e in current.items() if key not in holding]
    for escalation in to_resolve:
        escalation.status = Escalation.Status.RESOLVED
        escalation.resolved_at = now
        set_change_reason(
            escalation,
            "Resolved by the escalation sweep: the condition no longer holds",
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
            set_change_reason(escalation, _opening_reason(hit))
            rows.append(escalation)
        opened = bulk_create_with_history(
            rows, Escalation, default_user=SYSTEM_USER, default_date=now
        )
        result.opened = [e.pk for e in opened]
        result.notifications = _notify_opened(opened, new_hits)
        opened_ids = [(e.pk, e.rule.trigger) for e in opened]
        transaction.on_commit(lambda: _announce(opened_ids))
    result.unchanged = len(current) - len(to_resolve)
    still_open = [e for key, e in current.items() if key in holding]
    _run_holding_hooks([*opened, *still_open])
    return result


def _run_holding_hooks(escalations: list[Escalation]) -> None:
    """Give each trigger its escalations that hold (``TriggerSpec.on_holding``:
    budget overrun's reauthorization requests)."""
    by_trigger: dict[str, list[Escalation]] = defaultdict(list)
    for escalation in escalations:
        by_trigger[escalation.rule.trigger].append(escalation)
    for spec in registry:
        if by_trigger.get(spec.value):
            spec.on_holding(by_trigger[spec.value])


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
