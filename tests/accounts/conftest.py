"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest

from ..factories import make_milestone, make_portfolio


@pytest.fixture
def scoped(org):
    """Objects on both sides of the EMEA boundary, in two portfolios.

    ``emea_*`` lie inside ``org.emea`` (France), ``jp_*`` outside it (Japan).
    """
    emea_portfolio = make_portfolio(org.fr, slug="emea-portfolio", name="EMEA")
    jp_portfolio = make_portfolio(org.jp, slug="jp-portfolio", name="Japan")
    return {
        "emea_portfolio": emea_portfolio,
        "jp_portfolio": jp_portfolio,
        "emea_milestone": make_milestone(emea_portfolio, org.fr, name="FR rollout"),
        "jp_milestone": make_milestone(jp_portfolio, org.jp, name="JP rollout"),
    }
