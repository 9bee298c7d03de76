"""Routes of the milestones API (``/api/v1/``; the token endpoint is in
``accounts.py``, the risks resources in ``risks.py``).

Lists answer a user without a role 200 with no rows; an object route answers
404 for a real object outside their scope (the same as a missing one).
"""

from decimal import Decimal

from ..factories import UserFactory, make_milestone
from . import Api

EMPTY = "Empty without a role."
HIDDEN = "A real object out of scope: 404, like a missing one."


def _milestone(ctx):
    return {"pk": make_milestone(ctx.portfolio, ctx.org.fr).pk}


def _portfolio(ctx):
    return {"slug": ctx.portfolio.slug}


def _objective(ctx):
    from milestones.services import objective_create

    return {"pk": objective_create(actor=None, portfolio=ctx.portfolio, title="O1").pk}


def _dependency(ctx):
    from milestones.services import dependency_add

    first = make_milestone(ctx.portfolio, ctx.org.fr)
    second = make_milestone(ctx.portfolio, ctx.org.fr)
    return {"pk": dependency_add(actor=None, predecessor=first, successor=second).pk}


def _update(ctx):
    from milestones.services import milestone_submit_update

    # A system update needs an author (ProgressUpdate.author is not blank).
    update = milestone_submit_update(
        actor=UserFactory(username="route-root", is_superuser=True),
        milestone=make_milestone(ctx.portfolio, ctx.org.fr),
        expected_version=None,
        status="in_progress",
        percent_complete=Decimal("10"),
        actual_spend=Decimal("0"),
    )
    return {"pk": update.pk}


def _kpi(ctx):
    from milestones.services import kpi_create

    kpi = kpi_create(
        actor=None,
        portfolio=ctx.portfolio,
        name="Adoption",
        baseline=Decimal("0"),
        target=Decimal("1"),
    )
    return {"pk": kpi.pk}


ROUTES = {
    "api:api-root": Api(note="Links to the milestones resources."),
    "api:portfolio-list": Api(note=EMPTY),
    "api:portfolio-detail": Api(no_role=404, kwargs=_portfolio, note=HIDDEN),
    "api:portfolio-categories": Api(
        method="put", no_role=404, kwargs=_portfolio, note=HIDDEN
    ),
    "api:objective-list": Api(note=EMPTY),
    "api:objective-detail": Api(no_role=404, kwargs=_objective, note=HIDDEN),
    "api:milestone-list": Api(note=EMPTY),
    "api:milestone-detail": Api(no_role=404, kwargs=_milestone, note=HIDDEN),
    "api:dependency-list": Api(note=EMPTY),
    "api:dependency-detail": Api(no_role=404, kwargs=_dependency, note=HIDDEN),
    "api:update-list": Api(note=EMPTY),
    "api:update-detail": Api(no_role=404, kwargs=_update, note=HIDDEN),
    "api:kpi-list": Api(note=EMPTY),
    "api:kpi-detail": Api(no_role=404, kwargs=_kpi, note=HIDDEN),
    "api:kpi-measurements": Api(no_role=404, kwargs=_kpi, note=HIDDEN),
}
