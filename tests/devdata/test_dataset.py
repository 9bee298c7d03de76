"""``generate_dataset``: size, shape, history, determinism and bad input."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import Membership, OrgUnit, User
from devdata.dataset import digest
from milestones.models import (
    KPI,
    Dependency,
    KPIMeasurement,
    Milestone,
    Portfolio,
    ProgressUpdate,
    Status,
)

AS_OF = "2026-03-02"


def generate(*args: str) -> str:
    out = io.StringIO()
    call_command("generate_dataset", *args, stdout=out)
    return out.getvalue()


def printed_digest(output: str) -> str:
    return re.search(r"digest ([0-9a-f]{64})", output).group(1)


def assert_acyclic(edges: dict[int, set[int]], nodes: set[int]) -> None:
    indegree = dict.fromkeys(nodes, 0)
    for targets in edges.values():
        for target in targets:
            indegree[target] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        node = ready.pop()
        seen += 1
        for nxt in edges[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    assert seen == len(nodes), "the dependency graph has a cycle"


def test_generates_300_milestones_with_history_and_acyclic_dependencies(db):
    output = generate("--milestones", "300", "--seed", "7", "--as-of", AS_OF)

    milestones = Milestone.objects.filter(code__startswith="ds7-")
    assert milestones.count() == 300
    assert "portfolio 1/1" in output and "300 milestones" in output
    ids = set(milestones.values_list("pk", flat=True))

    # Dependencies: about three per milestone, inside one portfolio, always
    # from an earlier milestone to a later one, hence acyclic.
    edges: dict[int, set[int]] = defaultdict(set)
    links = Dependency.objects.filter(successor__in=ids).values_list(
        "predecessor_id",
        "successor_id",
        "predecessor__code",
        "successor__code",
        "predecessor__portfolio_id",
        "successor__portfolio_id",
    )
    for pred, succ, pred_code, succ_code, pred_portfolio, succ_portfolio in links:
        assert pred_portfolio == succ_portfolio
        assert pred_code < succ_code
        edges[pred].add(succ)
    assert 2.5 <= len(links) / 300 <= 3.5
    assert_acyclic(edges, ids)

    # Every milestone and every update has a history row; updates name their
    # authors, who are generated users with memberships.
    assert Milestone.history.filter(id__in=ids).values("id").distinct().count() == 300
    updates = ProgressUpdate.objects.filter(milestone__in=ids)
    assert updates.count() > 300
    assert (
        ProgressUpdate.history.filter(
            milestone_id__in=ids, history_user__isnull=False
        ).count()
        == updates.count()
    )
    authors = User.objects.filter(progressupdate__in=updates).distinct()
    assert not authors.exclude(username__startswith="ds7-").exists()
    assert not authors.filter(memberships__isnull=True).exists()
    assert Membership.objects.filter(user__username__startswith="ds7-").count() > 40

    # Portfolios and organisation.
    for portfolio in Portfolio.objects.filter(slug__startswith="ds7-"):
        total = portfolio.categories.aggregate(total=Sum("weight"))["total"]
        assert total == Decimal("100")
    kinds = set(
        OrgUnit.objects.filter(code__startswith="ds7-").values_list("kind", flat=True)
    )
    assert kinds == {"region", "country", "site"}
    kpis = KPI.objects.filter(portfolio__slug__startswith="ds7-")
    assert kpis.exists()
    assert not kpis.annotate(n=Count("measurements")).filter(n=0).exists()
    measurements = KPIMeasurement.objects.filter(kpi__in=kpis)
    assert (
        KPIMeasurement.history.filter(kpi_id__in=kpis.values("pk")).count()
        == measurements.count()
    )

    # Each milestone stands where its last update left it.
    statuses = set(milestones.values_list("status", flat=True))
    assert {Status.NOT_STARTED, Status.COMPLETED} <= statuses
    for milestone in milestones.annotate(n=Count("updates")).filter(n__gt=0)[:50]:
        latest = milestone.updates.order_by("-submitted_at").first()
        assert milestone.status == latest.status
        assert milestone.percent_complete == latest.percent_complete
        assert milestone.last_progress_at == latest.submitted_at
        assert milestone.version == milestone.n + 1
        assert latest.submitted_at <= timezone.now()
    assert printed_digest(output) == digest("ds7")


@pytest.mark.django_db(transaction=True)
def test_same_seed_gives_the_same_data_in_a_fresh_database():
    first = printed_digest(
        generate("--milestones", "300", "--seed", "7", "--as-of", AS_OF)
    )
    call_command("flush", interactive=False, verbosity=0)
    assert not Milestone.objects.exists()

    second = printed_digest(
        generate("--milestones", "300", "--seed", "7", "--as-of", AS_OF)
    )
    other = printed_digest(
        generate("--milestones", "300", "--seed", "8", "--as-of", AS_OF)
    )

    assert first == second == digest("ds7")
    assert other != first


def test_refuses_to_run_twice_into_the_same_namespace(db):
    generate("--milestones", "5", "--seed", "3", "--as-of", AS_OF)
    before = Milestone.objects.count(), User.objects.count()

    with pytest.raises(CommandError, match="'ds3' is already in use"):
        generate("--milestones", "5", "--seed", "3", "--as-of", AS_OF)
    assert (Milestone.objects.count(), User.objects.count()) == before

    generate("--milestones", "5", "--seed", "3", "--prefix", "other")
    assert Milestone.objects.filter(code__startswith="other-").count() == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--milestones", "0"], "--milestones: must be 1 or more, got 0"),
        (["--milestones", "-5"], "--milestones: must be 1 or more, got -5"),
        (["--milestones", "abc"], "--milestones: expected a whole number, got 'abc'"),
        (["--milestones", "1.5"], "--milestones: expected a whole number"),
        ([], "--milestones"),
        (["--milestones", "10", "--seed", "-1"], "--seed: must be 0 or more"),
        (["--milestones", "10", "--portfolios", "0"], "--portfolios: must be 1"),
        (["--milestones", "10", "--portfolios", "11"], "--portfolios must be from 1"),
        (["--milestones", "10", "--as-of", "2026-13-01"], "expected a date"),
        (["--milestones", "10", "--as-of", "2999-01-01"], "cannot be in the future"),
        (["--milestones", "10", "--prefix", "Bad-Prefix"], "--prefix must be"),
        (["--milestones", "10", "--password", "secret"], "only accepted with DEBUG"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(db, args, message):
    before = OrgUnit.objects.count(), User.objects.count()

    with pytest.raises(CommandError) as error:
        generate(*args)

    assert message in str(error.value)
    assert (OrgUnit.objects.count(), User.objects.count()) == before
    assert not Milestone.objects.exists()


def test_risks_spread_over_the_milestones_with_assessments(db):
    from risks.models import Risk, StakeholderAssessment, severity_for

    output = generate("--milestones", "30", "--seed", "5", "--risks", "40")

    risks = Risk.objects.filter(portfolio__slug__startswith="ds5-")
    assert risks.count() == 40
    assert "risks: 40" in output
    on_milestones = risks.filter(milestone__isnull=False)
    assert 20 <= on_milestones.count() < 40
    for risk in risks:
        assert risk.score == risk.probability * risk.impact
        assert risk.severity == severity_for(risk.score)
        if risk.milestone_id:
            assert risk.org_unit_id == risk.milestone.org_unit_id
    # One group's two readings per 20 risks, on a milestone of the portfolio.
    assessments = StakeholderAssessment.objects.filter(
        portfolio__slug__startswith="ds5-"
    )
    assert assessments.count() == 4
    assert all(a.milestone.portfolio_id == a.portfolio_id for a in assessments)
    assert Risk.history.filter(history_type="+").count() == 40


def test_history_top_up_reaches_the_target_and_keeps_the_chain(db):
    from devdata.dataset import history_row_count
    from portal.audit import verify_chain

    output = generate("--milestones", "12", "--seed", "6", "--history-rows", "1000")

    assert history_row_count() >= 1000
    assert "revision records" in output
    for milestone in Milestone.objects.filter(code__startswith="ds6-"):
        records = milestone.history.order_by("history_id")
        assert records.count() > 20
        # Revised, then put back: the newest record is the milestone as it is.
        assert records.last().communication_plan == milestone.communication_plan
        assert records.filter(
            communication_plan__contains="Steering committee asked"
        ).exists()
    assert verify_chain().ok


def test_history_rows_out_of_range_is_refused(db):
    with pytest.raises(CommandError) as error:
        generate("--milestones", "3", "--history-rows", "-1")
    assert "--history-rows: must be 0 or more" in str(error.value)
    assert not Milestone.objects.exists()
