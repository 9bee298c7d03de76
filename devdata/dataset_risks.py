"""Risks and stakeholder assessments for ``generate_dataset`` at scale.

``devdata.dataset`` calls :func:`generate_risks` with the dataset's context
once its milestones exist. Risks are spread over the portfolios in proportion
to their milestones, four in five on one milestone (the rest on the portfolio
itself), with probability and impact drawn so that most are low or medium and
a few critical. Each portfolio also gets stakeholder assessments (one per
twenty risks, two readings a month apart for one group on a milestone), some
over the resistance threshold, so a sweep has every trigger to evaluate.

Rows are written with ``portal.audit.bulk_create_with_history``: each gets a
chained creation record, like every generated row. Random choices come from
the context's seeded stream ``risks``, so the data is deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from milestones.models import Milestone
from portal.audit import bulk_create_with_history
from portal.kernel import set_history_user
from risks.models import Risk, StakeholderAssessment, severity_for

BATCH = 500
TITLES = (
    ("Vendor delivery slips", Risk.Category.EXTERNAL),
    ("Key engineer leaves the team", Risk.Category.ORGANISATIONAL),
    ("Integration fails load testing", Risk.Category.TECHNICAL),
    ("Budget cut at mid-year review", Risk.Category.FINANCIAL),
    ("Works council objects to the rollout", Risk.Category.ORGANISATIONAL),
    ("Regulator changes reporting rules", Risk.Category.COMPLIANCE),
    ("Data migration loses history", Risk.Category.TECHNICAL),
    ("Sponsor moves to another role", Risk.Category.STRATEGIC),
    ("Site not ready for installation", Risk.Category.OPERATIONAL),
    ("Licence costs rise at renewal", Risk.Category.FINANCIAL),
)
MITIGATIONS = (
    "Second supplier qualified; weekly delivery call.",
    "Pair a deputy on every critical task.",
    "Performance test in the staging environment first.",
    "Phase the spend so the first release stands alone.",
    "Early briefing with employee representatives.",
    "Compliance review of each release.",
)
GROUPS = ("Works council", "Sales teams", "Finance", "Site managers", "IT operations")
# Probability and impact are drawn from these weights (1..5): most risks are
# low or medium, a few critical.
WEIGHTS = (30, 30, 20, 12, 8)


def generate_risks(ctx, count: int) -> None:
    """Create ``count`` risks (and assessments) over the context's portfolios."""
    rng = ctx.rng("risks")
    portfolios = [p for p in ctx.portfolios if ctx.milestone_ids.get(p.pk)]
    if not portfolios:
        return
    total = sum(len(ctx.milestone_ids[p.pk]) for p in portfolios)
    rows = Milestone.objects.filter(portfolio__in=portfolios).values_list(
        "pk", "org_unit_id", "owner_id"
    )
    facts = {pk: (unit_id, owner_id) for pk, unit_id, owner_id in rows}
    risks, assessments = [], []
    done = 0
    for index, portfolio in enumerate(portfolios):
        ids = ctx.milestone_ids[portfolio.pk]
        if index == len(portfolios) - 1:
            share = count - done
        else:
            share = round(count * len(ids) / total)
        done += share
        for _ in range(share):
            risks.append(_risk(ctx, rng, portfolio, ids, facts))
        for _ in range(max(1, share // 20)):
            assessments.extend(_assessments(ctx, rng, portfolio, ids, facts))
    for obj in (*risks, *assessments):
        set_history_user(obj, None)
    bulk_create_with_history(
        risks, Risk, batch_size=BATCH, default_change_reason="Risk logged"
    )
    bulk_create_with_history(
        assessments,
        StakeholderAssessment,
        batch_size=BATCH,
        default_change_reason="Stakeholder assessment recorded",
    )
    ctx.add("risks", len(risks))
    ctx.add("stakeholder assessments", len(assessments))


def _level(rng) -> int:
    return rng.choices(range(1, 6), weights=WEIGHTS)[0]


def _risk(ctx, rng, portfolio, ids, facts) -> Risk:
    title, category = rng.choice(TITLES)
    on_milestone = rng.random() < 0.8
    milestone_id = rng.choice(ids) if on_milestone else None
    unit_id, owner_id = (
        facts[milestone_id] if milestone_id else (portfolio.org_unit_id, None)
    )
    probability, impact = _level(rng), _level(rng)
    score = probability * impact
    status = rng.choices(list(Risk.Status), weights=(60, 30, 10))[0]
    return Risk(
        portfolio=portfolio,
        milestone_id=milestone_id,
        org_unit_id=unit_id,
        title=title,
        category=category,
        probability=probability,
        impact=impact,
        score=score,
        severity=severity_for(score),
        owner_id=owner_id,
        mitigation=rng.choice(MITIGATIONS),
        status=status,
        next_review=ctx.as_of + timedelta(rng.randint(-10, 30)),
    )


def _assessments(ctx, rng, portfolio, ids, facts) -> list[StakeholderAssessment]:
    milestone_id = rng.choice(ids)
    unit_id, owner_id = facts[milestone_id]
    group = rng.choice(GROUPS)
    latest = Decimal(rng.randint(5, 55))
    earlier = max(Decimal(0), latest + rng.randint(-15, 15))
    return [
        StakeholderAssessment(
            portfolio=portfolio,
            milestone_id=milestone_id,
            org_unit_id=unit_id,
            stakeholder_group=group,
            resistance_percent=resistance,
            engagement_score=rng.randint(1, 5),
            assessed_on=ctx.as_of - timedelta(days),
            assessed_by_id=owner_id,
        )
        for resistance, days in ((earlier, 35), (latest, rng.randint(1, 5)))
    ]
