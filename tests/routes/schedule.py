"""Routes of the schedule (issue 9): the schedule page of a portfolio and its
API action. Both read a portfolio: a user without any role gets 404 for the
real test portfolio, like a missing one."""

from . import Api, LoginRequired

HIDDEN = "A portfolio outside the user's scope answers 404, like a missing one."


def _portfolio(ctx):
    return {"slug": ctx.portfolio.slug}


ROUTES = {
    "reporting:schedule": LoginRequired(no_role=404, kwargs=_portfolio, note=HIDDEN),
    "api:portfolio-schedule": Api(no_role=404, kwargs=_portfolio, note=HIDDEN),
    "api:portfolio-status": Api(no_role=404, kwargs=_portfolio, note=HIDDEN),
}
