"""Check constraints validated in Python agree with Django's database check."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milestones.models import Milestone, ProgressUpdate
from portal.constraints import PythonChecked, Unsupported, evaluate

pytestmark = pytest.mark.django_db


def django_errors(instance) -> list[str]:
    """What Django's own (query-based) validation reports."""
    try:
        models.Model.validate_constraints(instance)
    except ValidationError as exc:
        return sorted(str(m) for m in exc.messages)
    return []


def ours(instance) -> list[str]:
    try:
        instance.validate_constraints()
    except ValidationError as exc:
        return sorted(str(m) for m in exc.messages)
    return []


amounts = st.one_of(
    st.none(),
    st.decimals(min_value=-5, max_value=150, places=2, allow_nan=False),
)
days = st.one_of(st.none(), st.integers(min_value=-5, max_value=5))


# The portfolio is only read: sharing it between examples is safe.
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    percent=amounts,
    budget=amounts,
    spend=amounts,
    weight=amounts,
    finish_offset=days,
)
def test_milestone_checks_agree_with_the_database(
    portfolio, percent, budget, spend, weight, finish_offset
):
    start = date(2027, 1, 10)
    milestone = Milestone(
        portfolio=portfolio,
        code="M-1",
        name="Pilot",
        percent_complete=percent,
        approved_budget=budget,
        actual_spend=spend,
        weight=weight,
        planned_start=start,
        planned_completion=None
        if finish_offset is None
        else start + timedelta(days=finish_offset),
    )

    assert ours(milestone) == django_errors(milestone)


def test_a_violation_names_the_constraint_message(portfolio):
    milestone = Milestone(
        portfolio=portfolio,
        code="M-1",
        name="Pilot",
        percent_complete=Decimal("120"),
        weight=Decimal("0"),
        approved_budget=Decimal("10"),
        actual_spend=Decimal("0"),
        planned_start=date(2027, 1, 10),
        planned_completion=date(2027, 1, 1),
    )

    messages = ours(milestone)

    assert len(messages) == 3
    assert messages == django_errors(milestone)


def test_excluded_fields_skip_their_checks(portfolio):
    update = ProgressUpdate(percent_complete=Decimal("-1"), actual_spend=Decimal("1"))
    with pytest.raises(ValidationError):
        update.validate_constraints()
    update.validate_constraints(exclude={"percent_complete"})


def test_three_valued_logic():
    row = type("Row", (), {"a": None, "b": 2})()
    names = {"a": "a", "b": "b"}

    assert evaluate(Q(a__gt=1), row, names) is None
    assert evaluate(Q(a__gt=1) | Q(b__gt=1), row, names) is True
    assert evaluate(Q(a__gt=1) & Q(b__gt=3), row, names) is False
    assert evaluate(~Q(a__gt=1), row, names) is None
    assert evaluate(Q(a__isnull=True), row, names) is True
    assert evaluate(~Q(b=F("b")), row, names) is False


def test_what_python_cannot_evaluate_goes_to_the_database():
    row = type("Row", (), {"a": "x"})()
    with pytest.raises(Unsupported):
        evaluate(Q(a__icontains="x"), row, {"a": "a"})
    with pytest.raises(Unsupported):
        evaluate(Q(a__name="x"), row, {"a": "a"})
    assert issubclass(Milestone, PythonChecked)


def test_loaded_related_objects_are_not_queried_again(
    portfolio, org, django_assert_num_queries
):
    category = portfolio.categories.first()
    milestone = Milestone(
        portfolio=portfolio,
        category=category,
        org_unit=org.fr,
        code="M-1",
        name="Pilot",
        success_criteria="Live in Paris.",
        planned_start=date(2027, 1, 1),
        planned_completion=date(2027, 2, 1),
    )
    # Three loaded objects and simple checks: nothing to ask the database.
    with django_assert_num_queries(0):
        milestone.full_clean()


def test_a_key_given_by_id_is_still_checked(portfolio, org):
    milestone = Milestone(
        portfolio=portfolio,
        category_id=portfolio.categories.first().pk,
        org_unit_id=987654,
        code="M-1",
        name="Pilot",
        planned_start=date(2027, 1, 1),
        planned_completion=date(2027, 2, 1),
    )
    with pytest.raises(ValidationError) as error:
        milestone.full_clean()
    assert "org_unit" in error.value.message_dict
