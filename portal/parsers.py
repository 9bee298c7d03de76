"""Input that PostgreSQL refuses outright: a NUL character (``\\x00``) in
a string. The API's parsers and `portal.middleware.RejectNulMiddleware`
answer 400 naming the fields instead.

Kept apart from `portal.api`: DRF reads ``DEFAULT_PARSER_CLASSES`` while
`rest_framework.views` is imported, so this module must not import it.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

NUL_MESSAGE = "Null characters are not allowed."


def nul_errors(data, path: str = "") -> dict[str, list[str]]:
    """Field errors for every key or string value of parsed input that holds
    a NUL character (PostgreSQL cannot store or compare one)."""
    errors: dict[str, list[str]] = {}
    if isinstance(data, dict) or hasattr(data, "lists"):
        items = data.lists() if hasattr(data, "lists") else data.items()
        for key, value in items:
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                errors[name.replace("\x00", "\\u0000")] = [NUL_MESSAGE]
                continue
            errors.update(nul_errors(value, name))
    elif isinstance(data, list | tuple):
        # The values of one field (a repeated form key, a JSON list).
        for value in data:
            errors.update(nul_errors(value, path))
    elif isinstance(data, str) and "\x00" in data:
        errors[path or api_settings.NON_FIELD_ERRORS_KEY] = [NUL_MESSAGE]
    return errors


class _RejectNulMixin:
    """Refuse a body with a NUL anywhere, naming the fields (400), before any
    of it reaches a serializer, a lookup or the database."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        data = getattr(parsed, "data", parsed)  # multipart: DataAndFiles
        errors = nul_errors(data)
        if errors:
            raise ValidationError(errors)
        return parsed


class JSONParser(_RejectNulMixin, parsers.JSONParser):
    pass


class FormParser(_RejectNulMixin, parsers.FormParser):
    pass


class MultiPartParser(_RejectNulMixin, parsers.MultiPartParser):
    pass
