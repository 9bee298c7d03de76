"""Routes of the accounts app: its admin pages and the API token endpoint."""

from accounts.roles import Role

from ..factories import make_member
from . import AdminModel, Api, Public


def build_user(ctx, unit):
    return make_member(Role.CONTRIBUTOR, unit)


def build_org_unit(ctx, unit):
    return unit


def _someone_elses_token(ctx):
    from accounts.services import api_token_create

    token, _ = api_token_create(user=make_member(Role.CONTRIBUTOR, ctx.org.fr))
    return {"pk": token.pk}


def build_membership(ctx, unit):
    return make_member(Role.CONTRIBUTOR, unit).memberships.get()


ROUTES = {
    "api:auth-token": Public(
        method="post", status=400, note="An empty POST answers 400 field errors."
    ),
    "api:auth-token-list": Api(note="One's own tokens only (none here)."),
    "api:auth-token-detail": Api(
        method="delete",
        no_role=404,
        kwargs=_someone_elses_token,
        note="Another user's token answers 404, like a missing one.",
    ),
    "admin:accounts_user_*": AdminModel(build=build_user),
    "admin:accounts_orgunit_*": AdminModel(build=build_org_unit),
    "admin:accounts_membership_*": AdminModel(build=build_membership),
}
