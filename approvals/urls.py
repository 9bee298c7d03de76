"""Pages of the approvals flow (the API lives in ``api/``)."""

from django.urls import path

from . import views

app_name = "approvals"
urlpatterns = [
    path("approvals/", views.queue, name="queue"),
    path("approvals/<int:pk>/", views.detail, name="detail"),
    path("approvals/<int:pk>/decide/", views.decide, name="decide"),
    path("approvals/<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("milestones/<int:pk>/request/", views.request_change, name="request"),
]
