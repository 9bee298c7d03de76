from django.urls import path

from . import views

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="auth-token"),
    path("auth/tokens/", views.TokenListView.as_view(), name="auth-token-list"),
    path(
        "auth/tokens/<int:pk>/",
        views.TokenDetailView.as_view(),
        name="auth-token-detail",
    ),
]
