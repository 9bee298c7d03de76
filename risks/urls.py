"""Pages of the risks app (mounted at the root)."""

from django.urls import path

from . import views

app_name = "risks"
urlpatterns = [
    path("escalations/", views.escalation_list, name="escalations"),
    path(
        "escalations/<int:pk>/acknowledge/",
        views.escalation_acknowledge,
        name="escalation_acknowledge",
    ),
    path(
        "escalations/<int:pk>/assign/",
        views.escalation_assign,
        name="escalation_assign",
    ),
]
