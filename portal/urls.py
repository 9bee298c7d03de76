"""Root URLs. Each app contributes its pages and its API routes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import forms as accounts_forms
from accounts import views as accounts_views

from . import api_docs, metrics, views

admin.site.site_header = "Cairn"
admin.site.site_title = "Cairn"
admin.site.index_title = "Administration"
admin.site.login_form = accounts_forms.AdminSignInForm

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("milestones.api.urls")),
    path("", include("approvals.api.urls")),
    path("", include("scheduling.urls")),
    path("", include("risks.api.urls")),
    path("", include("reporting.api.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("csp-report/", views.csp_report, name="csp-report"),
    path(
        "accounts/login/",
        accounts_views.LoginView.as_view(authentication_form=accounts_forms.SignInForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        accounts_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        accounts_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("notifications/", include("portal.notifications.urls")),
    path("audit/", include("reporting.audit_urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", api_docs.SchemaView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        api_docs.DocsView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("", include("milestones.urls")),
    path("", include("approvals.urls")),
    path("", include("risks.urls")),
    path("", include("reporting.urls")),
]

# The API answers its errors as JSON, pages keep Django's; an unreachable
# database answers 503 (portal.error_views).
handler400 = "portal.error_views.bad_request"
handler403 = "portal.error_views.permission_denied"
handler404 = "portal.error_views.page_not_found"
handler500 = "portal.error_views.server_error"
