"""The FilterSet every list filter derives from (pages and API share them).

Query parameters are input like any other: a date or time outside a plausible
window, or a time-zone offset no place on Earth uses, is a field error (400
in the API, the form again on a page), never a query the database refuses or
a date computation that overflows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import django_filters as filters
from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest

# The window a date or time in a query may fall in. Wide: a filter narrows a
# list, it stores nothing; it only has to stay computable.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2199, 12, 31)
# UTC-12:00 (Baker Island) to UTC+14:00 (Line Islands).
MIN_OFFSET = dt.timedelta(hours=-12)
MAX_OFFSET = dt.timedelta(hours=14)
# Numbers in queries fit the database's 64-bit integers (ids, counts).
BIGGEST = 2**63 - 1
# "Due within N days" and the like: about a century.
MAX_DAYS = 36_600


def scoped_choice(
    queryset: Callable[[HttpRequest | None], QuerySet[Any, Any]], **kwargs: Any
) -> filters.ModelChoiceFilter:
    """A ModelChoiceFilter whose choices are ``queryset(request)``: the rows
    the requesting user may see. django-filter accepts a callable here; its
    stubs only a QuerySet, hence the one ignore."""
    return filters.ModelChoiceFilter(queryset=queryset, **kwargs)  # type: ignore[arg-type]


def offset_error(value) -> str | None:
    """The error for a datetime whose time-zone offset no place uses (the
    database refuses e.g. -17:32), or None."""
    offset = value.utcoffset() if isinstance(value, dt.datetime) else None
    if offset is not None and not MIN_OFFSET <= offset <= MAX_OFFSET:
        return "The time-zone offset must be between -12:00 and +14:00."
    return None


def check_plausible(value) -> str | None:
    """The error for a date/datetime outside the window, or None."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        if not -BIGGEST <= value <= BIGGEST:
            return f"Enter a number between {-BIGGEST} and {BIGGEST}."
        return None
    if isinstance(value, dt.datetime):
        error = offset_error(value)
        if error:
            return error
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        return None
    if not EARLIEST <= day <= LATEST:
        return f"Enter a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}."
    return None


class PlausibleFilterForm(forms.Form):
    """Refuses dates, times and offsets outside the plausible window."""

    def clean(self):
        cleaned = super().clean()
        for name, value in list(cleaned.items()):
            values = value if isinstance(value, list | tuple | slice) else [value]
            if isinstance(value, slice):  # range filters
                values = [value.start, value.stop]
            for item in values:
                error = check_plausible(item)
                if error:
                    self.add_error(name, error)
                    break
        return cleaned


class FilterSet(filters.FilterSet):
    """django-filter's FilterSet with plausible dates, times, offsets and
    numbers (a subclass's own ``Meta.form`` keeps these checks).

    ``given_only=True`` builds form fields only for the filters the data
    names (the API validates its filters and never renders them): a related
    filter's field builds a queryset restricted by the access policy, which
    costs as much as the list itself when nobody asked for that filter. An
    absent filter is ``None`` either way, so the rows and the errors are the
    same.
    """

    def __init__(self, *args, given_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.given_only = given_only

    def _named_in_data(self, name: str) -> bool:
        # Multi-value widgets name their parts ``<name>_<suffix>``.
        return any(key == name or key.startswith(f"{name}_") for key in self.data or {})

    def get_form_class(self):
        if self.given_only and self.is_bound and not self.form_prefix:
            fields = {
                name: filter_.field
                for name, filter_ in self.filters.items()
                if self._named_in_data(name)
            }
            form = type(f"{type(self).__name__}Form", (self._meta.form,), fields)
        else:
            form = super().get_form_class()
        if not issubclass(form, PlausibleFilterForm):
            form = type(form.__name__, (PlausibleFilterForm, form), {})
        return form


def DaysFilter(**kwargs) -> filters.NumberFilter:  # noqa: N802 - a filter factory
    """A whole number of days from 0 to about a century."""
    kwargs.setdefault("min_value", 0)
    kwargs.setdefault("max_value", MAX_DAYS)
    return filters.NumberFilter(**kwargs)
