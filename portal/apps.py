from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        from . import audit

        # History rows and access events are chained into the audit trail.
        audit.connect_receivers()
