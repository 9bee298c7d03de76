"""Routes of the compliance history browser (``/audit/``), the ``history`` API
and the access events' admin.

Every page needs a sign-in and is read-only. A signed-in user without a role
sees an empty trail (and may export it: an empty CSV); an object's history and
point-in-time pages answer 404 out of scope, like a missing object.
"""

from . import AdminModel, Api, LoginRequired

OUT_OF_SCOPE = "An object outside the user's scope answers 404, like a missing one."


def _milestone(ctx):
    from ..factories import make_milestone

    return {
        "model": "milestones.milestone",
        "pk": make_milestone(ctx.portfolio, ctx.org.fr).pk,
    }


def _milestone_pk(ctx):
    from ..factories import make_milestone

    return {"pk": make_milestone(ctx.portfolio, ctx.org.fr).pk}


def _portfolio(ctx):
    return {"slug": ctx.portfolio.slug}


def build_event(ctx, org_unit):
    """A sign-in of a contributor of ``org_unit``."""
    from accounts.roles import Role
    from portal import audit
    from portal.models import AuditEvent

    from ..factories import make_member

    user = make_member(
        Role.CONTRIBUTOR, org_unit, username=f"signed-in-{org_unit.code}"
    )
    return audit.event_record(kind=AuditEvent.Kind.LOGIN, user=user)


ROUTES = {
    "audit:trail": LoginRequired(note="No role: an empty trail."),
    "audit:export": LoginRequired(note="No role: an empty CSV (the export is logged)."),
    "audit:object": LoginRequired(no_role=404, kwargs=_milestone, note=OUT_OF_SCOPE),
    "audit:milestone_as_of": LoginRequired(
        no_role=404, kwargs=_milestone_pk, note=OUT_OF_SCOPE
    ),
    "audit:portfolio_as_of": LoginRequired(
        no_role=404, kwargs=_portfolio, note=OUT_OF_SCOPE
    ),
    "api:history-list": Api(note="No role: no entries."),
    "admin:portal_auditevent_*": AdminModel(
        build=build_event,
        note="Read-only for everyone; auditors see the events of users they audit.",
    ),
}
