"""Routes of the accounts app: its admin pages and the API token endpoint."""

from accounts.roles import Role

from ..factories import make_member
from . import AdminModel, Public


def build_user(ctx, unit):
    return make_member(Role.CONTRIBUTOR, unit)


def build_org_unit(ctx, unit):
    return unit


def build_membership(ctx, unit):
    return make_member(Role.CONTRIBUTOR, unit).memberships.get()


ROUTES = {
    "api:auth-token": Public(
        method="post", status=400, note="An empty POST answers 400 field errors."
    ),
    "admin:accounts_user_*": AdminModel(build=build_user),
    "admin:accounts_orgunit_*": AdminModel(build=build_org_unit),
    "admin:accounts_membership_*": AdminModel(build=build_membership),
}
