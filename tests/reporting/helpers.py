"""Helpers of the reporting tests."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from pypdf import PdfReader


def pdf_text(content: bytes) -> str:
    """All the text of a PDF, whitespace collapsed to single spaces."""
    assert content.startswith(b"%PDF"), content[:40]
    reader = PdfReader(io.BytesIO(content))
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def pdf_pages(content: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(content))
    return [re.sub(r"\s+", " ", page.extract_text() or "") for page in reader.pages]


def backdate_history(days: int) -> None:
    """Move every history row written so far ``days`` into the past, as if
    the current state had been recorded then (and the progress reports
    submitted then). Test arrangement only: history is append-only for users,
    and on PostgreSQL its triggers refuse the UPDATE outside
    ``history_rewrite_allowed`` (the rewritten rows no longer match the audit
    chain, which these tests do not verify).
    """
    from django.apps import apps
    from django.db.models import F

    from milestones.models import ProgressUpdate
    from portal.audit import history_rewrite_allowed

    shift = timedelta(days=days)
    with history_rewrite_allowed():
        for model in apps.get_models():
            if model.__name__.startswith("Historical") and hasattr(
                model, "history_date"
            ):
                model.objects.update(history_date=F("history_date") - shift)
    ProgressUpdate.objects.update(submitted_at=F("submitted_at") - shift)
