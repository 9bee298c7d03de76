"""Validators shared by every app's models (so forms, the API, the admin,
imports and services all apply them)."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone


def plausible_date(value: date | None) -> None:
    """A date within ``DATE_WINDOW_YEARS`` (default 25) of today, either way:
    a plan, forecast or measurement outside it is a typing mistake (a
    forecast of 9999-12-31 once broke every page of its portfolio)."""
    if value is None:
        return
    years = getattr(settings, "DATE_WINDOW_YEARS", 25)
    today = timezone.localdate()
    try:
        earliest = today.replace(year=today.year - years)
        latest = today.replace(year=today.year + years)
    except ValueError:  # 29 February
        earliest = today.replace(year=today.year - years, day=28)
        latest = today.replace(year=today.year + years, day=28)
    if not earliest <= value <= latest:
        raise ValidationError(
            "Enter a date between %(earliest)s and %(latest)s.",
            code="implausible_date",
            params={"earliest": earliest.isoformat(), "latest": latest.isoformat()},
        )
