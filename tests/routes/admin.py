"""The Django admin site itself and the third-party admins.

Each app declares its own admin models (``tests/routes/<app>.py``).
"""

from accounts.roles import Role

from . import AdminModel, Public, Staff

SUPERUSER_ONLY = "System configuration: superuser only, no role holds its permissions."


ROUTES = {
    "admin:index": Staff(),
    "admin:login": Public(no_role=200, note="A non-staff user sees the form again."),
    "admin:logout": Staff(method="post", status=302, note="Ends on the login page."),
    "admin:password_change": Staff(),
    "admin:password_change_done": Staff(),
    "admin:jsi18n": Staff(),
    "admin:app_list": Staff(kwargs={"app_label": "milestones"}),
    "admin:view_on_site": Staff(status=404, note="Dummy ids name no object."),
    "admin:autocomplete": Staff(
        query={
            "app_label": "accounts",
            "model_name": "membership",
            "field_name": "org_unit",
        },
        roles=(Role.PORTFOLIO_MANAGER, Role.EXECUTIVE, Role.COMPLIANCE_AUDITOR),
        note="Needs view permission on the target model (org units here).",
    ),
    # Third-party admins, left unrestricted because only superusers reach them.
    "admin:auth_group_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:axes_accessattempt_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:axes_accesslog_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:axes_accessfailurelog_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:django_celery_beat_periodictask_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:django_celery_beat_clockedschedule_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:django_celery_beat_crontabschedule_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:django_celery_beat_solarschedule_*": AdminModel(exception=SUPERUSER_ONLY),
    "admin:django_celery_beat_intervalschedule_*": AdminModel(exception=SUPERUSER_ONLY),
}
