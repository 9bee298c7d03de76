"""Pages of the compliance history browser, mounted at ``/audit/``."""

from django.urls import path, register_converter

from . import audit_views


class ModelLabelConverter:
    """``app_label.model_name`` in lower case (``milestones.milestone``)."""

    regex = r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ModelLabelConverter, "model_label")

app_name = "audit"
urlpatterns = [
    path("", audit_views.trail_view, name="trail"),
    path("export.csv", audit_views.export_view, name="export"),
    path(
        "as-of/milestones/<int:pk>/",
        audit_views.milestone_as_of,
        name="milestone_as_of",
    ),
    path(
        "as-of/portfolios/<slug:slug>/",
        audit_views.portfolio_as_of,
        name="portfolio_as_of",
    ),
    path("<model_label:model>/<int:pk>/", audit_views.object_view, name="object"),
]
