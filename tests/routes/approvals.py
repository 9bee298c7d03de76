"""Routes of the approvals flow: the pages (``milestones/approval_urls.py``),
the API (``/api/v1/approvals/``) and the approval requests' admin.

Without a role a user sees an empty queue and no request or milestone: a real
object out of scope answers 404, like a missing one. Deciding, withdrawing and
requesting are checked per role in ``tests/approvals/test_views.py``
and ``test_approval_api.py``.
"""

from decimal import Decimal

from ..factories import make_milestone
from . import AdminModel, Api, LoginRequired

HIDDEN = "A real object out of scope: 404, like a missing one."


def _request(ctx, unit=None):
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request

    return approval_request(
        actor=None,
        milestone=make_milestone(ctx.portfolio, unit or ctx.org.fr),
        kind=ApprovalRequest.Kind.REAUTHORIZATION,
        reason="Route matrix",
        new_approved_budget=Decimal("123456"),
    )


def _approval(ctx):
    return {"pk": _request(ctx).pk}


def _milestone(ctx):
    return {"pk": make_milestone(ctx.portfolio, ctx.org.fr).pk}


def build_request(ctx, unit):
    return _request(ctx, unit)


ROUTES = {
    "approvals:queue": LoginRequired(note="Empty without a role."),
    "approvals:detail": LoginRequired(no_role=404, kwargs=_approval, note=HIDDEN),
    "approvals:decide": LoginRequired(
        method="post", no_role=404, kwargs=_approval, note=HIDDEN
    ),
    "approvals:withdraw": LoginRequired(
        method="post", no_role=404, kwargs=_approval, note=HIDDEN
    ),
    "approvals:request": LoginRequired(no_role=404, kwargs=_milestone, note=HIDDEN),
    "api:approval-list": Api(note="Empty without a role."),
    "api:approval-detail": Api(no_role=404, kwargs=_approval, note=HIDDEN),
    "api:approval-approve": Api(
        method="post", no_role=404, kwargs=_approval, note=HIDDEN
    ),
    "api:approval-reject": Api(
        method="post", no_role=404, kwargs=_approval, note=HIDDEN
    ),
    "api:approval-withdraw": Api(
        method="post", no_role=404, kwargs=_approval, note=HIDDEN
    ),
    "admin:approvals_approvalrequest_*": AdminModel(
        build=build_request,
        note="Read-only rows decided through approval_decide; never added or "
        "deleted here.",
    ),
}
