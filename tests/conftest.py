"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from accounts.roles import Role

from .factories import PASSWORD, build_org, make_member, make_milestone, make_portfolio


@pytest.fixture(scope="session", autouse=True)
def _flush_permitted():
    """Transactional tests are cleaned up by ``flush`` (TRUNCATE), which the
    audit tables refuse on PostgreSQL; the harness lifts that for the flush
    only (``portal.audit.flush_permitted``)."""
    from portal.audit import flush_permitted

    with flush_permitted():
        yield


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Hashing a password properly costs ~0.5 s; tests need no such strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache: memo keys are built from ids,
    which a rolled-back test database hands out again."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org(db):
    return build_org()


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def portfolio(org):
    return make_portfolio(org.world, slug="ai-transformation", name="AI Transformation")


@pytest.fixture
def member():
    """``member(role, scope, **user_fields)`` -> a user with that membership."""
    return make_member


@pytest.fixture
def milestone_in(portfolio):
    """``milestone_in(org_unit, **fields)`` -> a milestone of ``portfolio``."""

    def build(org_unit, **fields):
        return make_milestone(portfolio, org_unit, **fields)

    return build


@pytest.fixture
def superuser(db):
    from .factories import UserFactory

    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def contributor_emea(org):
    return make_member(Role.CONTRIBUTOR, org.emea, username="contributor-emea")


@pytest.fixture
def contributor_apac(org):
    return make_member(Role.CONTRIBUTOR, org.apac, username="contributor-apac")


@pytest.fixture
def pmo(org):
    return make_member(Role.PORTFOLIO_MANAGER, org.world, username="pmo")


@pytest.fixture
def executive(org):
    return make_member(
        Role.EXECUTIVE, org.world, username="exec", authority_limit=500000
    )


@pytest.fixture
def auditor(org):
    return make_member(Role.COMPLIANCE_AUDITOR, org.world, username="auditor")
