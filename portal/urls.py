"""Root URLs. Each app contributes its pages and its API routes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import metrics, views

admin.site.site_header = "Cairn"
admin.site.site_title = "Cairn"
admin.site.index_title = "Administration"

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("milestones.api.urls")),
    path("", include("risks.api.urls")),
    path("", include("reporting.api.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("notifications/", include("portal.notifications.urls")),
    path("audit/", include("reporting.audit_urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("", include("milestones.urls")),
    path("", include("milestones.approval_urls")),
    path("", include("reporting.urls")),
]

# The API answers its errors as JSON, pages keep Django's; an unreachable
# database answers 503 (portal.error_views).
handler400 = "portal.error_views.bad_request"
handler403 = "portal.error_views.permission_denied"
handler404 = "portal.error_views.page_not_found"
handler500 = "portal.error_views.server_error"
