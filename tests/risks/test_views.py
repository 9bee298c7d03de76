"""The escalations page (``/escalations/``): the target role acknowledges and
assigns in the portal; everyone else sees, or gets 403/404; and the unread
count beside Notifications in the navigation."""

from __future__ import annotations

import re

import pytest

from accounts.roles import Role
from portal.errors import Invalid
from portal.models import Notification
from risks import engine, services
from risks.models import Escalation

from ..factories import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def escalation(rules, late):
    late(20)
    engine.escalations_sweep()
    return Escalation.objects.get()


def test_anonymous_is_sent_to_sign_in(client, escalation):
    assert client.get("/escalations/").status_code == 302
    response = client.post(f"/escalations/{escalation.pk}/acknowledge/")
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert Escalation.objects.get().status == Escalation.Status.OPEN


def test_the_target_role_sees_and_acknowledges_it(client, escalation, executive):
    client.force_login(executive)

    page = client.get("/escalations/").content.decode()

    assert f'data-escalation="{escalation.pk}"' in page
    assert escalation.summary in page
    # Dates read as on the pages ("3 Feb 2027"), not ISO.
    assert re.search(r"\(\d{1,2} [A-Z][a-z]{2} \d{4} instead of", escalation.summary)
    assert "Acknowledge</button>" in page
    response = client.post(f"/escalations/{escalation.pk}/acknowledge/", follow=True)
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.ACKNOWLEDGED
    assert escalation.acknowledged_by == executive
    assert f"Acknowledged: {escalation.summary}" in response.content.decode()
    # Twice: the message, nothing changes.
    again = client.post(f"/escalations/{escalation.pk}/acknowledge/", follow=True)
    assert "Already acknowledged by" in again.content.decode()


def test_the_target_role_assigns_it_and_the_assignee_is_told(
    client, escalation, executive, pmo
):
    client.force_login(executive)
    page = client.get("/escalations/").content.decode()
    assert f'<option value="{pmo.pk}"' in page  # a portfolio manager in scope

    response = client.post(
        f"/escalations/{escalation.pk}/assign/", {"assignee": pmo.pk}, follow=True
    )

    escalation.refresh_from_db()
    assert escalation.assigned_to == pmo and escalation.assigned_at is not None
    assert f"Assigned to {pmo}." in response.content.decode()
    record = escalation.history.latest()
    assert (record.history_user, record.history_change_reason) == (
        executive,
        f"Assigned to {pmo}",
    )
    told = Notification.objects.get(recipient=pmo, channel="portal")
    assert told.subject == f"Escalation assigned to you: {escalation.summary}"
    assert told.link == f"/escalations/#escalation-{escalation.pk}"
    # Withdrawn: nobody.
    client.post(f"/escalations/{escalation.pk}/assign/", {"assignee": ""})
    escalation.refresh_from_db()
    assert escalation.assigned_to is None


def test_other_roles_see_it_without_actions_and_are_refused(client, escalation, pmo):
    client.force_login(pmo)

    page = client.get("/escalations/").content.decode()

    assert escalation.summary in page
    assert "Acknowledge</button>" not in page and "Assign</button>" not in page
    refused = client.post(f"/escalations/{escalation.pk}/acknowledge/")
    assert refused.status_code == 403
    # The styled 403 page: why, with the navigation.
    html = refused.content.decode()
    assert "You may not do this" in html
    assert "Only the target role (Executive)" in html
    assert 'class="cairn-nav"' in html
    response = client.post(
        f"/escalations/{escalation.pk}/assign/", {"assignee": pmo.pk}
    )
    assert response.status_code == 403
    assert Escalation.objects.get().assigned_to is None


def test_out_of_scope_is_404_and_not_listed(client, escalation, org):
    outsider = make_member(Role.EXECUTIVE, org.apac)
    client.force_login(outsider)

    assert escalation.summary not in client.get("/escalations/").content.decode()
    assert client.post(f"/escalations/{escalation.pk}/acknowledge/").status_code == 404
    assert client.post(f"/escalations/{escalation.pk}/assign/").status_code == 404


def test_assigning_to_someone_who_may_not_see_it_is_refused(
    client, escalation, executive, org
):
    outsider = make_member(Role.MILESTONE_OWNER, org.apac)
    client.force_login(executive)

    for value in (outsider.pk, "999999", "someone"):
        response = client.post(
            f"/escalations/{escalation.pk}/assign/", {"assignee": value}, follow=True
        )
        assert response.status_code == 200
        assert Escalation.objects.get().assigned_to is None
    text = response.content.decode()
    assert "Choose someone from the list" in text
    with pytest.raises(Invalid, match="may not see this escalation"):
        services.escalation_assign(
            actor=executive, escalation=escalation, assignee=outsider
        )


def test_the_page_costs_the_same_for_2_and_20_escalations(
    client, executive, rules, late, django_assert_max_num_queries
):
    client.force_login(executive)
    late(20)
    engine.escalations_sweep()
    with django_assert_max_num_queries(16) as few:
        client.get("/escalations/")
    for _ in range(19):
        late(20)
    engine.escalations_sweep()
    assert Escalation.objects.count() == 20
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/escalations/").content.decode()
    assert page.count("data-escalation=") == 20


def test_the_navigation_shows_the_unread_count(client, escalation, executive, pmo):
    client.force_login(pmo)
    assert 'data-unread="0"' in client.get("/escalations/").content.decode()
    services.escalation_assign(actor=executive, escalation=escalation, assignee=pmo)

    page = client.get("/escalations/").content.decode()

    unread = Notification.objects.filter(
        recipient=pmo, channel="portal", read_at__isnull=True
    ).count()
    assert unread >= 1
    assert f'aria-label="{unread} unread">{unread}</span>' in page
