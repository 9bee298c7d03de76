"""Contributor pages of the milestones app (``milestones/urls.py``).

A user without any role may open the lists (they are empty) but no milestone
or evidence: objects outside a user's scope answer 404, like missing ones.
"""

from decimal import Decimal

from accounts.roles import Role

from ..factories import make_member, make_milestone
from . import LoginRequired


def _milestone(ctx):
    return {"pk": make_milestone(ctx.portfolio, ctx.org.fr).pk}


def _progress_update(ctx):
    from milestones.services import milestone_submit_update

    update = milestone_submit_update(
        actor=make_member(Role.CONTRIBUTOR, ctx.org.fr),
        milestone=make_milestone(ctx.portfolio, ctx.org.fr),
        expected_version=None,
        status="in_progress",
        percent_complete=Decimal("10"),
        actual_spend=Decimal("0"),
    )
    return {"pk": update.pk}


ROUTES = {
    "milestones:mine": LoginRequired(note="Empty without a role."),
    "milestones:quick_update": LoginRequired(note="Empty without a role."),
    "milestones:update": LoginRequired(
        no_role=404, kwargs=_milestone, note="A milestone out of scope: 404."
    ),
    "milestones:evidence": LoginRequired(
        no_role=404,
        kwargs=_progress_update,
        note="An update out of scope: 404 (never a public media URL).",
    ),
}
