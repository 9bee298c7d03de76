"""No route names a milestone its reader cannot see (#14 item 8).

Every named route of the route registry (``tests/routes``), the admin's
included, is opened as a member of each role on EMEA while a Japanese
milestone with a recognisable name is tied to France's milestones in every
way the product knows: dependencies both ways, a KPI, progress updates, an
approval request, a risk, an issue, an escalation. Each response body (HTML,
JSON, CSV, the XLSX sheets and the PDF's text) must not contain that name nor
the names of the objects that hang off it. Out-of-scope neighbours may be
counted; they are never named.
"""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.roles import Role
from approvals import services as approval_services
from approvals.models import ApprovalRequest
from milestones import services

from .. import routes
from ..factories import UserFactory, make_member, make_milestone
from ..routes import AdminModel, RouteContext

pytestmark = pytest.mark.django_db

SECRET = "ZZSECRETTOKYO"
# Searches use a prefix of the names: a page may echo the term, never a name.
SEARCH = "ZZSECRET"
SECRETS = (SECRET, "ZZSECRETKPI", "ZZSECRETRISK", "ZZSECRETAPPROVAL", "ZZSECRETNOTE")

MATRIX = routes.collect()
ALL_ROUTES = routes.walk_routes()
NAMES = sorted({r.name for r in ALL_ROUTES if r.name})
COVERING = MATRIX.resolve(NAMES, admin.site)
SKIPPED = {
    # Signing out ends the session the walk uses; it renders no object.
    "logout": "ends the session",
    "admin:logout": "ends the session",
}


class Scenario:
    """France's milestones and the hidden Japanese one they are tied to."""

    def __init__(self, org, portfolio):
        from risks.engine import escalations_sweep
        from risks.services import (
            escalation_rules_ensure_defaults,
            issue_create,
            risk_create,
        )

        self.org, self.portfolio = org, portfolio
        today = timezone.localdate()
        self.paris = make_milestone(portfolio, org.fr, name="Paris rollout")
        self.tokyo = make_milestone(
            portfolio,
            org.jp,
            name=SECRET,
            planned_completion=today + timedelta(days=20),
            forecast_completion=today + timedelta(days=90),
        )
        self.osaka = make_milestone(portfolio, org.jp, name=f"{SECRET} Osaka")
        services.dependency_add(
            actor=None, predecessor=self.tokyo, successor=self.paris
        )
        services.dependency_add(
            actor=None, predecessor=self.paris, successor=self.osaka
        )
        self.kpi = services.kpi_create(
            actor=None,
            portfolio=portfolio,
            milestone=self.tokyo,
            name="ZZSECRETKPI",
            baseline=Decimal("0"),
            target=Decimal("10"),
        )
        root = UserFactory(username="walk-root", is_superuser=True)
        for milestone, note in ((self.tokyo, "ZZSECRETNOTE"), (self.paris, "Paris")):
            self.update = services.milestone_submit_update(
                actor=root,
                milestone=milestone,
                expected_version=None,
                status="in_progress",
                percent_complete=Decimal("10"),
                actual_spend=Decimal("0"),
                blockers=note,
            )
        self.approval = approval_services.approval_request(
            actor=None,
            milestone=self.tokyo,
            kind=ApprovalRequest.Kind.REAUTHORIZATION,
            reason="ZZSECRETAPPROVAL",
            new_approved_budget=Decimal("250000"),
        )
        risk_create(
            actor=None,
            portfolio=portfolio,
            milestone=self.tokyo,
            title="ZZSECRETRISK",
            probability=5,
            impact=5,
        )
        issue_create(
            actor=None,
            portfolio=portfolio,
            milestones=[self.tokyo],
            title=f"{SECRET} blocker",
            kind="technical",
        )
        escalation_rules_ensure_defaults()
        escalations_sweep()

    def kwargs_for(self, name: str) -> dict | None:
        """In-scope objects tied to the secret, for the routes that take one."""
        slug = self.portfolio.slug
        paris = self.paris.pk
        return {
            "milestones:update": {"pk": paris},
            "approvals:request": {"pk": paris},
            "reporting:portfolio": {"slug": slug},
            "reporting:schedule": {"slug": slug},
            "reporting:executive_preview": {"slug": slug},
            "reporting:executive_pdf": {"slug": slug},
            "reporting:milestone": {"slug": slug, "pk": paris},
            "reporting:category": {"slug": slug, "pk": self.paris.category_id},
            "audit:object": {"model": "milestones.milestone", "pk": paris},
            "audit:milestone_as_of": {"pk": paris},
            "audit:portfolio_as_of": {"slug": slug},
            "api:milestone-detail": {"pk": paris},
            "api:portfolio-detail": {"slug": slug},
            "api:portfolio-schedule": {"slug": slug},
        }.get(name)

    def hidden_kwargs_for(self, name: str) -> dict | None:
        """The same routes aimed at the hidden objects themselves."""
        tokyo = self.tokyo.pk
        return {
            "milestones:update": {"pk": tokyo},
            "reporting:milestone": {"slug": self.portfolio.slug, "pk": tokyo},
            "audit:object": {"model": "milestones.milestone", "pk": tokyo},
            "audit:milestone_as_of": {"pk": tokyo},
            "api:milestone-detail": {"pk": tokyo},
            "api:kpi-detail": {"pk": self.kpi.pk},
            "api:kpi-measurements": {"pk": self.kpi.pk},
            "api:approval-detail": {"pk": self.approval.pk},
            "approvals:detail": {"pk": self.approval.pk},
        }.get(name)


def _text(response) -> str:
    """Everything a reader could read in a response body."""
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    kind = response.get("Content-Type", "")
    if body.startswith(b"%PDF"):
        from pypdf import PdfReader

        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)
    if body.startswith(b"PK") or "spreadsheet" in kind:
        with zipfile.ZipFile(io.BytesIO(body)) as sheets:
            return "\n".join(
                sheets.read(n).decode() for n in sheets.namelist() if n.endswith(".xml")
            )
    return body.decode(errors="replace")


def _reverse(name: str, kwargs: dict | None) -> str | None:
    candidates = [kwargs] if kwargs is not None else []
    for pattern in [r.pattern for r in ALL_ROUTES if r.name == name]:
        converters = getattr(pattern, "converters", {}) or {}
        candidates.append(
            {g: routes.dummy_value(converters.get(g)) for g in pattern.regex.groupindex}
        )
    for candidate in candidates:
        try:
            return reverse(name, kwargs=candidate)
        except NoReverseMatch:
            continue
    return None


def _entry_urls(scenario: Scenario, ctx: RouteContext) -> list[tuple[str, str, str]]:
    """(route, method, url) for every route that is not a ModelAdmin's."""
    urls = []
    for name in NAMES:
        declaration = COVERING.get(name)
        if declaration is None or isinstance(declaration.entry, AdminModel):
            continue
        if name in SKIPPED:
            continue
        entry = declaration.entry
        kwargs = scenario.kwargs_for(name)
        if kwargs is None and callable(entry.kwargs):
            kwargs = entry.kwargs(ctx)
        elif kwargs is None:
            kwargs = entry.kwargs
        for args in (kwargs, scenario.hidden_kwargs_for(name)):
            if args is None and urls and urls[-1][0] == name:
                continue
            url = _reverse(name, args)
            if url is None:
                continue
            query = dict(entry.query or {})
            urls.append((name, entry.method, f"{url}?{urlencode(query)}"))
            if entry.method == "get":
                search = {**query, "q": SEARCH, "search": SEARCH}
                urls.append((name, "get", f"{url}?{urlencode(search)}"))
    return urls


def _admin_urls(scenario: Scenario, ctx: RouteContext) -> list[tuple[str, str, str]]:
    """Changelists (searched too), add forms, and change and history pages of
    in-scope objects for every registered ModelAdmin."""
    urls = []
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        changelist = reverse(f"{info}_changelist")
        urls += [
            (f"{info}_changelist", "get", changelist),
            (f"{info}_changelist", "get", f"{changelist}?q={SEARCH}"),
            (f"{info}_add", "get", reverse(f"{info}_add")),
        ]
        objects = list(
            model._default_manager.exclude(pk__in=[])
            .order_by("pk")
            .values_list("pk", flat=True)[:50]
        )
        for pk in objects:
            for view in ("change", "history"):
                urls.append(
                    (f"{info}_{view}", "get", reverse(f"{info}_{view}", args=[pk]))
                )
        for field in model_admin.get_autocomplete_fields(None) or ():
            query = urlencode(
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field,
                    "term": SEARCH,
                }
            )
            urls.append(("admin:autocomplete", "get", f"/admin/autocomplete/?{query}"))
    return urls


def _leaks(client, urls, answered=None) -> list[str]:
    leaks = []
    for name, method, url in urls:
        response = getattr(client, method)(url)
        if answered is not None:
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            leaks.append(f"{name} {url}: answered {response.status_code}")
            continue
        text = _text(response)
        named = [s for s in SECRETS if s in text]
        if named:
            leaks.append(
                f"{name} {method.upper()} {url} ({response.status_code}): {named}"
            )
    return leaks


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_no_route_names_an_out_of_scope_milestone(role, client, org, portfolio):
    scenario = Scenario(org, portfolio)
    ctx = RouteContext(org, portfolio)
    user = make_member(role, org.emea, username=f"walker-{role}", is_staff=True)
    urls = _entry_urls(scenario, ctx) + _admin_urls(scenario, ctx)
    client.force_login(user)
    answered = {}
    leaks = _leaks(client, urls, answered)

    # The walk really covers the registry, signed in all along.
    assert len(urls) > 300
    assert answered.get(200, 0) > 150, answered
    assert not leaks, f"{len(leaks)} response(s) name hidden objects:\n" + "\n".join(
        leaks
    )


def test_the_walk_sees_the_secret_when_it_is_in_scope(client, org, portfolio):
    """The check can fail: a global portfolio manager reads the name."""
    scenario = Scenario(org, portfolio)
    manager = make_member(Role.PORTFOLIO_MANAGER, org.world, username="global-pm")
    client.force_login(manager)
    url = reverse(
        "reporting:milestone",
        kwargs={"slug": portfolio.slug, "pk": scenario.paris.pk},
    )
    assert _leaks(client, [("reporting:milestone", "get", url)])
