"""Users, the org unit tree, memberships and the guardian grant tables."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from guardian.models import UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from .policy import Scope
from .querysets import MembershipQuerySet, OrgUnitQuerySet, UserQuerySet
from .roles import Role


# mypy cannot follow from_queryset() of the generic UserManager in a base list.
class CairnUserManager(UserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True


class User(AbstractUser):
    """A person who signs in to Cairn. Access comes from memberships."""

    objects: ClassVar[CairnUserManager] = CairnUserManager()
    history = HistoricalRecords(excluded_fields=["password", "last_login"])
    access_scope = Scope(member_of=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class OrgUnit(models.Model):
    """A node of the organisation tree: global, region, country or site.

    ``path`` is the materialised path of codes (``/global/emea/fr/``), so a
    subtree is one ``LIKE 'prefix%'`` query whatever its depth.
    """

    class Kind(models.TextChoices):
        GLOBAL = "global", "Global"
        REGION = "region", "Region"
        COUNTRY = "country", "Country"
        SITE = "site", "Site"

    KIND_DEPTH: ClassVar[dict[str, int]] = {
        Kind.GLOBAL: 0,
        Kind.REGION: 1,
        Kind.COUNTRY: 2,
        Kind.SITE: 3,
    }

    name = models.CharField(max_length=120)
    code = models.SlugField(
        max_length=40, unique=True, help_text="Short unique code; cannot change."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=400, unique=True, editable=False)
    fte_capacity = models.DecimalField(
        "FTE capacity",
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="People available for milestone work, in full-time equivalents.",
    )

    objects = OrgUnitQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(org_unit="")

    class Meta:
        ordering = ["path"]
        verbose_name = "org unit"
        permissions = [
            ("view_scope", "View objects within this scope"),
            ("update_scope", "Submit progress within this scope"),
            ("change_scope", "Change plans within this scope"),
            ("approve_scope", "Approve requests within this scope"),
            ("audit_scope", "Audit history within this scope"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def clean(self) -> None:
        expected = self.KIND_DEPTH.get(self.kind)
        if self.parent_id is None:
            if self.kind != self.Kind.GLOBAL:
                raise ValidationError({"parent": "Only the global unit has no parent."})
            return
        if self.kind == self.Kind.GLOBAL:
            raise ValidationError({"parent": "The global unit cannot have a parent."})
        assert self.parent is not None  # parent_id is set
        parent_depth = self.KIND_DEPTH.get(self.parent.kind)
        if expected is not None and parent_depth != expected - 1:
            raise ValidationError(
                {
                    "parent": f"A {self.get_kind_display().lower()} must sit under a "
                    f"{self.Kind(list(self.KIND_DEPTH)[expected - 1]).label.lower()}."
                }
            )


class Membership(models.Model):
    """Grants a user a role within one scope: an org unit subtree or a portfolio.

    Exactly one of ``org_unit`` and ``portfolio`` is set. ``authority_limit``
    is the amount an executive may approve alone.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=30, choices=Role.choices)
    org_unit = models.ForeignKey(
        OrgUnit,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    portfolio = models.ForeignKey(
        "milestones.Portfolio",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    authority_limit = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Executives only: the largest amount they may approve alone.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()
    history = HistoricalRecords()
    access_scope = Scope(org_unit="org_unit", portfolio="portfolio")

    class Meta:
        ordering = ["user__username", "role"]
        constraints = [
            models.CheckConstraint(
                name="membership_exactly_one_scope",
                condition=(
                    models.Q(org_unit__isnull=False, portfolio__isnull=True)
                    | models.Q(org_unit__isnull=True, portfolio__isnull=False)
                ),
                violation_error_message=(
                    "A membership needs exactly one scope: an org unit or a portfolio."
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "org_unit"],
                condition=models.Q(org_unit__isnull=False),
                name="membership_unique_org_unit",
                violation_error_message="This user already has this role here.",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "portfolio"],
                condition=models.Q(portfolio__isnull=False),
                name="membership_unique_portfolio",
                violation_error_message="This user already has this role here.",
            ),
            models.CheckConstraint(
                name="membership_authority_limit_non_negative",
                condition=models.Q(authority_limit__isnull=True)
                | models.Q(authority_limit__gte=0),
                violation_error_message="The authority limit cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} — {self.scope}"

    @property
    def scope(self):
        return self.org_unit if self.org_unit_id else self.portfolio

    def clean(self) -> None:
        if bool(self.org_unit_id) == bool(self.portfolio_id):
            raise ValidationError(
                "A membership needs exactly one scope: an org unit or a portfolio."
            )
        if self.authority_limit is not None and self.role != Role.EXECUTIVE:
            raise ValidationError(
                {"authority_limit": "Only executives carry an authority limit."}
            )


class OrgUnitUserObjectPermission(UserObjectPermissionBase):
    """Guardian grant of a scope permission on one org unit (and its subtree)."""

    content_object = models.ForeignKey(OrgUnit, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [models.Index(fields=["user", "permission"])]


class ApiToken(models.Model):
    """A named API token of one user: ``Authorization: Token <secret>``.

    Only a SHA-256 digest of the secret is stored, so a copy of the database
    opens nothing. A token expires (``API_TOKEN_TTL_DAYS``), is revoked by its
    owner, and dies with a password change (``password_fingerprint`` no longer
    matches, and the services delete it) or a deactivation.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    password_fingerprint = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField()
    expires = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.user} — {self.name}"
