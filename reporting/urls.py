"""Pages of the reporting app: the dashboard at ``/`` and everything under it."""

from django.urls import path, register_converter

from . import views


class ExportTableConverter:
    regex = "scorecard|milestones"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class ExportFormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ExportTableConverter, "export_table")
register_converter(ExportFormatConverter, "export_format")

app_name = "reporting"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("portfolios/<slug:slug>/", views.portfolio, name="portfolio"),
    path("portfolios/<slug:slug>/schedule/", views.schedule, name="schedule"),
    path(
        "portfolios/<slug:slug>/categories/<int:pk>/",
        views.category,
        name="category",
    ),
    path(
        "portfolios/<slug:slug>/milestones/<int:pk>/",
        views.milestone,
        name="milestone",
    ),
    path("reports/archive/", views.archive, name="archive"),
    path(
        "reports/archive/<int:pk>/download/",
        views.archive_download,
        name="archive_download",
    ),
    path(
        "reports/<slug:slug>/executive/",
        views.executive_preview,
        name="executive_preview",
    ),
    path(
        "reports/<slug:slug>/executive.pdf",
        views.executive_pdf,
        name="executive_pdf",
    ),
    path(
        "reports/<slug:slug>/<export_table:table>.<export_format:fmt>",
        views.export,
        name="export",
    ),
]
