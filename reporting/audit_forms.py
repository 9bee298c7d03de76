"""The audit trail's filters, shared by the page, the CSV export and the API."""

from __future__ import annotations

from datetime import date, datetime

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts import policy
from accounts.roles import VIEW
from milestones.models import Portfolio

from . import trail

MODEL_ERROR = "Choose a model to filter by object."


class TrailFilterForm(forms.Form):
    """``since``/``until`` (dates, inclusive), ``user`` (username),
    ``portfolio`` (slug), ``model`` (``app.model`` or ``access``), ``object``
    (an id of that model), ``field`` (a field name: entries where it
    changed), ``after`` (the cursor of the next page). Users and portfolios
    are looked up within the reader's scope."""

    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    user = forms.CharField(required=False, max_length=150, label="User")
    portfolio = forms.CharField(required=False, max_length=60, label="Portfolio")
    model = forms.ChoiceField(required=False, label="Model")
    object = forms.IntegerField(required=False, min_value=1, label="Object id")
    field = forms.CharField(required=False, max_length=100, label="Field")
    after = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def __init__(self, data=None, *, reader, **kwargs):
        super().__init__(data, **kwargs)
        self.reader = reader
        self.fields["model"].choices = [("", "All"), *trail.model_choices()]

    def clean_user(self):
        username = self.cleaned_data["user"].strip()
        if not username:
            return None
        users = get_user_model()._default_manager.filter(username=username)
        user = policy.restrict(users, self.reader, VIEW).first()
        if user is None:
            raise forms.ValidationError(f"No user {username!r} in your scope.")
        return user

    def clean_portfolio(self):
        slug = self.cleaned_data["portfolio"].strip()
        if not slug:
            return None
        portfolios = Portfolio.objects.filter(slug=slug)
        portfolio = policy.restrict(portfolios, self.reader, VIEW).first()
        if portfolio is None:
            raise forms.ValidationError(f"No portfolio {slug!r} in your scope.")
        return portfolio

    def clean_after(self):
        text = self.cleaned_data["after"].strip()
        if not text:
            return None
        try:
            return trail.Cursor.parse(text)
        except ValueError as exc:
            raise forms.ValidationError(
                "Not a page cursor: follow the trail's links."
            ) from exc

    def clean_field(self):
        return self.cleaned_data["field"].strip()

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        if since and since > timezone.localdate():
            self.add_error("since", "This date is in the future.")
        model = cleaned.get("model") or ""
        if cleaned.get("object") is not None and model in ("", trail.ACCESS):
            self.add_error("object", MODEL_ERROR)
        name = cleaned.get("field") or ""
        if name:
            if model == trail.ACCESS:
                self.add_error("field", "Access events have no fields.")
            elif model:
                source = trail.tracked_sources().get(model)
                if source is None or name not in trail.tracked_fields(source):
                    self.add_error("field", f"{model} has no field {name!r}.")
            elif name not in trail.field_names():
                self.add_error("field", f"No tracked model has a field {name!r}.")
        return cleaned

    def filters(self) -> trail.TrailFilters:
        data = self.cleaned_data
        return trail.TrailFilters(
            since=data.get("since"),
            until=data.get("until"),
            user=data.get("user"),
            portfolio=data.get("portfolio"),
            model=data.get("model") or "",
            object_id=data.get("object"),
            field=data.get("field") or "",
        )

    def errors_dict(self) -> dict[str, list[str]]:
        return {
            name: [str(m) for m in messages] for name, messages in self.errors.items()
        }


class MomentForm(forms.Form):
    """``?at=YYYY-MM-DD`` (the end of that day) or ``YYYY-MM-DDTHH:MM[:SS]``;
    empty means now. Never in the future."""

    at = forms.CharField(required=False, max_length=40, label="As of")

    def clean_at(self) -> datetime:
        raw = self.cleaned_data["at"].strip()
        now = timezone.now()
        if not raw:
            return now
        try:
            if len(raw) == len("YYYY-MM-DD"):
                day = date.fromisoformat(raw)
                if day == timezone.localdate():
                    return now
                moment = trail.moment_of(day)
            else:
                moment = datetime.fromisoformat(raw)
                if timezone.is_naive(moment):
                    moment = timezone.make_aware(moment)
        except ValueError as exc:
            raise forms.ValidationError(
                f"Give a date as YYYY-MM-DD or a time as YYYY-MM-DDTHH:MM, not {raw!r}."
            ) from exc
        if moment > now:
            raise forms.ValidationError("This moment is in the future.")
        return moment
