"""Exports of the scorecard and the milestone list, as CSV and XLSX.

The rows come from ``milestones.selectors`` (``scorecard`` and
``milestone_list``), read as the requesting user: an export never holds more
than the dashboard shows them. Text cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) are
prefixed with an apostrophe (``portal.spreadsheet.neutralise``, shared with the
admin's export).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from milestones import selectors as ms
from milestones.models import Portfolio
from portal.spreadsheet import neutralise

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

SCORECARD_COLUMNS = (
    "Milestone category",
    "Weight (%)",
    "Status",
    "Progress (%)",
    "Risk level",
    "Business impact",
)
MILESTONE_COLUMNS = (
    "ID",
    "Code",
    "Milestone",
    "Category",
    "Org unit",
    "Owner",
    "Status",
    "Percent complete",
    "Planned start",
    "Planned completion",
    "Forecast completion",
    "Actual completion",
    "Delay (days)",
    "Approved budget",
    "Actual spend",
    "Estimate at completion",
    "Budget overrun (%)",
    "Business impact",
)


@dataclass(frozen=True)
class Table:
    """An export: its name, sheet title, column headings and rows."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: Iterable[tuple]


def scorecard_table(user, portfolio: Portfolio) -> Table:
    rows = [
        (
            row.category.name,
            row.weight,
            row.status_label,
            row.progress,
            row.risk_label,
            row.business_impact,
        )
        for row in ms.scorecard(user, portfolio)
    ]
    return Table("scorecard", "Scorecard", SCORECARD_COLUMNS, rows)


def _milestone_rows(user, portfolio: Portfolio) -> Iterator[tuple]:
    queryset = ms.milestone_list(user, portfolio=portfolio).order_by(
        "planned_completion", "name", "id"
    )
    # Chunks keep a large portfolio out of memory (select_related still applies).
    # Typed loosely: the rows carry with_figures' annotations (delay_days, ...).
    rows: Iterator[Any] = queryset.iterator(chunk_size=1000)
    for m in rows:
        owner = (m.owner.get_full_name() or m.owner.username) if m.owner else ""
        yield (
            m.id,
            m.code,
            m.name,
            m.category.name,
            m.org_unit.name,
            owner,
            m.get_status_display(),
            m.percent_complete,
            m.planned_start,
            m.planned_completion,
            m.forecast_completion,
            m.actual_completion,
            m.delay_days,
            m.approved_budget,
            m.actual_spend,
            m.estimate_at_completion,
            m.budget_overrun_pct,
            m.business_impact,
        )


def milestone_table(user, portfolio: Portfolio) -> Table:
    return Table(
        "milestones", "Milestones", MILESTONE_COLUMNS, _milestone_rows(user, portfolio)
    )


_safe = neutralise  # text a spreadsheet would run as a formula, made inert


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return _safe(value)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(table: Table) -> Iterator[str]:
    """The table as CSV lines (a UTF-8 BOM first, for spreadsheet programs)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(table.columns)
    for row in table.rows:
        yield writer.writerow([_csv_value(v) for v in row])


def xlsx_bytes(table: Table) -> bytes:
    """The table as an XLSX workbook of one sheet (write-only, streaming)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.title)
    bold = Font(bold=True)
    header = []
    for title in table.columns:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([float(v) if isinstance(v, Decimal) else _safe(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
