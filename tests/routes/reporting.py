"""Routes of the reporting app: the dashboard, its drill-down, the executive
report, the archive and the exports.

Every page needs a sign-in; objects out of the user's scope answer 404, so a
signed-in user without any role gets 404 from every portfolio route (here on
the real test portfolio, not only on a dummy slug).
"""

from . import LoginRequired


def _portfolio(ctx):
    return {"slug": ctx.portfolio.slug}


def _category(ctx):
    return {"slug": ctx.portfolio.slug, "pk": ctx.portfolio.categories.first().pk}


def _milestone(ctx):
    from ..factories import make_milestone

    return {
        "slug": ctx.portfolio.slug,
        "pk": make_milestone(ctx.portfolio, ctx.org.fr).pk,
    }


def _export(ctx):
    return {"slug": ctx.portfolio.slug, "table": "scorecard", "fmt": "csv"}


OUT_OF_SCOPE = "A portfolio outside the user's scope answers 404, like a missing one."

ROUTES = {
    "reporting:dashboard": LoginRequired(note="No role: an empty dashboard."),
    "reporting:portfolio": LoginRequired(
        no_role=404, kwargs=_portfolio, note=OUT_OF_SCOPE
    ),
    "reporting:category": LoginRequired(
        no_role=404, kwargs=_category, note=OUT_OF_SCOPE
    ),
    "reporting:milestone": LoginRequired(
        no_role=404, kwargs=_milestone, note=OUT_OF_SCOPE
    ),
    "reporting:executive_preview": LoginRequired(
        no_role=404, kwargs=_portfolio, note=OUT_OF_SCOPE
    ),
    "reporting:executive_pdf": LoginRequired(
        no_role=404, kwargs=_portfolio, note=OUT_OF_SCOPE
    ),
    "reporting:export": LoginRequired(no_role=404, kwargs=_export, note=OUT_OF_SCOPE),
    "reporting:archive": LoginRequired(note="No role: an empty list."),
    "reporting:archive_download": LoginRequired(
        no_role=404, note="Dummy id; scoped downloads are tested in tests/reporting."
    ),
}
