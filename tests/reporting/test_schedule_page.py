"""The schedule page, and the completion outlook on the dashboard and in the
executive report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

from accounts.roles import Role
from milestones import services
from milestones.models import Dependency
from reporting import charts
from scheduling import selectors as sched

from ..factories import UserFactory, make_member, make_milestone, make_portfolio
from ..milestones.conftest_api import count_queries
from ..milestones.schedule_helpers import build_network
from .helpers import backdate_history, pdf_text

pytestmark = pytest.mark.django_db

HIDDEN_NAMES = ("A foundation", "B build", "C design", "E sign-off")


def url(portfolio) -> str:
    return reverse("reporting:schedule", args=[portfolio.slug])


def long_date(day) -> str:
    return date_format(day, "j M Y")


@pytest.fixture
def network(org, portfolio):
    """The hand-computed network of the milestone tests, D in Japan."""
    return build_network(portfolio, org, d_unit=org.jp)


# Access ----------------------------------------------------------------------


def test_the_route_is_the_documented_one(portfolio):
    assert url(portfolio) == "/portfolios/ai-transformation/schedule/"


def test_anonymous_is_sent_to_the_login_page(client, portfolio):
    response = client.get(url(portfolio))
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


def test_user_without_role_gets_404(client, portfolio):
    client.force_login(UserFactory())
    assert client.get(url(portfolio)).status_code == 404


def test_portfolio_out_of_scope_is_404(client, org, portfolio, network):
    client.force_login(make_member(Role.EXECUTIVE, make_portfolio(org.world)))
    assert client.get(url(portfolio)).status_code == 404


def test_missing_portfolio_is_404(client, pmo):
    client.force_login(pmo)
    assert client.get("/portfolios/nope/schedule/").status_code == 404


def test_post_is_refused(client, pmo, portfolio):
    client.force_login(pmo)
    assert client.post(url(portfolio)).status_code == 405


# Content -------------------------------------------------------------------------


def test_the_page_shows_the_schedule_figures(client, pmo, portfolio, network):
    client.force_login(pmo)

    response = client.get(url(portfolio))

    assert response.status_code == 200
    html = response.content.decode()
    expected = sched.portfolio_schedule(pmo, portfolio)
    outlook = expected.outlook
    assert f"{outlook.probability_on_time * 100:.0f}%" in html
    for figure in ("p50", "p80", "p95"):
        assert (
            f'data-figure="{figure}">{long_date(getattr(outlook, figure))}</dd>' in html
        )
    # Every milestone with its float and slips; critical rows are marked.
    for m in expected.milestones:
        assert f'data-milestone="{m.id}"' in html
        assert m.name in html
    d = next(m for m in expected.milestones if m.id == network.d.pk)
    assert d.critical and d.inherited_slip == 10
    row = html.split(f'data-milestone="{network.d.pk}"')[1].split("</tr>")[0]
    assert row.startswith(' class="is-critical"')
    assert f'late finish {long_date(d.lf)}">-10 d</td>' in row  # float vs plan
    assert '<span class="rp-late">+10 d</span>' in row  # inherited slip
    assert f"{d.probability_on_time * 100:.0f}%" in row
    # The critical chain in order, the bottleneck, the timeline in red.
    chain = html.split('id="chain-h"')[1].split("</ol>")[0]
    assert chain.index("A foundation") < chain.index("B build")
    assert chain.index("B build") < chain.index("D integration")
    bottlenecks = html.split('id="bottlenecks-h"')[1].split("</table>")[0]
    assert "A foundation" in bottlenecks
    assert "<svg" in html and charts.CRITICAL in html
    assert reverse("api:portfolio-schedule", args=[portfolio.slug]) in html


def test_a_contributor_sees_only_their_rows(
    client, contributor_apac, portfolio, network
):
    client.force_login(contributor_apac)

    response = client.get(url(portfolio))

    assert response.status_code == 200
    html = response.content.decode()
    assert "D integration" in html
    for hidden in HIDDEN_NAMES:
        assert hidden not in html
    assert 'data-hidden="4"' in html
    assert "and 2 milestones outside your scope" in html


def test_overallocated_units_are_listed_by_period(client, org, pmo, portfolio, network):
    from decimal import Decimal

    from accounts import services as account_services

    account_services.org_unit_update(actor=None, unit=org.jp, fte_capacity=1)
    today = timezone.localdate()
    busy = make_milestone(
        portfolio,
        org.jp,
        name="Tokyo rollout",
        planned_start=today,
        planned_completion=today + timedelta(days=21),
    )
    for _ in range(2):
        services.allocation_create(
            actor=None, milestone=busy, org_unit=org.jp, fte=Decimal("0.75"), role="Ops"
        )
    client.force_login(pmo)

    html = client.get(url(portfolio)).content.decode()

    panel = html.split('id="overallocation-h"')[1].split("</section>")[0]
    assert "Japan" in panel and "1.5" in panel
    monday = today - timedelta(days=today.weekday())
    last_day = today + timedelta(days=20)
    weeks = ((last_day - timedelta(days=last_day.weekday())) - monday).days // 7 + 1
    assert f"({weeks} wk)" in panel


def test_an_empty_portfolio_says_so(client, pmo, portfolio):
    client.force_login(pmo)

    response = client.get(url(portfolio))

    assert response.status_code == 200
    assert "No milestone to schedule yet." in response.content.decode()


def test_a_stored_cycle_answers_409(client, pmo, portfolio, network):
    Dependency.objects.bulk_create(
        [Dependency(predecessor=network.d, successor=network.a)]
    )
    client.force_login(pmo)

    response = client.get(url(portfolio))

    assert response.status_code == 409
    assert b"cycle" in response.content


def test_query_count_does_not_grow_with_milestones(client, org, pmo, portfolio):
    client.force_login(pmo)
    previous = make_milestone(portfolio, org.fr)
    client.get(url(portfolio))  # warm the session and content types
    few, _ = count_queries(lambda: client.get(url(portfolio)))
    for n in range(20):
        milestone = make_milestone(portfolio, org.jp if n % 2 else org.fr)
        services.dependency_add(actor=None, predecessor=previous, successor=milestone)
        previous = milestone

    many, response = count_queries(lambda: client.get(url(portfolio)))

    assert response.status_code == 200
    assert few == many


def test_the_portfolio_actions_link_to_the_schedule(client, pmo, portfolio):
    client.force_login(pmo)
    html = client.get(reverse("reporting:portfolio", args=[portfolio.slug]))
    assert url(portfolio) in html.content.decode()


# Dashboard and report --------------------------------------------------------


def test_the_dashboard_card_shows_p80_and_on_time_odds(client, pmo, portfolio, network):
    client.force_login(pmo)

    html = client.get("/").content.decode()

    outlook = sched.portfolio_outlook(pmo, portfolio)
    line = html.split('data-figure="schedule-outlook"')[1].split("</p>")[0]
    assert f"P80 finish <strong>{long_date(outlook.p80)}</strong>" in line
    assert f"<strong>{outlook.probability_on_time * 100:.0f}%</strong>" in line
    assert long_date(outlook.planned_finish) in line


def test_a_card_without_milestones_has_no_outlook(client, pmo, portfolio):
    client.force_login(pmo)
    assert 'data-figure="schedule-outlook"' not in client.get("/").content.decode()


def test_the_executive_report_states_the_completion_outlook(
    client, executive, portfolio, network
):
    client.force_login(executive)
    outlook = sched.portfolio_outlook(executive, portfolio)
    expected = (
        f"P80 finish {date_format(outlook.p80, 'j F Y')}; "
        f"{outlook.probability_on_time * 100:.0f}% probability of completing by "
        f"the planned {date_format(outlook.planned_finish, 'j F Y')}"
    )

    preview = client.get(reverse("reporting:executive_preview", args=[portfolio.slug]))
    pdf = client.get(reverse("reporting:executive_pdf", args=[portfolio.slug]))

    summary = preview.content.decode().split('id="summary"')[1]
    assert expected in summary.split("</section>")[0]
    assert "Completion outlook: " + expected in pdf_text(pdf.content)


def test_a_past_report_states_the_outlook_as_it_was(client, executive, org, portfolio):
    today = timezone.localdate()
    first = make_milestone(
        portfolio,
        org.fr,
        planned_start=today + timedelta(days=10),
        planned_completion=today + timedelta(days=20),
    )
    second = make_milestone(
        portfolio,
        org.fr,
        planned_start=today + timedelta(days=10),
        planned_completion=today + timedelta(days=30),
    )
    backdate_history(3)
    services.dependency_add(actor=None, predecessor=first, successor=second)
    as_of = today - timedelta(days=2)
    past = sched.portfolio_outlook_as_of(executive, portfolio, as_of)
    live = sched.portfolio_outlook(executive, portfolio)
    assert past.p80 < live.p80
    client.force_login(executive)

    response = client.get(
        reverse("reporting:executive_preview", args=[portfolio.slug]),
        {"as_of": as_of.isoformat()},
    )

    assert f"P80 finish {date_format(past.p80, 'j F Y')}" in response.content.decode()


# One schedule everywhere (#16) -------------------------------------------------


def _timeline_rows(html: str) -> dict[int, tuple[str, str]]:
    """(scheduled finish, critical) of each row of the first timeline."""
    import re

    pattern = re.compile(
        r'<g data-timeline-row="(\d+)" data-scheduled-finish="([\d-]+)" '
        r'data-critical="(true|false)">'
    )
    return {int(m): (finish, critical) for m, finish, critical in pattern.findall(html)}


def test_page_api_dashboard_report_and_pdf_agree_for_a_contributor(
    client, org, portfolio
):
    """A French contributor's milestone waits on a Japanese one that is 29
    days late. Before, the report's timeline scheduled only what the reader
    could see (no slip), the schedule page the whole network (29 days): now
    every surface draws the whole network's schedule."""
    from .helpers import pdf_text

    today = timezone.localdate()
    tokyo = make_milestone(
        portfolio,
        org.jp,
        name="Tokyo data centre",
        planned_start=today + timedelta(days=1),
        planned_completion=today + timedelta(days=11),
        forecast_completion=today + timedelta(days=41),
    )
    paris = make_milestone(
        portfolio,
        org.fr,
        name="Paris cut-over",
        planned_start=today + timedelta(days=12),
        planned_completion=today + timedelta(days=20),
    )
    services.dependency_add(actor=None, predecessor=tokyo, successor=paris)
    contributor = make_member(Role.CONTRIBUTOR, org.fr, username="fr-contrib")
    client.force_login(contributor)

    page = client.get(url(portfolio))
    [row] = page.context["data"].schedule.milestones
    assert (row.id, row.inherited_slip) == (paris.pk, 29)
    expected = (row.ef.isoformat(), "true" if row.critical else "false")
    assert row.ef == today + timedelta(days=49)

    api = client.get(f"/api/v1/portfolios/{portfolio.slug}/schedule/").json()
    [api_row] = api["milestones"]
    assert (api_row["id"], api_row["ef"], api_row["inherited_slip"]) == (
        paris.pk,
        row.ef.isoformat(),
        29,
    )

    surfaces = {
        "schedule page": page.content.decode(),
        "dashboard": client.get(f"/portfolios/{portfolio.slug}/").content.decode(),
        "report": client.get(f"/reports/{portfolio.slug}/executive/").content.decode(),
    }
    for name, html in surfaces.items():
        rows = _timeline_rows(html)
        assert rows == {paris.pk: expected}, name
        assert "Tokyo data centre" not in html, name

    outlook = page.context["data"].schedule.outlook
    pdf = pdf_text(client.get(f"/reports/{portfolio.slug}/executive.pdf").content)
    assert f"P80 finish {date_format(outlook.p80, 'j F Y')}" in pdf
    assert "Tokyo data centre" not in pdf
