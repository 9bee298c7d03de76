"""Property tests: the database's weighted progress is DESIGN.md's formula.

Each example builds a fresh portfolio (categories whose weights sum to 100,
milestones with random weights, percentages, statuses, regions and plans)
through the real services, then compares the selectors' figures with the
formula computed here in Decimal from the generated inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milestones.models import Status
from milestones.selectors import category_progress, portfolio_progress

from ..factories import make_milestone, make_portfolio

TODAY = date(2026, 6, 15)
TOLERANCE = Decimal("0.01")
HUNDRED = Decimal("100")


@dataclass(frozen=True)
class Spec:
    category: int
    weight: Decimal
    percent: Decimal
    status: str
    in_emea: bool
    start: int  # planned start, days from TODAY
    length: int  # planned duration in days

    @property
    def planned_share(self) -> Decimal:
        """Elapsed share of the planned duration by TODAY, clipped to 0..100."""
        end = self.start + self.length
        if end <= 0:
            return HUNDRED
        if self.start >= 0:
            return Decimal(0)
        return Decimal(-self.start) * HUNDRED / Decimal(self.length)


@st.composite
def plans(draw) -> tuple[list[Decimal], list[Spec]]:
    n_categories = draw(st.integers(min_value=1, max_value=5))
    # Category weights with two decimals summing to exactly 100 (some may be 0).
    cuts = sorted(
        draw(
            st.lists(
                st.integers(min_value=0, max_value=10000),
                min_size=n_categories - 1,
                max_size=n_categories - 1,
            )
        )
    )
    bounds = [0, *cuts, 10000]
    weights = [Decimal(b - a) / 100 for a, b in zip(bounds, bounds[1:], strict=False)]
    specs = draw(
        st.lists(
            st.builds(
                Spec,
                category=st.integers(min_value=0, max_value=n_categories - 1),
                weight=st.decimals(
                    min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2
                ),
                percent=st.decimals(min_value=0, max_value=100, places=2),
                status=st.sampled_from(list(Status)),
                in_emea=st.booleans(),
                start=st.integers(min_value=-120, max_value=60),
                length=st.integers(min_value=0, max_value=200),
            ),
            max_size=8,
        )
    )
    return weights, specs


def expected(weights: list[Decimal], specs: list[Spec], figure) -> tuple:
    """(per-category figures, overall) by DESIGN.md: category = weight-averaged
    milestone figure over non-cancelled milestones (0 if none); overall =
    category-weight-averaged category figures."""
    per_category = []
    for index in range(len(weights)):
        rows = [
            s for s in specs if s.category == index and s.status != Status.CANCELLED
        ]
        total = sum((s.weight for s in rows), Decimal(0))
        weighted = sum((s.weight * figure(s) for s in rows), Decimal(0))
        per_category.append(weighted / total if rows else Decimal(0))
    overall = sum(
        (w * p for w, p in zip(weights, per_category, strict=True)), Decimal(0)
    ) / sum(weights)
    return per_category, overall


def close(actual: Decimal, wanted: Decimal) -> bool:
    return abs(actual - wanted) <= TOLERANCE


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=plans())
def test_weighted_progress_matches_the_design_formula(
    plan, org, superuser, contributor_emea
):
    weights, specs = plan
    portfolio = make_portfolio(
        org.world,
        categories=[(f"C{i}", w, "") for i, w in enumerate(weights)],
    )
    categories = list(portfolio.categories.order_by("order"))
    for spec in specs:
        start = TODAY + timedelta(days=spec.start)
        make_milestone(
            portfolio,
            org.fr if spec.in_emea else org.jp,
            category=categories[spec.category],
            weight=spec.weight,
            percent_complete=spec.percent,
            status=spec.status,
            planned_start=start,
            planned_completion=start + timedelta(days=spec.length),
        )

    for user, visible in (
        (superuser, specs),
        (contributor_emea, [s for s in specs if s.in_emea]),
    ):
        rows = category_progress(user, portfolio, today=TODAY)
        result = portfolio_progress(user, portfolio, today=TODAY)
        for attribute, figure in (
            ("progress", lambda s: s.percent),
            ("planned_progress", lambda s: s.planned_share),
        ):
            per_category, overall = expected(weights, visible, figure)
            actual = getattr(result, attribute)
            assert Decimal(0) <= actual <= HUNDRED
            assert close(actual, overall), (attribute, actual, overall)
            if not visible and not user.is_superuser:
                # Seeing none of its milestones, the user cannot see the
                # portfolio's categories either.
                assert rows == []
                continue
            assert len(rows) == len(per_category)
            for row, wanted in zip(rows, per_category, strict=True):
                value = getattr(row, attribute)
                assert Decimal(0) <= value <= HUNDRED
                assert close(value, wanted), (attribute, row.name, value, wanted)
