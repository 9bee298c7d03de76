"""API v1 routes of the reporting app (mounted under ``/api/v1/``)."""

from django.urls import path

from . import views

urlpatterns = [
    path("history/", views.HistoryView.as_view(), name="history-list"),
    path(
        "portfolios/<slug:slug>/status/",
        views.PortfolioStatusView.as_view(),
        name="portfolio-status",
    ),
]
