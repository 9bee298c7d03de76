"""Query vocabulary of the accounts app, and the restricted queryset base."""

from __future__ import annotations

from django.db import models

from .roles import VIEW


class RestrictedQuerySet(models.QuerySet):
    """A queryset that knows how to scope itself to a user (see ``policy``)."""

    def restrict(self, user, action: str = VIEW):
        from .policy import restrict

        return restrict(self, user, action)


class OrgUnitQuerySet(RestrictedQuerySet):
    def subtree(self, unit) -> OrgUnitQuerySet:
        """The unit and all its descendants, in one query at any depth."""
        return self.filter(path__startswith=unit.path)

    def ancestors(self, unit, *, include_self: bool = True) -> OrgUnitQuerySet:
        from .policy import ancestor_paths

        paths = ancestor_paths(unit.path)
        if not include_self:
            paths = paths[:-1]
        return self.filter(path__in=paths)


class UserQuerySet(RestrictedQuerySet):
    pass


class MembershipQuerySet(RestrictedQuerySet):
    pass
