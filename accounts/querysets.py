"""Query vocabulary of the accounts app, and the restricted queryset base."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self, TypeVar

from django.db import models

from .roles import VIEW

if TYPE_CHECKING:
    # Named (as strings) in the queryset base classes below.
    from .models import Membership, OrgUnit, User  # noqa: F401
    from .policy import Viewer

_M = TypeVar("_M", bound=models.Model)


class RestrictedQuerySet(models.QuerySet[_M, _M]):
    """A queryset that knows how to scope itself to a user (see ``policy``)."""

    def restrict(self, user: Viewer, action: str = VIEW) -> Self:
        from .policy import restrict

        return restrict(self, user, action)


class OrgUnitQuerySet(RestrictedQuerySet["OrgUnit"]):
    def subtree(self, unit: OrgUnit) -> Self:
        """The unit and all its descendants, in one query at any depth."""
        return self.filter(path__startswith=unit.path)

    def ancestors(self, unit: OrgUnit, *, include_self: bool = True) -> Self:
        from .policy import ancestor_paths

        paths = ancestor_paths(unit.path)
        if not include_self:
            paths = paths[:-1]
        return self.filter(path__in=paths)


class UserQuerySet(RestrictedQuerySet["User"]):
    pass


class MembershipQuerySet(RestrictedQuerySet["Membership"]):
    pass
