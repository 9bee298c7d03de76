"""Contributor pages of the milestones app (the API lives in ``api/urls.py``)."""

from django.urls import path

from . import views

app_name = "milestones"
urlpatterns = [
    path("milestones/mine/", views.mine, name="mine"),
    path("milestones/quick-update/", views.quick_update, name="quick_update"),
    path("milestones/<int:pk>/update/", views.update, name="update"),
    path("milestones/updates/<int:pk>/evidence/", views.evidence, name="evidence"),
]
