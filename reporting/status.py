"""One status: the RAG (green, amber, red, or no data) of a milestone, a
category and a portfolio, with the reason beside it.

Every page, the executive report and its PDF, and the API
(``GET /api/v1/portfolios/<slug>/status/``) show status through this module,
so a portfolio cannot read "green" beside a forecast that says it will be
late. Three signals, with thresholds in ``settings.CAIRN_STATUS`` (see
:func:`thresholds` and the README's "Status" section):

- schedule variance: the scheduled finish (critical path with forecasts and
  knock-on slips, ``scheduling``) against the planned completion;
- forecast: the P80 finish of the Monte Carlo outlook against the planned
  completion (the date by which 80 % of simulated runs finish; later than
  plan means less than an 80 % chance of finishing on time);
- open escalations (open or acknowledged, not resolved) on the milestone or
  the portfolio.

Rules
-----
- Milestone: completed work (completed, pending validation, 100 %) is green.
  Otherwise red when the scheduled finish is more than ``red_slip_days`` or
  the P80 finish more than ``red_p80_days`` after plan, or it has
  ``red_escalations`` open escalations; amber when the scheduled finish is
  more than ``amber_slip_days``, the P80 more than ``amber_p80_days`` after
  plan, or it has ``amber_escalations``; green otherwise.
- Category: the worst of its milestones (those the reader may view, cancelled
  ones left out); no data without any.
- Portfolio: the same three signals measured on the portfolio (its scheduled
  and P80 finish against its planned end, the latest planned completion; its
  open escalations), and at least amber when a category is red. A portfolio
  with nothing to schedule has no data (never "on plan").

The reason names every signal beyond its amber threshold, the worst first,
e.g. "P80 finish 11 weeks after plan (12 % chance of finishing by 8 May
2028)"; spans of eight weeks or more are in weeks, shorter ones in days (they sit
beside day counts on the pages).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Count, QuerySet

from accounts.roles import VIEW
from milestones.models import Milestone, Portfolio, Status
from risks import selectors as rs
from scheduling import selectors as sched

DEFAULT_THRESHOLDS = {
    "amber_slip_days": 0,
    "red_slip_days": 14,
    "amber_p80_days": 14,
    "red_p80_days": 42,
    "amber_escalations": 1,
    "red_escalations": 3,
}

DONE_STATUSES = (Status.COMPLETED, Status.PENDING_VALIDATION)


class Rag(models.TextChoices):
    """The status colours, worst last (``RANK``)."""

    NO_DATA = "no_data", "No data"
    GREEN = "green", "Green"
    AMBER = "amber", "Amber"
    RED = "red", "Red"


RANK = {Rag.NO_DATA: 0, Rag.GREEN: 1, Rag.AMBER: 2, Rag.RED: 3}


@dataclass(frozen=True)
class Thresholds:
    """Day and count limits beyond which a signal turns amber or red."""

    amber_slip_days: int
    red_slip_days: int
    amber_p80_days: int
    red_p80_days: int
    amber_escalations: int
    red_escalations: int


def thresholds() -> Thresholds:
    """``settings.CAIRN_STATUS`` over :data:`DEFAULT_THRESHOLDS` (read at call
    time); a missing key keeps its default."""
    values = {**DEFAULT_THRESHOLDS, **getattr(settings, "CAIRN_STATUS", {})}
    return Thresholds(**{key: int(values[key]) for key in DEFAULT_THRESHOLDS})


@dataclass(frozen=True)
class RagStatus:
    """A colour and why."""

    rag: str
    reason: str

    @property
    def label(self) -> str:
        return Rag(self.rag).label

    @property
    def text(self) -> str:
        """``"amber: P80 finish 16 days after plan"``."""
        return f"{self.label.lower()}: {self.reason}"

    @property
    def rank(self) -> int:
        return RANK[Rag(self.rag)]


NO_MILESTONES = RagStatus(Rag.NO_DATA, "no milestones to schedule")


def span(days: int) -> str:
    """Days as people say them: "1 day", "33 days", "11 weeks"."""
    days = abs(days)
    if days >= 56:
        return f"{round(days / 7)} weeks"
    return f"{days} day{'' if days == 1 else 's'}"


def _escalations(count: int) -> str:
    return f"{count} open escalation{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class Signals:
    """What a status is decided from (day counts are against the plan)."""

    slip_days: int
    p80_days: int | None
    probability: float | None
    planned: date | None
    escalations: int


def _p80_reason(s: Signals) -> str:
    reason = f"P80 finish {span(s.p80_days or 0)} after plan"
    if s.probability is not None and s.planned is not None:
        reason += (
            f" ({s.probability * 100:.0f} % chance of finishing by "
            f"{s.planned.day} {s.planned:%b %Y})"
        )
    return reason


def judge(s: Signals, t: Thresholds) -> RagStatus:
    """The colour of the worst of the three signals; the reason names every
    signal beyond its amber threshold, the worst first."""
    findings: list[tuple[int, str]] = []  # (rank, text)

    def grade(value: float, amber: float, red: float) -> int:
        if value > red:
            return RANK[Rag.RED]
        if value > amber:
            return RANK[Rag.AMBER]
        return RANK[Rag.GREEN]

    slip = grade(s.slip_days, t.amber_slip_days, t.red_slip_days)
    if slip > RANK[Rag.GREEN]:
        findings.append((slip, f"scheduled finish {span(s.slip_days)} after plan"))
    if s.p80_days is not None:
        p80 = grade(s.p80_days, t.amber_p80_days, t.red_p80_days)
        # A late scheduled finish already says the forecast is late; the
        # forecast adds news only when it is graver.
        if p80 > max(slip, RANK[Rag.GREEN]):
            findings.append((p80, _p80_reason(s)))
    # "N or more" escalations: the same grade as "more than N - 1".
    esc = grade(s.escalations, t.amber_escalations - 1, t.red_escalations - 1)
    if esc > RANK[Rag.GREEN]:
        findings.append((esc, _escalations(s.escalations)))
    if not findings:
        if s.p80_days is not None and s.p80_days > 0:
            return RagStatus(
                Rag.GREEN, f"on schedule; P80 finish {span(s.p80_days)} after plan"
            )
        return RagStatus(Rag.GREEN, "on schedule")
    findings.sort(key=lambda f: -f[0])  # stable: slip, forecast, escalations
    worst = findings[0][0]
    colour = Rag.RED if worst == RANK[Rag.RED] else Rag.AMBER
    return RagStatus(colour, "; ".join(text for _, text in findings))


def milestone_status(
    outlook: sched.MilestoneOutlook | None,
    *,
    status: str,
    escalations: int = 0,
    t: Thresholds | None = None,
) -> RagStatus:
    """One milestone's status from its outlook (``None``: not scheduled)."""
    t = t or thresholds()
    if status in DONE_STATUSES or (outlook is not None and outlook.done):
        return RagStatus(Rag.GREEN, "done")
    if outlook is None:
        return RagStatus(Rag.NO_DATA, "not scheduled")
    return judge(
        Signals(
            slip_days=(outlook.finish - outlook.planned_finish).days,
            p80_days=(outlook.p80 - outlook.planned_finish).days,
            probability=outlook.probability_on_time,
            planned=outlook.planned_finish,
            escalations=escalations,
        ),
        t,
    )


def worst_of(named: Sequence[tuple[str, RagStatus]], noun: str) -> RagStatus:
    """The worst of ``named`` (name, status) pairs, e.g. a category from its
    milestones: "red: 2 of 5 milestones red (Proof of Value: ...)"."""
    if not named:
        return RagStatus(Rag.NO_DATA, f"no {noun}s")
    worst = max(named, key=lambda pair: pair[1].rank)[1]
    if worst.rag == Rag.NO_DATA:
        return RagStatus(Rag.NO_DATA, f"no {noun} scheduled")
    same = [(name, s) for name, s in named if s.rag == worst.rag]
    total = len(named)
    if worst.rag == Rag.GREEN:
        return RagStatus(
            Rag.GREEN,
            f"all {total} {noun}s green" if total > 1 else f"the {noun} is green",
        )
    first_name, first = same[0]
    return RagStatus(
        worst.rag,
        f"{len(same)} of {total} {noun}s {worst.rag} "
        f"({first_name}: {first.reason.split('; ')[0]})",
    )


def portfolio_status(
    outlook: sched.ScheduleOutlook | None,
    *,
    escalations: int = 0,
    categories: Sequence[tuple[str, RagStatus]] = (),
    t: Thresholds | None = None,
) -> RagStatus:
    """A portfolio's status from its outlook, open escalations and its
    categories' statuses (a red category makes it at least amber)."""
    t = t or thresholds()
    if outlook is None or not outlook.milestone_count or outlook.p80 is None:
        return NO_MILESTONES
    own = judge(
        Signals(
            slip_days=outlook.slip_days or 0,
            p80_days=outlook.p80_days_late,
            probability=outlook.probability_on_time,
            planned=outlook.planned_finish,
            escalations=escalations,
        ),
        t,
    )
    red = [(name, s) for name, s in categories if s.rag == Rag.RED]
    if own.rag == Rag.GREEN and red:
        name = red[0][0]
        count = f"{len(red)} of {len(categories)} categories red"
        return RagStatus(Rag.AMBER, f"{count} ({name})")
    return own


# Reading the data ------------------------------------------------------------


@dataclass
class PortfolioStatus:
    """A portfolio's status and those of its visible categories and
    milestones (by id)."""

    overall: RagStatus
    categories: dict[int | None, RagStatus] = field(default_factory=dict)
    milestones: dict[int, RagStatus] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # milestone names


def _escalation_counts(
    escalations: QuerySet, portfolio_ids: Sequence[int]
) -> tuple[Counter[int], Counter[int]]:
    """Open escalations per portfolio and per milestone (one grouped query)."""
    rows = (
        escalations.filter(portfolio_id__in=portfolio_ids)
        .order_by()
        .values_list("portfolio_id", "milestone_id")
        .annotate(n=Count("pk"))
    )
    by_portfolio: Counter[int] = Counter()
    by_milestone: Counter[int] = Counter()
    for portfolio_id, milestone_id, n in rows:
        by_portfolio[portfolio_id] += n
        if milestone_id is not None:
            by_milestone[milestone_id] += n
    return by_portfolio, by_milestone


def statuses(
    user,
    portfolios: Iterable[Portfolio],
    outlooks: Mapping[int, sched.ScheduleOutlook | None],
    *,
    milestones: QuerySet | None = None,
    escalations: QuerySet | None = None,
) -> dict[int, PortfolioStatus]:
    """The status of each portfolio, its categories and the milestones
    ``user`` may view, by portfolio id, from the portfolios' outlooks
    (``scheduling.selectors.portfolio_outlooks``, or a historical one).

    ``milestones`` and ``escalations`` default to today's rows the user may
    view (open escalations only); a past report passes its snapshots (the
    historical rows as they stood, already restricted). Two queries whatever
    the number of portfolios.
    """
    portfolios = list(portfolios)
    ids = [p.pk for p in portfolios]
    if not ids:
        return {}
    t = thresholds()
    if escalations is None:
        escalations = rs.escalations_for(user).active()
    if milestones is None:
        milestones = Milestone.objects.restrict(user, VIEW)
    by_portfolio, by_milestone = _escalation_counts(escalations, ids)
    rows = (
        milestones.filter(portfolio_id__in=ids)
        .exclude(status=Status.CANCELLED)
        .order_by("planned_completion", "name", "id")
        .values_list(
            "id", "portfolio_id", "category_id", "category__name", "name", "status"
        )
    )
    result = {pk: PortfolioStatus(overall=NO_MILESTONES) for pk in ids}
    members: dict[int, dict[int | None, list[tuple[str, RagStatus]]]] = {
        pk: {} for pk in ids
    }
    category_names: dict[int | None, str] = {None: "Uncategorised"}
    for pk, portfolio_id, category_id, category_name, name, status in rows:
        if category_id is not None:
            category_names[category_id] = category_name
        outlook = outlooks.get(portfolio_id)
        m = milestone_status(
            outlook.milestones.get(pk) if outlook else None,
            status=status,
            escalations=by_milestone[pk],
            t=t,
        )
        result[portfolio_id].milestones[pk] = m
        result[portfolio_id].names[pk] = name
        members[portfolio_id].setdefault(category_id, []).append((name, m))
    for portfolio in portfolios:
        bundle = result[portfolio.pk]
        for category_id, pairs in members[portfolio.pk].items():
            bundle.categories[category_id] = worst_of(pairs, "milestone")
        named = [
            (category_names[category_id], s)
            for category_id, s in bundle.categories.items()
        ]
        bundle.overall = portfolio_status(
            outlooks.get(portfolio.pk),
            escalations=by_portfolio[portfolio.pk],
            categories=named,
            t=t,
        )
    return result


def category_of(bundle: PortfolioStatus | None, category_id: int) -> RagStatus:
    """A category's status in ``bundle``; no data when it has no visible
    milestone."""
    if bundle is None:
        return RagStatus(Rag.NO_DATA, "no milestones")
    return bundle.categories.get(category_id, RagStatus(Rag.NO_DATA, "no milestones"))
