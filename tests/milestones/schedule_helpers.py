"""Builders shared by the schedule tests (a plain module, not a conftest).

:func:`build_network` plans five milestones linked by all four dependency
types with lags, through the real services, on fixed future dates; the
schedule they must get was computed by hand (:data:`EXPECTED`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from milestones import services
from milestones.models import Milestone

from ..factories import make_milestone

# A Monday well in the future; the status date is the Wednesday before, so
# nothing has started and every milestone may start on its planned start.
BASE = date(2031, 1, 6)
TODAY = date(2031, 1, 1)


def day(offset: int) -> date:
    return BASE + timedelta(days=offset)


@dataclass
class Network:
    a: Milestone
    b: Milestone
    c: Milestone
    d: Milestone
    e: Milestone

    def by_key(self) -> dict[str, Milestone]:
        return {k: getattr(self, k) for k in "abcde"}


def build_network(portfolio, org, *, d_unit=None) -> Network:
    """Five milestones (day offsets from BASE; [start, finish)):

    - A [0, 10) in France
    - B [12, 17) in France, forecast to finish on day 20; A -FS+2-> B
    - C [3, 7) in Germany; A -SS+3-> C
    - D [5, 11) in ``d_unit`` (France by default); B -FF+1-> D
    - E [0, 2) in Germany; C -SF+10-> E
    """

    def plan(name, unit, start, finish, **fields):
        return make_milestone(
            portfolio,
            unit,
            name=name,
            planned_start=day(start),
            planned_completion=day(finish),
            **fields,
        )

    a = plan("A foundation", org.fr, 0, 10)
    b = plan("B build", org.fr, 12, 17, forecast_completion=day(20))
    c = plan("C design", org.de, 3, 7)
    d = plan("D integration", d_unit or org.fr, 5, 11)
    e = plan("E sign-off", org.de, 0, 2)
    link = services.dependency_add
    link(actor=None, predecessor=a, successor=b, type="FS", lag_days=2)
    link(actor=None, predecessor=a, successor=c, type="SS", lag_days=3)
    link(actor=None, predecessor=b, successor=d, type="FF", lag_days=1)
    link(actor=None, predecessor=c, successor=e, type="SF", lag_days=10)
    return Network(a, b, c, d, e)


# By hand. Forward pass (ES, EF):
#   A (0, 10); B: ES >= EF(A) + 2 = 12, EF = 12 + 5 = 17, extended by its
#   forecast to 20; C: ES >= ES(A) + 3 = 3, (3, 7); D: EF >= EF(B) + 1 = 21,
#   duration 6, so (15, 21); E: EF >= ES(C) + 10 = 13, duration 2, so (11, 13).
#   Project finish 21.
# Backward pass from 21 (LS, LF):
#   D (15, 21); E (19, 21); B: LF <= LF(D) - 1 = 20, span 8, so (12, 20);
#   C: LF <= LF(E) - 10 + span 4 = 15, so (11, 15);
#   A: LF <= min(LS(B) - 2, LS(C) - 3 + 10) = min(10, 18) = 10, so (0, 10).
# Float LS - ES: A 0, B 0, C 8, D 0, E 8. Critical chain A -> B -> D.
# Slips: inherited = ES - planned start when predecessors set the start;
#   own = EF - planned finish - inherited.
#   A 0/0; B 0/3 (its forecast); C 0/0; D 10/0; E 11/0.
EXPECTED = {
    # key: (es, ef, ls, lf, float, critical, inherited, own)
    "a": (0, 10, 0, 10, 0, True, 0, 0),
    "b": (12, 20, 12, 20, 0, True, 0, 3),
    "c": (3, 7, 11, 15, 8, False, 0, 0),
    "d": (15, 21, 15, 21, 0, True, 10, 0),
    "e": (11, 13, 19, 21, 8, False, 11, 0),
}
# Against the plan (engine ``plan_*``; the schedule page, API and status
# show these): every milestone must finish by its own planned finish (and
# the planned end, day 17, the latest planned finish); deadlines travel back
# through the links like the network's late dates.
#   D: LF 11 (own), span 6, LS 5; E: LF 2 (own), span 2, LS 0;
#   B: LF <= min(17, LF(D) - 1 = 10) = 10, span 8, LS 2;
#   C: LF <= min(7, LF(E) - 10 + span 4 = -4) = -4, LS -8;
#   A: LF <= min(10, LS(B) - 2 = 0, LS(C) - 3 + 10 = -1) = -1, LS -11.
# Float LF - EF: A -11, B -10, C -11, D -10, E -11: E finishes 11 days after
# its plan, and A and C drive it; D waits on B, 10 days late.
PLAN = {
    # key: (ls, lf, float)
    "a": (-11, -1, -11),
    "b": (2, 10, -10),
    "c": (-8, -4, -11),
    "d": (5, 11, -10),
    "e": (0, 2, -11),
}
PROJECT_FINISH = day(21)
CRITICAL_CHAIN = ["a", "b", "d"]


def submit_forecasts(actor, milestone: Milestone, forecasts: list[date]) -> None:
    """One not-started progress report per forecast, by ``actor`` (a report
    needs an author); the milestone's actual dates stay unset."""
    for forecast in forecasts:
        milestone.refresh_from_db()
        services.milestone_submit_update(
            actor=actor,
            milestone=milestone,
            expected_version=milestone.version,
            status="not_started",
            percent_complete=Decimal("0"),
            actual_spend=Decimal("0"),
            forecast_completion=forecast,
        )
