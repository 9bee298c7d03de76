"""Helpers of the API tests (plain functions, imported by the API test modules;
pytest does not load this module as a conftest)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import api_token_create, api_token_touch

API = "/api/v1"


def client_for(user=None) -> APIClient:
    """An API client authenticated with ``user``'s token (anonymous if None)."""
    client = APIClient()
    if user is not None:
        token, secret = api_token_create(user=user, name="test client")
        # As if already used once: the once-a-minute "last used" write would
        # otherwise add a query to the first request of a query-count test.
        api_token_touch(token)
        client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def snapshot(obj) -> dict[str, Any]:
    """Every concrete field of ``obj`` as stored now (re-read from the DB)."""
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}


def count_queries(call) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as ctx:
        result = call()
    return len(ctx.captured_queries), result
